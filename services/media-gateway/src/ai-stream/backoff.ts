/** When to try the AI platform again after the socket dropped mid-call. */
export interface ReconnectPolicy {
  /** give up (event 'down') once the AI has been unreachable this long */
  readonly maxDownMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Exponential backoff with "equal jitter": the ceiling doubles per attempt up to
 * maxDelayMs and the delay is drawn from [ceiling/2, ceiling), so many gateways that
 * lost the same AI replica do not all come back in the same millisecond, yet none
 * waits less than half the ceiling.
 */
export function backoffDelay(attempt: number, policy: ReconnectPolicy, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new TypeError('attempt is 1-based');
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Delay before reconnect attempt `attempt`, given how long the AI has been down, or
 * null when the window is spent. When the backoff would overshoot the window, the
 * attempt is moved up to half of what is left (so it still has time to connect);
 * once less than one initial delay is left, it is over. Every path shrinks what is
 * left, so attempts are finite even when each fails at once.
 */
export function nextReconnectDelay(
  attempt: number,
  downForMs: number,
  policy: ReconnectPolicy,
  random: () => number = Math.random,
): number | null {
  const remaining = policy.maxDownMs - downForMs;
  if (remaining <= 0) return null;
  const delay = backoffDelay(attempt, policy, random);
  if (delay < remaining) return delay;
  return remaining > policy.initialDelayMs ? Math.floor(remaining / 2) : null;
}
