import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';
import type { AiAction } from '../../../common/src/ivr/menu';
import { aiRouteScope, numberScope } from '../../../common/src/queues/events';
import type { CallParties } from '../calls/call';
import type { CallHandle } from '../calls/handle';
import type { AiAdmission } from '../calls/routes';
import type { AiConnector, AiConnectResult, AiTargets, QueueEntry } from '../routing/actions';
import { e164, notify } from './store';

/**
 * Concurrency limits (numbers.max_concurrent_calls, ai_routes.max_concurrent_calls):
 * one call_seats row per live call holding a seat of a limited scope. A seat is
 * taken under pg_advisory_xact_lock(hashtext(scope)) by counting the scope's rows,
 * so gateways admitting at once never exceed the limit together; it is released
 * when the call ends (and by the lease sweep when its gateway dies), and a release
 * kicks the queues the scope serves, so the next waiting caller gets the seat.
 */

/** Where a limited AI call waits when its scope is full (null: busy). */
export interface Limit {
  readonly scope: string;
  readonly max: number;
  readonly queue: string | null;
  readonly priority: number;
}

export interface SeatMetrics {
  seatRefused(scopeKind: 'number' | 'ai_route', outcome: 'queued' | 'busy'): void;
}

export class PgSeats {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly gateway: string,
  ) {}

  /**
   * Takes a seat of `scope` for `holder` if fewer than `max` are taken and nobody
   * waits for one in `line` (the scope's queue; `called`: only that number's callers):
   * a newcomer does not overtake the callers already waiting.
   */
  async acquire(
    scope: string,
    holder: string,
    max: number,
    line?: { readonly queue: string; readonly called?: string },
  ): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${scope}))`.execute(tx);
      if (line) {
        let waiting = tx
          .selectFrom('queue_entries')
          .select('id')
          .where('queue', '=', line.queue)
          .where('state', '=', 'waiting');
        if (line.called) waiting = waiting.where('called', '=', line.called);
        if (await waiting.executeTakeFirst()) return false;
      }
      const { n } = await tx
        .selectFrom('call_seats')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('scope', '=', scope)
        .executeTakeFirstOrThrow();
      if (Number(n) >= max) return false;
      await tx.insertInto('call_seats').values({ scope, call_id: holder, gateway: this.gateway }).execute();
      return true;
    });
  }

  /** Gives back every seat `holder` has and kicks the queues those scopes serve. */
  async release(holder: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const gone = await tx.deleteFrom('call_seats').where('call_id', '=', holder).returning('scope').execute();
      for (const queue of await servedQueues(
        tx,
        gone.map((g) => g.scope),
      ))
        await notify(tx, { kind: 'kick', queue });
    });
  }

  /** An `ai|<digits>` number's limit; null: none. */
  async numberLimit(digits: string): Promise<Limit | null> {
    const number = e164(digits);
    if (!number) return null;
    const row = await this.db
      .selectFrom('numbers')
      .select(['max_concurrent_calls', 'queue', 'queue_priority'])
      .where('number', '=', number)
      .executeTakeFirst();
    if (!row || row.max_concurrent_calls === null) return null;
    return {
      scope: numberScope(number),
      max: row.max_concurrent_calls,
      queue: row.queue,
      priority: row.queue_priority,
    };
  }

  /** An AI route's limit; null: no limit; undefined: no such route. */
  async routeLimit(name: string): Promise<Limit | null | undefined> {
    const row = await this.db
      .selectFrom('ai_routes')
      .select(['max_concurrent_calls', 'queue'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) return undefined;
    if (row.max_concurrent_calls === null) return null;
    return { scope: aiRouteScope(name), max: row.max_concurrent_calls, queue: row.queue, priority: 0 };
  }
}

/** The queues a freed seat of these scopes may serve: those listing the AI route as an agent, or naming it (or the number) for overflow. */
async function servedQueues(db: Kysely<Database>, scopes: readonly string[]): Promise<string[]> {
  const routes = scopes.filter((s) => s.startsWith('ai_route:')).map((s) => s.slice('ai_route:'.length));
  const numbers = scopes.filter((s) => s.startsWith('number:')).map((s) => s.slice('number:'.length));
  const out = new Set<string>();
  if (routes.length > 0) {
    for (const r of await db.selectFrom('queue_agents').select('queue').where('ai_route', 'in', routes).execute())
      out.add(r.queue);
    for (const r of await db.selectFrom('ai_routes').select('queue').where('name', 'in', routes).execute())
      if (r.queue) out.add(r.queue);
  }
  if (numbers.length > 0)
    for (const r of await db.selectFrom('numbers').select('queue').where('number', 'in', numbers).execute())
      if (r.queue) out.add(r.queue);
  return [...out];
}

/** Resolves where an AI action points (routing/actions.ts AiTargets). */
export type AiTargetResolver = Pick<AiTargets, 'resolve'>;

export interface SeatedAiOptions {
  readonly seats: PgSeats;
  readonly targets: AiTargetResolver;
  readonly queues: QueueEntry;
  readonly metrics?: SeatMetrics;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

/**
 * The concurrency-aware side of AI calls:
 * - `admitAi` (CallManager's hook, before an `ai|<digits>` call is answered): a
 *   number with max_concurrent_calls takes a seat, or sends the caller to its queue
 *   (with the number's queue_priority), or refuses it busy (486).
 * - `connect` (the IVR's AiConnector): an AI route or number with a limit takes a
 *   seat held by the call until it ends; full → the route's (number's) queue, or busy.
 */
export class SeatedAi implements AiConnector {
  constructor(private readonly o: SeatedAiOptions) {}

  async admitAi(digits: string, parties: CallParties): Promise<AiAdmission> {
    const limit = await this.o.seats.numberLimit(digits);
    if (!limit) return { kind: 'ai' };
    const holder = randomUUID();
    const line = limit.queue ? { queue: limit.queue, called: limit.scope.slice('number:'.length) } : undefined;
    if (await this.o.seats.acquire(limit.scope, holder, limit.max, line))
      return { kind: 'ai', release: () => this.release(holder) };
    this.o.metrics?.seatRefused('number', limit.queue ? 'queued' : 'busy');
    this.o.logger.info('number at its concurrent call limit', {
      scope: limit.scope,
      limit: limit.max,
      sip_call_id: parties.sipCallId,
      queue: limit.queue,
    });
    return limit.queue ? { kind: 'queue', queue: limit.queue, priority: limit.priority } : { kind: 'busy' };
  }

  async connect(
    call: CallHandle,
    action: AiAction,
    options?: { readonly customParameters?: Readonly<Record<string, string>> },
  ): Promise<AiConnectResult> {
    const target = await this.o.targets.resolve(call, action, options?.customParameters);
    if (!target) return 'failed';
    let limit: Limit | null | undefined = null;
    if (action.ai_route) limit = await this.o.seats.routeLimit(action.ai_route);
    else if (action.number) limit = await this.o.seats.numberLimit(action.number);
    if (!limit) return (await call.connectAi(target)) ? 'connected' : 'failed';
    const line = limit.queue
      ? {
          queue: limit.queue,
          ...(limit.scope.startsWith('number:') ? { called: limit.scope.slice('number:'.length) } : {}),
        }
      : undefined;
    if (await this.o.seats.acquire(limit.scope, call.id, limit.max, line)) {
      if (await call.connectAi(target)) {
        void call.ended.then(() => this.release(call.id));
        return 'connected';
      }
      await this.release(call.id);
      return 'failed';
    }
    const kind = limit.scope.startsWith('number:') ? 'number' : 'ai_route';
    this.o.metrics?.seatRefused(kind, limit.queue ? 'queued' : 'busy');
    if (!limit.queue) return 'busy';
    await this.o.queues.enter(call, limit.queue, {
      priority: limit.priority,
      source: limit.priority > 0 ? 'number' : 'none',
    });
    return 'queued';
  }

  private async release(holder: string): Promise<void> {
    try {
      await this.o.seats.release(holder);
    } catch (err) {
      // The seat stays taken until this gateway's lease lapses: a limit that errs on the safe side.
      this.o.logger.warn('seat not released', { holder, error: (err as Error).message });
    }
  }
}
