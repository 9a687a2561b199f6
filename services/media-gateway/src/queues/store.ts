import { sql, type Kysely, type Transaction } from 'kysely';
import type { Action } from '../../../common/src/ivr/menu';
import type { Database, QueueEntryOutcome, QueuePrioritySource, QueueStrategy } from '../../../common/src/db/schema';
import { aiRouteScope, numberScope, QUEUE_CHANNEL, type QueueNotice } from '../../../common/src/queues/events';
import { assign, type AgentView, type Assignment } from './strategy';

/**
 * Queues in PostgreSQL (db/migrations/0053_ivr_queues.sql): a caller's entry, its
 * state, and the dispatch that offers head entries to free agents.
 *
 *   waiting ──dispatch──► offered ──agent answered──► connected ──call ended──► done (answered)
 *      ▲                     │
 *      └──no answer/failed───┘
 *   waiting / offered ──► done (abandoned: the caller hung up; overflow: max wait or
 *   max length; left: the leave digit; moved: an operator; lost: its gateway died)
 *
 * Every transition is one conditional UPDATE (`WHERE state = …`), so two gateways,
 * an operator and the lease sweep racing on an entry agree on who moved it.
 */

export interface QueueConfig {
  readonly name: string;
  readonly strategy: QueueStrategy;
  readonly ringTimeoutSeconds: number;
  readonly wrapUpSeconds: number;
  readonly maxWaitSeconds: number | null;
  readonly maxWaitAction: Action | null;
  readonly maxLength: number | null;
  readonly maxLengthAction: Action | null;
  readonly holdMusic: string | null;
  readonly announcePosition: boolean;
  readonly announceWait: boolean;
  readonly announceIntervalSeconds: number;
  readonly leaveDigit: string | null;
  readonly leaveAction: Action | null;
}

export interface EntryRow {
  readonly id: string;
  readonly queue: string;
  readonly callId: string;
  readonly gateway: string;
  readonly state: 'waiting' | 'offered' | 'connected' | 'done';
  readonly agentId: number | null;
  readonly agent: string | null;
  readonly enqueuedAt: Date;
}

export interface NewEntry {
  readonly queue: string;
  readonly callId: string;
  readonly gateway: string;
  readonly caller: string;
  readonly called: string;
  readonly priority: number;
  readonly source: QueuePrioritySource;
}

/** An offer the dispatch made: the gateway holding `callId` connects it. */
export interface Offer {
  readonly entry: string;
  readonly gateway: string;
  readonly callId: string;
  readonly agent: string;
}

/** Agent label of a ring-all offer: every free SIP agent of the queue rings. */
export const RING_ALL = 'ring_all';

type Db = Kysely<Database> | Transaction<Database>;

/** '+' and digits: how numbers, VIP lists and queue_entries.called compare. */
export function e164(user: string): string | null {
  const digits = user.startsWith('+') ? user.slice(1) : user;
  return /^[1-9][0-9]{1,14}$/.test(digits) ? `+${digits}` : null;
}

