/**
 * Lifecycle of one call's AI stream.
 *
 *   idle ──start()──► connecting ──accepted──► open ──socket lost──► reconnecting
 *                        │  ▲                   │                      │   │
 *                        │  └──── backoff timer elapsed ───────────────┘   │
 *                        │                      │ end()                    │ window spent /
 *                        │ failed (first try)   ▼                          │ auth rejected
 *                        └────────────────► closing ──► closed ◄───────────┘
 *
 * `connecting` covers the socket handshake and the AI's acceptance of `auth`; whether
 * it is a first connection or a reconnect is the stream's `attempt`, not a state.
 * Every path ends in `closed`, and `closed` is final.
 */
export type StreamState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed';

const EDGES: Readonly<Record<StreamState, readonly StreamState[]>> = {
  idle: ['connecting', 'closed'],
  connecting: ['open', 'reconnecting', 'closing', 'closed'],
  open: ['reconnecting', 'closing', 'closed'],
  reconnecting: ['connecting', 'closed'],
  closing: ['closed'],
  closed: [],
};

/** The one place a stream changes state; an illegal edge is a programming error. */
export function transition(from: StreamState, to: StreamState): StreamState {
  if (!EDGES[from].includes(to)) throw new TypeError(`illegal AI stream transition ${from} → ${to}`);
  return to;
}
