import type { QueueStrategy } from '../../../common/src/db/schema';

/**
 * Who takes which waiting caller: pure, so the rules test without a database. The
 * dispatcher (dispatcher.ts) reads the queue's agents and head entries under the
 * queue's advisory lock, asks {@link assign}, and writes the offers it returns.
 *
 * - ring_all: the head caller rings every free SIP agent at once (one ring-all at a
 *   time per queue: the agents ringing for it are busy for the others).
 * - round_robin: agents in `position` order, starting after the one offered a call
 *   last (`last_offered_at`), so offers alternate even when one is not answered.
 * - least_recent: the agent whose last queue call ended longest ago first
 *   (`last_ended_at`, never first), then `position`.
 * AI agents (an AI route, or a number's own AI) take callers up to their free seats.
 */

export type AgentKind = 'sip_user' | 'ai' | 'number';

export interface AgentView {
  /** queue_entries.agent: `sip_user:<name>`, `ai:<route>` or `number:+E164`. */
  readonly label: string;
  /** queue_agents.id; null for an implicit agent (an AI route or a number whose overflow queue this is). */
  readonly id: number | null;
  readonly kind: AgentKind;
  readonly position: number;
  /** ms since the epoch; null: never. */
  lastOfferedAt: number | null;
  readonly lastEndedAt: number | null;
  /** Callers it can take now: 0 or 1 for a person, its free seats for an AI (Infinity: no limit). */
  free: number;
  /** A number's AI serves only the callers who dialled that number (E.164). */
  readonly onlyCalled?: string;
}

export interface WaitingView {
  readonly id: string;
  /** The number the caller dialled, E.164 (queue_entries.called with a '+'). */
  readonly called: string;
}

export interface Assignment {
  readonly entry: string;
  /** One agent, or (ring all) every SIP agent that rings at once. */
  readonly agents: readonly AgentView[];
  readonly ringAll: boolean;
}

/** The agents in the order `strategy` tries them. */
export function orderAgents(strategy: QueueStrategy, agents: readonly AgentView[]): AgentView[] {
  const byPosition = [...agents].sort((a, b) => a.position - b.position || (a.id ?? 0) - (b.id ?? 0));
  if (strategy === 'least_recent')
    return byPosition.sort((a, b) => (a.lastEndedAt ?? -Infinity) - (b.lastEndedAt ?? -Infinity));
  if (strategy !== 'round_robin') return byPosition;
  let last = -1;
  let lastAt = -Infinity;
  byPosition.forEach((a, i) => {
    if (a.lastOfferedAt !== null && a.lastOfferedAt >= lastAt) {
      lastAt = a.lastOfferedAt;
      last = i;
    }
  });
  return [...byPosition.slice(last + 1), ...byPosition.slice(0, last + 1)];
}

/**
 * Matches the head of the queue (already in order: priority, then position) with free
 * agents. An entry no agent can take is passed over: the next may still be served
 * (a number's own AI takes only that number's callers), never one of a lower priority
 * by an agent the first could have had.
 */
export function assign(
  strategy: QueueStrategy,
  entries: readonly WaitingView[],
  agents: AgentView[],
  opts: { readonly now: number; readonly ringAllInProgress: boolean },
): Assignment[] {
  const out: Assignment[] = [];
  let ringAllBusy = opts.ringAllInProgress;
  let tick = opts.now;
  for (const entry of entries) {
    const usable = (a: AgentView): boolean =>
      a.free > 0 && (a.onlyCalled === undefined || a.onlyCalled === entry.called);
    const ordered = orderAgents(strategy, agents).filter(usable);
    if (strategy === 'ring_all' && !ringAllBusy) {
      const people = ordered.filter((a) => a.kind === 'sip_user');
      if (people.length > 0) {
        for (const a of people) a.free = 0;
        ringAllBusy = true;
        out.push({ entry: entry.id, agents: people, ringAll: true });
        continue;
      }
    }
    const pick = ordered.find((a) => a.kind !== 'sip_user' || strategy !== 'ring_all');
    if (!pick) continue;
    pick.free -= 1;
    // Later offers of this round rotate past it, as if a moment later.
    pick.lastOfferedAt = ++tick;
    out.push({ entry: entry.id, agents: [pick], ringAll: false });
  }
  return out;
}