async function lock(tx: Db, key: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(${key}))`.execute(tx);
}

export async function notify(tx: Db, notice: QueueNotice): Promise<void> {
  await sql`SELECT pg_notify(${QUEUE_CHANNEL}, ${JSON.stringify(notice)})`.execute(tx);
}

export class PgQueueStore {
  constructor(private readonly db: Kysely<Database>) {}

  async queue(name: string): Promise<QueueConfig | null> {
    const q = await this.db.selectFrom('queues').selectAll().where('name', '=', name).executeTakeFirst();
    if (!q) return null;
    return {
      name: q.name,
      strategy: q.strategy,
      ringTimeoutSeconds: q.ring_timeout_seconds,
      wrapUpSeconds: q.wrap_up_seconds,
      maxWaitSeconds: q.max_wait_seconds,
      maxWaitAction: (q.max_wait_action as Action | null) ?? null,
      maxLength: q.max_length,
      maxLengthAction: (q.max_length_action as Action | null) ?? null,
      holdMusic: q.hold_music,
      announcePosition: q.announce_position,
      announceWait: q.announce_wait,
      announceIntervalSeconds: q.announce_interval_seconds,
      leaveDigit: q.leave_digit,
      leaveAction: (q.leave_action as Action | null) ?? null,
    };
  }

  /** The caller's priority in `queue` from the VIP list and the dialled number (the higher wins). */
  async priorityOf(
    queue: string,
    caller: string,
    called: string,
  ): Promise<{ priority: number; source: QueuePrioritySource }> {
    const from = e164(caller);
    const to = e164(called);
    const vip = from
      ? await this.db
          .selectFrom('queue_vips')
          .select('priority')
          .where('queue', '=', queue)
          .where('number', '=', from)
          .executeTakeFirst()
      : undefined;
    const num = to
      ? await this.db.selectFrom('numbers').select('queue_priority').where('number', '=', to).executeTakeFirst()
      : undefined;
    const v = vip?.priority ?? 0;
    const n = num?.queue_priority ?? 0;
    if (v === 0 && n === 0) return { priority: 0, source: 'none' };
    return v >= n ? { priority: v, source: 'vip' } : { priority: n, source: 'number' };
  }

  /**
   * Puts a caller in the queue, or (past max_length waiting) records it as an
   * overflow at once: both under the queue's lock, so two callers arriving together
   * cannot both take the last place.
   */
  async enqueue(
    e: NewEntry,
    maxLength: number | null,
  ): Promise<{ entered: true; entry: EntryRow } | { entered: false }> {
    return this.db.transaction().execute(async (tx) => {
      await lock(tx, `queue:${e.queue}`);
      let full = false;
      if (maxLength !== null) {
        const { n } = await tx
          .selectFrom('queue_entries')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('queue', '=', e.queue)
          .where('state', '=', 'waiting')
          .executeTakeFirstOrThrow();
        full = Number(n) >= maxLength;
      }
      const row = await tx
        .insertInto('queue_entries')
        .values({
          queue: e.queue,
          call_id: e.callId,
          gateway: e.gateway,
          caller: e.caller.slice(0, 64),
          called: e.called.slice(0, 64),
          priority: e.priority,
          priority_source: e.source,
          ...(full ? { state: 'done', outcome: 'overflow', ended_at: sql<Date>`now()` } : {}),
        })
        .returning(['id', 'queue', 'call_id', 'gateway', 'state', 'agent_id', 'agent', 'enqueued_at'])
        .executeTakeFirstOrThrow();
      if (full) return { entered: false };
      await notify(tx, { kind: 'kick', queue: e.queue });
      return { entered: true, entry: toEntry(row) };
    });
  }

  async entry(id: string): Promise<EntryRow | null> {
    const row = await this.db
      .selectFrom('queue_entries')
      .select(['id', 'queue', 'call_id', 'gateway', 'state', 'agent_id', 'agent', 'enqueued_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toEntry(row) : null;
  }

  /** The live entry of a call (after an operator moved it, a new one in another queue). */
  async liveEntryOfCall(callId: string): Promise<EntryRow | null> {
    const row = await this.db
      .selectFrom('queue_entries')
      .select(['id', 'queue', 'call_id', 'gateway', 'state', 'agent_id', 'agent', 'enqueued_at'])
      .where('call_id', '=', callId)
      .where('state', '<>', 'done')
      .executeTakeFirst();
    return row ? toEntry(row) : null;
  }

  /** Where a waiting entry stands (1: the head) and how many wait in its queue. */
  async position(id: string): Promise<{ position: number; waiting: number }> {
    const r = await sql<{ ahead: number; waiting: number }>`
      SELECT count(*) FILTER (WHERE o.priority > me.priority
               OR (o.priority = me.priority AND (o.position_at, o.id) <= (me.position_at, me.id))) AS ahead,
             count(*) AS waiting
      FROM queue_entries o, queue_entries me
      WHERE me.id = ${id} AND o.queue = me.queue AND o.state = 'waiting'`.execute(this.db);
    const row = r.rows[0];
    return { position: Math.max(1, Number(row?.ahead ?? 1)), waiting: Math.max(1, Number(row?.waiting ?? 1)) };
  }

  /** Mean wait of the last answered callers of the queue (seconds), null before any. */
  async meanWaitSeconds(queue: string): Promise<number | null> {
    const r = await sql<{ s: number | null }>`
      SELECT avg(EXTRACT(EPOCH FROM answered_at - enqueued_at))::float8 AS s FROM (
        SELECT answered_at, enqueued_at FROM queue_entries
        WHERE queue = ${queue} AND answered_at IS NOT NULL ORDER BY answered_at DESC LIMIT 20) recent`.execute(this.db);
    const s = r.rows[0]?.s;
    return s === null || s === undefined ? null : Number(s);
  }

  /** The agent answered: `agent` is the one who did (for ring all, the SIP user who picked up). */
  async connected(id: string, agent: { id: number | null; label: string }): Promise<boolean> {
    const r = await this.db
      .updateTable('queue_entries')
      .set({ state: 'connected', answered_at: sql<Date>`now()`, agent_id: agent.id, agent: agent.label })
      .where('id', '=', id)
      .where('state', '=', 'offered')
      .executeTakeFirst();
    if (agent.id !== null)
      await this.db
        .updateTable('queue_agents')
        .set((eb) => ({ calls_answered: eb('calls_answered', '+', 1) }))
        .where('id', '=', agent.id)
        .execute();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The seat an offer to an AI holds (an operator's assign writes none): taken if missing. */
  async holdSeat(scope: string, callId: string, gateway: string): Promise<void> {
    await this.db
      .insertInto('call_seats')
      .values({ scope, call_id: callId, gateway })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  /** Not answered, or the AI refused: back to waiting at the same place; the seat it held is released. */
  async requeue(id: string, callId: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable('queue_entries')
        .set({ state: 'waiting', agent_id: null, agent: null, offered_at: null })
        .where('id', '=', id)
        .where('state', '=', 'offered')
        .returning('queue')
        .executeTakeFirst();
      await tx.deleteFrom('call_seats').where('call_id', '=', callId).execute();
      if (r) await notify(tx, { kind: 'kick', queue: r.queue });
      return r !== undefined;
    });
  }

  /**
   * Ends an entry (from any of `from`) with `outcome`, releases the seats its call held
   * through the queue, stamps the agent's end (wrap-up starts) and kicks the queue.
   */
  async finish(
    id: string,
    outcome: QueueEntryOutcome,
    from: ReadonlyArray<'waiting' | 'offered' | 'connected'>,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable('queue_entries')
        .set({ state: 'done', outcome, ended_at: sql<Date>`now()` })
        .where('id', '=', id)
        .where('state', 'in', [...from])
        .returning(['queue', 'call_id', 'agent_id', 'state'])
        .executeTakeFirst();
      if (!r) return false;
      await tx.deleteFrom('call_seats').where('call_id', '=', r.call_id).execute();
      if (r.agent_id !== null && from.includes('connected'))
        await tx
          .updateTable('queue_agents')
          .set({ last_ended_at: sql<Date>`now()` })
          .where('id', '=', r.agent_id)
          .execute();
      await notify(tx, { kind: 'kick', queue: r.queue });
      return true;
    });
  }

  /** The SIP users a ring-all offer of `queue` dials: not paused, not busy with another caller, past wrap-up. */
  async ringAllTargets(queue: string): Promise<Array<{ id: number; username: string }>> {
    const rows = await sql<{ id: number; username: string }>`
      SELECT a.id, a.username FROM queue_agents a JOIN queues q ON q.name = a.queue
      WHERE a.queue = ${queue} AND a.kind = 'sip_user' AND NOT a.paused
        AND (a.last_ended_at IS NULL OR a.last_ended_at + make_interval(secs => q.wrap_up_seconds) <= now())
        AND NOT EXISTS (SELECT 1 FROM queue_entries e WHERE e.state = 'connected' AND e.agent = 'sip_user:' || a.username)
      ORDER BY a.position, a.id`.execute(this.db);
    return rows.rows;
  }

  /** Queue names with live entries on `gateway` (its safety poll). */
  async queuesOf(gateway: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('queue_entries')
      .select('queue')
      .distinct()
      .where('gateway', '=', gateway)
      .where('state', '=', 'waiting')
      .execute();
    return rows.map((r) => r.queue);
  }

  /** A gateway starting under an id whose previous run died: its entries and seats died with it. */
  async closeOrphans(gateway: string): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable('queue_entries')
        .set({ state: 'done', outcome: 'lost', ended_at: sql<Date>`now()` })
        .where('gateway', '=', gateway)
        .where('state', '<>', 'done')
        .returning('queue')
        .execute();
      await tx.deleteFrom('call_seats').where('gateway', '=', gateway).execute();
      for (const queue of new Set(r.map((x) => x.queue))) await notify(tx, { kind: 'kick', queue });
      return r.length;
    });
  }

  /**
   * One dispatch of `queue`, under its advisory lock: head entries (priority DESC,
   * position_at, id) matched with free agents (strategy.ts); each offer sets the
   * entry `offered` with its agent, takes the AI's seat in the same transaction, and
   * NOTIFYs the holding gateway (delivered at commit).
   */
  async dispatch(queue: string): Promise<Offer[]> {
    return this.db.transaction().execute(async (tx) => {
      await lock(tx, `queue:${queue}`);
      const q = await tx
        .selectFrom('queues')
        .select(['strategy', 'wrap_up_seconds'])
        .where('name', '=', queue)
        .executeTakeFirst();
      if (!q) return [];
      const entries = await tx
        .selectFrom('queue_entries')
        .select(['id', 'call_id', 'gateway', 'called'])
        .where('queue', '=', queue)
        .where('state', '=', 'waiting')
        .orderBy('priority', 'desc')
        .orderBy('position_at')
        .orderBy('id')
        .limit(100)
        .execute();
      if (entries.length === 0) return [];
      const now = (await sql<{ now: Date }>`SELECT now() AS now`.execute(tx)).rows[0]!.now.getTime();
      const agents = await this.agentsOf(tx, queue, q.wrap_up_seconds, now);
      if (agents.length === 0) return [];
      const ringAll = await tx
        .selectFrom('queue_entries')
        .select('id')
        .where('queue', '=', queue)
        .where('state', '=', 'offered')
        .where('agent', '=', RING_ALL)
        .executeTakeFirst();
      const byId = new Map(entries.map((e) => [String(e.id), e]));
      const plan = assign(
        q.strategy,
        entries.map((e) => ({ id: String(e.id), called: e164(e.called) ?? e.called })),
        agents,
        { now, ringAllInProgress: ringAll !== undefined },
      );
      const offers: Offer[] = [];
      for (const a of plan) {
        const e = byId.get(a.entry)!;
        const agent = offerAgent(a);
        await tx
          .updateTable('queue_entries')
          .set({ state: 'offered', offered_at: sql<Date>`now()`, agent_id: agent.id, agent: agent.label })
          .where('id', '=', a.entry)
          .execute();
        const scope = seatScope(agent.label);
        if (scope)
          await tx
            .insertInto('call_seats')
            .values({ scope, call_id: e.call_id, gateway: e.gateway })
            .onConflict((oc) => oc.doNothing())
            .execute();
        const ids = a.agents.map((x) => x.id).filter((x): x is number => x !== null);
        if (ids.length > 0)
          await tx
            .updateTable('queue_agents')
            .set({ last_offered_at: sql<Date>`now()` })
            .where('id', 'in', ids)
            .execute();
        await notify(tx, { kind: 'offer', entry: a.entry, gateway: e.gateway });
        offers.push({ entry: a.entry, gateway: e.gateway, callId: e.call_id, agent: agent.label });
      }
      return offers;
    });
  }

  /**
   * The queue's agents with what each can take now. Seat counts are read under each
   * scope's advisory lock, taken in name order so two dispatches never wait on each
   * other in a cycle.
   */
  private async agentsOf(tx: Transaction<Database>, queue: string, wrapUp: number, now: number): Promise<AgentView[]> {
    const explicit = await tx
      .selectFrom('queue_agents')
      .leftJoin('ai_routes', 'ai_routes.name', 'queue_agents.ai_route')
      .select([
        'queue_agents.id',
        'queue_agents.kind',
        'queue_agents.username',
        'queue_agents.ai_route',
        'queue_agents.max_concurrent_calls as agent_cap',
        'ai_routes.max_concurrent_calls as route_cap',
        'queue_agents.position',
        'queue_agents.last_offered_at',
        'queue_agents.last_ended_at',
      ])
      .where('queue_agents.queue', '=', queue)
      .where('queue_agents.paused', '=', false)
      .execute();
    const listed = new Set(explicit.map((a) => a.ai_route).filter((r): r is string => r !== null));
    const routes = (
      await tx.selectFrom('ai_routes').select(['name', 'max_concurrent_calls']).where('queue', '=', queue).execute()
    ).filter((r) => !listed.has(r.name));
    const numbers = await tx
      .selectFrom('numbers')
      .select(['number', 'max_concurrent_calls'])
      .where('queue', '=', queue)
      .where('max_concurrent_calls', 'is not', null)
      .where('route_type', '=', 'ai')
      .execute();

    const scopes = new Set<string>();
    for (const a of explicit) if (a.ai_route && a.route_cap !== null) scopes.add(aiRouteScope(a.ai_route));
    for (const r of routes) if (r.max_concurrent_calls !== null) scopes.add(aiRouteScope(r.name));
    for (const n of numbers) scopes.add(numberScope(n.number));
    const seats = new Map<string, number>();
    for (const scope of [...scopes].sort()) {
      await lock(tx, scope);
      const { n } = await tx
        .selectFrom('call_seats')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('scope', '=', scope)
        .executeTakeFirstOrThrow();
      seats.set(scope, Number(n));
    }
    const busy = await tx
      .selectFrom('queue_entries')
      .select(['agent', 'queue'])
      .where('state', 'in', ['offered', 'connected'])
      .where('agent', 'is not', null)
      .execute();
    const busyPeople = new Set(busy.filter((b) => b.agent?.startsWith('sip_user:')).map((b) => b.agent));
    const inQueue = new Map<string, number>();
    for (const b of busy) if (b.queue === queue && b.agent) inQueue.set(b.agent, (inQueue.get(b.agent) ?? 0) + 1);

    const out: AgentView[] = [];
    for (const a of explicit) {
      const lastEnded = a.last_ended_at?.getTime() ?? null;
      if (a.kind === 'sip_user' && a.username) {
        const label = `sip_user:${a.username}`;
        const wrapping = lastEnded !== null && lastEnded + wrapUp * 1000 > now;
        out.push({
          label,
          id: a.id,
          kind: 'sip_user',
          position: a.position,
          lastOfferedAt: a.last_offered_at?.getTime() ?? null,
          lastEndedAt: lastEnded,
          free: busyPeople.has(label) || wrapping ? 0 : 1,
        });
      } else if (a.ai_route) {
        const label = `ai:${a.ai_route}`;
        const routeFree = a.route_cap === null ? Infinity : a.route_cap - (seats.get(aiRouteScope(a.ai_route)) ?? 0);
        const agentFree = a.agent_cap === null ? Infinity : a.agent_cap - (inQueue.get(label) ?? 0);
        out.push({
          label,
          id: a.id,
          kind: 'ai',
          position: a.position,
          lastOfferedAt: a.last_offered_at?.getTime() ?? null,
          lastEndedAt: lastEnded,
          free: Math.max(0, Math.min(routeFree, agentFree)),
        });
      }
    }
    for (const r of routes)
      out.push({
        label: `ai:${r.name}`,
        id: null,
        kind: 'ai',
        position: Number.MAX_SAFE_INTEGER,
        lastOfferedAt: null,
        lastEndedAt: null,
        free:
          r.max_concurrent_calls === null
            ? Infinity
            : Math.max(0, r.max_concurrent_calls - (seats.get(aiRouteScope(r.name)) ?? 0)),
      });
    for (const n of numbers)
      out.push({
        label: `number:${n.number}`,
        id: null,
        kind: 'number',
        position: Number.MAX_SAFE_INTEGER,
        lastOfferedAt: null,
        lastEndedAt: null,
        free: Math.max(0, (n.max_concurrent_calls ?? 0) - (seats.get(numberScope(n.number)) ?? 0)),
        onlyCalled: n.number,
      });
    return out;
  }
}

function offerAgent(a: Assignment): { id: number | null; label: string } {
  if (a.ringAll) return { id: null, label: RING_ALL };
  const agent = a.agents[0]!;
  return { id: agent.id, label: agent.label };
}

/** The seat an offer to `agent` takes: an AI route's or a number's (a person takes none). */
export function seatScope(agent: string): string | null {
  if (agent.startsWith('ai:')) return aiRouteScope(agent.slice(3));
  if (agent.startsWith('number:')) return numberScope(agent.slice(7));
  return null;
}

function toEntry(row: {
  id: string | number;
  queue: string;
  call_id: string;
  gateway: string;
  state: EntryRow['state'];
  agent_id: number | null;
  agent: string | null;
  enqueued_at: Date;
}): EntryRow {
  return {
    id: String(row.id),
    queue: row.queue,
    callId: row.call_id,
    gateway: row.gateway,
    state: row.state,
    agentId: row.agent_id,
    agent: row.agent,
    enqueuedAt: row.enqueued_at,
  };
}
