import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database, QueueAgentsTable, QueueEntriesTable, QueuesTable } from '../../../common/src/db/schema';
import { isUniqueViolation } from '../../../common/src/db/sqlstate';
import { AppError } from '../../../common/src/errors';
import type { Action } from '../../../common/src/ivr/menu';
import type { Logger } from '../../../common/src/logger';
import { QUEUE_CHANNEL, type QueueNotice } from '../../../common/src/queues/events';
import type { TargetCheck } from '../ivr/targets';
import type { Page } from '../ivr/service';
import { bodyNumber, pathNumber } from '../numbers/service';
import {
  RESERVED_QUEUE_NAMES,
  type AssignInput,
  type CreateAgentInput,
  type CreateQueueInput,
  type EntryState,
  type ListQuery,
  type MoveInput,
  type PutVipInput,
  type QueueFields,
  type UpdateAgentInput,
} from './schemas';

/** The statistics window when `since` is not given. */
export const DEFAULT_STATS_WINDOW_MS = 24 * 3600 * 1000;

type QueueRow = Selectable<QueuesTable>;
type AgentRow = Selectable<QueueAgentsTable>;
type EntryRow = Selectable<QueueEntriesTable>;

export interface QueueView {
  readonly name: string;
  readonly description: string | null;
  readonly strategy: QueueRow['strategy'];
  readonly ring_timeout_seconds: number;
  readonly wrap_up_seconds: number;
  readonly max_wait_seconds: number | null;
  readonly max_wait_action: Action | null;
  readonly max_length: number | null;
  readonly max_length_action: Action | null;
  readonly hold_music: string | null;
  readonly announce_position: boolean;
  readonly announce_wait: boolean;
  readonly announce_interval_seconds: number;
  readonly leave_digit: string | null;
  readonly leave_action: Action | null;
  readonly service_level_seconds: number;
  readonly waiting: number;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface AgentView {
  readonly id: number;
  readonly queue: string;
  readonly kind: 'sip_user' | 'ai';
  readonly username: string | null;
  readonly ai_route: string | null;
  readonly max_concurrent_calls: number | null;
  readonly position: number;
  readonly paused: boolean;
  readonly last_offered_at: string | null;
  readonly last_ended_at: string | null;
  readonly calls_answered: number;
  readonly created_at: string;
}

export interface EntryView {
  readonly id: string;
  readonly queue: string;
  readonly call_id: string;
  readonly gateway: string;
  readonly caller: string;
  readonly called: string;
  readonly state: EntryState;
  readonly priority: number;
  readonly priority_source: EntryRow['priority_source'];
  readonly position: number | null;
  readonly wait_seconds: number;
  readonly agent_id: number | null;
  readonly agent: string | null;
  readonly enqueued_at: string;
  readonly offered_at: string | null;
  readonly answered_at: string | null;
}

export interface QueueStats {
  readonly queue: string;
  readonly since: string;
  readonly waiting: number;
  readonly longest_wait_seconds: number;
  readonly offered: number;
  readonly answered: number;
  readonly answered_within_service_level: number;
  readonly abandoned: number;
  readonly overflowed: number;
  readonly service_level: number | null;
  readonly service_level_seconds: number;
  readonly avg_wait_seconds: number | null;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
const json = (a: Action | null | undefined): string | null | undefined =>
  a === undefined ? undefined : a === null ? null : JSON.stringify(a);

function queueNotFound(name: string): AppError {
  return new AppError('ERR_QUEUE_NOT_FOUND', `no queue '${name}'`);
}
function agentNotFound(queue: string, id: number | string): AppError {
  return new AppError('ERR_QUEUE_AGENT_NOT_FOUND', `queue '${queue}' has no agent ${id}`);
}
function entryNotFound(queue: string, id: string): AppError {
  return new AppError('ERR_QUEUE_ENTRY_NOT_FOUND', `queue '${queue}' has no caller ${id}`);
}
function invalid(field: string, message: string): AppError {
  return new AppError('ERR_VALIDATION', `request body is invalid: ${field} ${message}`, {
    fields: [{ field, message }],
  });
}

/** The label queue_entries.agent holds: `sip_user:<name>` or `ai:<route>`. */
export function agentLabel(agent: Pick<AgentRow, 'kind' | 'username' | 'ai_route'>): string {
  return agent.kind === 'sip_user' ? `sip_user:${agent.username ?? ''}` : `ai:${agent.ai_route ?? ''}`;
}

/** Sends a queue notice when the transaction commits (NOTIFY is transactional). */
async function notify(trx: Transaction<Database>, notice: QueueNotice): Promise<void> {
  await sql`SELECT pg_notify(${QUEUE_CHANNEL}, ${JSON.stringify(notice)})`.execute(trx);
}

/** The lock every gateway's dispatcher takes for a queue (contract: hashtext('queue:'||name)). */
async function lockQueue(trx: Transaction<Database>, queue: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(${`queue:${queue}`}))`.execute(trx);
}

/**
 * Queues, their agents and VIP numbers, the callers in them, their statistics and
 * operator moves. The control-plane only writes rows and notifies on
 * `queue_events`: the gateways dispatch, so queues work without it.
 */
export class QueueService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly targets: TargetCheck,
    private readonly logger: Logger,
  ) {}

  // ----- queues -----

  private async checkFields(input: QueueFields, current?: QueueRow): Promise<void> {
    const leaveDigit = input.leave_digit !== undefined ? input.leave_digit : (current?.leave_digit ?? null);
    const leaveAction = input.leave_action !== undefined ? input.leave_action : (current?.leave_action ?? null);
    if (leaveAction !== null && leaveDigit === null)
      throw invalid('leave_action', 'needs a leave_digit (the key that takes the caller out)');
    const actions = (['max_wait_action', 'max_length_action', 'leave_action'] as const)
      .filter((f) => input[f] !== undefined && input[f] !== null)
      .map((f) => ({ field: f, action: input[f] as Action }));
    await this.targets.checkActions(actions);
  }

  private async waitingCounts(names: string[]): Promise<Map<string, number>> {
    if (names.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('queue_entries')
      .select(['queue', (eb) => eb.fn.countAll<number>().as('n')])
      .where('queue', 'in', names)
      .where('state', '=', 'waiting')
      .groupBy('queue')
      .execute();
    return new Map(rows.map((r) => [r.queue, Number(r.n)]));
  }

  private queueView(r: QueueRow, waiting: number): QueueView {
    return {
      name: r.name,
      description: r.description,
      strategy: r.strategy,
      ring_timeout_seconds: r.ring_timeout_seconds,
      wrap_up_seconds: r.wrap_up_seconds,
      max_wait_seconds: r.max_wait_seconds,
      max_wait_action: (r.max_wait_action ?? null) as Action | null,
      max_length: r.max_length,
      max_length_action: (r.max_length_action ?? null) as Action | null,
      hold_music: r.hold_music,
      announce_position: r.announce_position,
      announce_wait: r.announce_wait,
      announce_interval_seconds: r.announce_interval_seconds,
      leave_digit: r.leave_digit,
      leave_action: (r.leave_action ?? null) as Action | null,
      service_level_seconds: r.service_level_seconds,
      waiting,
      created_at: r.created_at.toISOString(),
      updated_at: r.updated_at.toISOString(),
    };
  }

  private async findQueue(name: string): Promise<QueueRow> {
    const row = await this.db.selectFrom('queues').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw queueNotFound(name);
    return row;
  }

  async create(input: CreateQueueInput): Promise<QueueView> {
    if ((RESERVED_QUEUE_NAMES as readonly string[]).includes(input.name))
      throw invalid('name', `is reserved (GET /api/queues/${input.name})`);
    await this.checkFields(input);
    try {
      const { max_wait_action, max_length_action, leave_action, ...rest } = input;
      const row = await this.db
        .insertInto('queues')
        .values({
          ...rest,
          max_wait_action: json(max_wait_action) ?? null,
          max_length_action: json(max_length_action) ?? null,
          leave_action: json(leave_action) ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      this.logger.info('queue created', { queue: input.name });
      return this.queueView(row, 0);
    } catch (err) {
      if (isUniqueViolation(err))
        throw new AppError('ERR_QUEUE_EXISTS', `queue '${input.name}' already exists`, {
          fields: [{ field: 'name', message: 'already exists' }],
        });
      throw err;
    }
  }

  async list(query: ListQuery): Promise<Page<QueueView>> {
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('queues')
        .selectAll()
        .orderBy('name')
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .execute(),
      this.db
        .selectFrom('queues')
        .select((eb) => eb.fn.countAll<number>().as('total'))
        .executeTakeFirstOrThrow(),
    ]);
    const waiting = await this.waitingCounts(rows.map((r) => r.name));
    return {
      items: rows.map((r) => this.queueView(r, waiting.get(r.name) ?? 0)),
      total: Number(count.total),
      page: query.page,
      per_page: query.per_page,
    };
  }

  async get(name: string): Promise<QueueView> {
    const row = await this.findQueue(name);
    return this.queueView(row, (await this.waitingCounts([name])).get(name) ?? 0);
  }

  async update(name: string, input: QueueFields): Promise<QueueView> {
    const current = await this.findQueue(name);
    await this.checkFields(input, current);
    const { max_wait_action, max_length_action, leave_action, ...rest } = input;
    const row = await this.db
      .updateTable('queues')
      .set({
        ...rest,
        ...(max_wait_action === undefined ? {} : { max_wait_action: json(max_wait_action) ?? null }),
        ...(max_length_action === undefined ? {} : { max_length_action: json(max_length_action) ?? null }),
        ...(leave_action === undefined ? {} : { leave_action: json(leave_action) ?? null }),
        updated_at: sql<Date>`now()`,
      })
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw queueNotFound(name);
    this.logger.info('queue updated', { queue: name, fields: Object.keys(input) });
    // New limits or a new strategy may let a waiting caller through now.
    await this.kick(name);
    return this.queueView(row, (await this.waitingCounts([name])).get(name) ?? 0);
  }

  async remove(name: string): Promise<{ name: string; deleted: true }> {
    await this.findQueue(name);
    const usedBy = await this.targets.usedBy('queue', name);
    const live = await this.db
      .selectFrom('queue_entries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('queue', '=', name)
      .where('state', '<>', 'done')
      .executeTakeFirstOrThrow();
    if (Number(live.n) > 0) usedBy.push(`${Number(live.n)} caller(s) in the queue`);
    if (usedBy.length > 0)
      throw new AppError('ERR_QUEUE_IN_USE', `queue '${name}' is still in use: ${usedBy.join(', ')}`, {
        used_by: usedBy,
      });
    const row = await this.db.deleteFrom('queues').where('name', '=', name).returning('name').executeTakeFirst();
    if (!row) throw queueNotFound(name);
    this.logger.info('queue deleted', { queue: name });
    return { name, deleted: true };
  }

  private async kick(queue: string): Promise<void> {
    await this.db.transaction().execute((trx) => notify(trx, { kind: 'kick', queue }));
  }

  // ----- agents -----

  private agentView(r: AgentRow): AgentView {
    return {
      id: r.id,
      queue: r.queue,
      kind: r.kind,
      username: r.username,
      ai_route: r.ai_route,
      max_concurrent_calls: r.max_concurrent_calls,
      position: r.position,
      paused: r.paused,
      last_offered_at: iso(r.last_offered_at),
      last_ended_at: iso(r.last_ended_at),
      calls_answered: r.calls_answered,
      created_at: r.created_at.toISOString(),
    };
  }

  async addAgent(queue: string, input: CreateAgentInput): Promise<AgentView> {
    await this.findQueue(queue);
    await this.targets.assertExist([
      input.kind === 'sip_user'
        ? { kind: 'sip_user', name: input.username, field: 'username' }
        : { kind: 'ai_route', name: input.ai_route, field: 'ai_route' },
    ]);
    try {
      const row = await this.db
        .insertInto('queue_agents')
        .values({
          queue,
          kind: input.kind,
          username: input.kind === 'sip_user' ? input.username : null,
          ai_route: input.kind === 'ai' ? input.ai_route : null,
          max_concurrent_calls: input.kind === 'ai' ? (input.max_concurrent_calls ?? null) : null,
          ...(input.position === undefined ? {} : { position: input.position }),
          ...(input.paused === undefined ? {} : { paused: input.paused }),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      this.logger.info('queue agent added', { queue, agent: agentLabel(row) });
      await this.kick(queue);
      return this.agentView(row);
    } catch (err) {
      if (isUniqueViolation(err)) {
        const field = input.kind === 'sip_user' ? 'username' : 'ai_route';
        throw new AppError(
          'ERR_QUEUE_AGENT_EXISTS',
          `${agentLabel({ ...input, username: input.kind === 'sip_user' ? input.username : null, ai_route: input.kind === 'ai' ? input.ai_route : null })} is an agent of queue '${queue}' already`,
          {
            fields: [{ field, message: 'is an agent of this queue already' }],
          },
        );
      }
      throw err;
    }
  }

  async listAgents(queue: string, query: ListQuery): Promise<Page<AgentView>> {
    await this.findQueue(queue);
    const base = this.db.selectFrom('queue_agents').where('queue', '=', queue);
    const [rows, count] = await Promise.all([
      base
        .selectAll()
        .orderBy('position')
        .orderBy('id')
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .execute(),
      base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return {
      items: rows.map((r) => this.agentView(r)),
      total: Number(count.total),
      page: query.page,
      per_page: query.per_page,
    };
  }

  async updateAgent(queue: string, id: string, input: UpdateAgentInput): Promise<AgentView> {
    const current = await this.db
      .selectFrom('queue_agents')
      .selectAll()
      .where('queue', '=', queue)
      .where('id', '=', Number(id))
      .executeTakeFirst();
    if (!current) throw agentNotFound(queue, id);
    if (input.max_concurrent_calls !== undefined && input.max_concurrent_calls !== null && current.kind !== 'ai')
      throw invalid('max_concurrent_calls', 'is only for AI agents (a SIP user takes one call at a time)');
    const row = await this.db
      .updateTable('queue_agents')
      .set({
        ...(input.paused === undefined ? {} : { paused: input.paused }),
        ...(input.position === undefined ? {} : { position: input.position }),
        ...(input.max_concurrent_calls === undefined ? {} : { max_concurrent_calls: input.max_concurrent_calls }),
      })
      .where('id', '=', current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    this.logger.info('queue agent updated', { queue, agent: agentLabel(row), fields: Object.keys(input) });
    await this.kick(queue);
    return this.agentView(row);
  }

  async removeAgent(queue: string, id: string): Promise<{ id: number; deleted: true }> {
    const row = await this.db
      .deleteFrom('queue_agents')
      .where('queue', '=', queue)
      .where('id', '=', Number(id))
      .returningAll()
      .executeTakeFirst();
    if (!row) throw agentNotFound(queue, id);
    this.logger.info('queue agent removed', { queue, agent: agentLabel(row) });
    return { id: row.id, deleted: true };
  }

  // ----- VIP numbers -----

  async putVip(
    queue: string,
    input: PutVipInput,
  ): Promise<{ status: 200 | 201; body: Selectable<Database['queue_vips']> }> {
    await this.findQueue(queue);
    const { e164 } = bodyNumber(input.number);
    const row = await this.db
      .insertInto('queue_vips')
      .values({ queue, number: e164, priority: input.priority })
      .onConflict((oc) => oc.columns(['queue', 'number']).doUpdateSet({ priority: input.priority }))
      .returning(['queue', 'number', 'priority', sql<boolean>`(xmax = 0)`.as('created')])
      .executeTakeFirstOrThrow();
    const { created, ...vip } = row;
    this.logger.info('queue VIP set', { queue, priority: input.priority });
    return { status: created ? 201 : 200, body: vip };
  }

  async listVips(queue: string, query: ListQuery): Promise<Page<Selectable<Database['queue_vips']>>> {
    await this.findQueue(queue);
    const base = this.db.selectFrom('queue_vips').where('queue', '=', queue);
    const [rows, count] = await Promise.all([
      base
        .select(['queue', 'number', 'priority'])
        .orderBy('priority', 'desc')
        .orderBy('number')
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .execute(),
      base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows, total: Number(count.total), page: query.page, per_page: query.per_page };
  }

  async removeVip(queue: string, pathValue: string): Promise<{ number: string; deleted: true }> {
    const number = pathNumber(pathValue);
    const row = await this.db
      .deleteFrom('queue_vips')
      .where('queue', '=', queue)
      .where('number', '=', number)
      .returning('number')
      .executeTakeFirst();
    if (!row) throw new AppError('ERR_QUEUE_VIP_NOT_FOUND', `${number} is not a VIP of queue '${queue}'`);
    this.logger.info('queue VIP removed', { queue });
    return { number, deleted: true };
  }

  // ----- entries -----

  /**
   * The callers in a queue: waiting ones first in the order they will be served
   * (priority, then position_at, then id: the dispatchers' ORDER BY), then those
   * offered to or talking to an agent.
   */
  async entries(queue: string, query: ListQuery): Promise<Page<EntryView>> {
    await this.findQueue(queue);
    const { rows } = await sql<EntryRow & { place: string | null; wait_seconds: number }>`
      SELECT e.*,
        CASE WHEN e.state = 'waiting'
          THEN row_number() OVER (PARTITION BY e.state = 'waiting' ORDER BY e.priority DESC, e.position_at, e.id)
        END AS place,
        extract(epoch FROM now() - e.enqueued_at)::float8 AS wait_seconds
      FROM queue_entries e
      WHERE e.queue = ${queue} AND e.state <> 'done'
      ORDER BY (e.state = 'waiting') DESC, place, e.offered_at, e.id
      LIMIT ${query.per_page} OFFSET ${(query.page - 1) * query.per_page}`.execute(this.db);
    const count = await this.db
      .selectFrom('queue_entries')
      .select((eb) => eb.fn.countAll<number>().as('total'))
      .where('queue', '=', queue)
      .where('state', '<>', 'done')
      .executeTakeFirstOrThrow();
    return {
      items: rows.map((r) => entryView(r, r.place === null ? null : Number(r.place), r.wait_seconds)),
      total: Number(count.total),
      page: query.page,
      per_page: query.per_page,
    };
  }

  private async entry(queue: string, id: string): Promise<EntryView> {
    const { rows } = await sql<EntryRow & { place: string | null; wait_seconds: number }>`
      SELECT e.*, extract(epoch FROM now() - e.enqueued_at)::float8 AS wait_seconds,
        CASE WHEN e.state = 'waiting' THEN (
          SELECT count(*) + 1 FROM queue_entries o
          WHERE o.queue = e.queue AND o.state = 'waiting'
            AND (o.priority > e.priority OR (o.priority = e.priority AND (o.position_at, o.id) < (e.position_at, e.id)))
        ) END AS place
      FROM queue_entries e WHERE e.id = ${id} AND e.queue = ${queue}`.execute(this.db);
    const row = rows[0];
    if (!row) throw entryNotFound(queue, id);
    return entryView(row, row.place === null ? null : Number(row.place), row.wait_seconds);
  }

  /**
   * The entry, locked, after the queue's dispatch lock: 404 unless it is in the queue
   * and not done, 409 unless it is waiting.
   */
  private async lockedWaiting(trx: Transaction<Database>, queue: string, id: string): Promise<EntryRow> {
    const row = await trx
      .selectFrom('queue_entries')
      .selectAll()
      .where('id', '=', id)
      .where('queue', '=', queue)
      .where('state', '<>', 'done')
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw entryNotFound(queue, id);
    if (row.state !== 'waiting')
      throw new AppError('ERR_QUEUE_ENTRY_NOT_WAITING', `caller ${id} is ${row.state}, not waiting`, {
        state: row.state,
      });
    return row;
  }

  /**
   * Moves a waiting caller to the front: the highest priority anyone waiting has, and
   * a position 1 ms before the first caller of that priority.
   */
  async front(queue: string, id: string): Promise<EntryView> {
    await this.findQueue(queue);
    await this.db.transaction().execute(async (trx) => {
      await lockQueue(trx, queue);
      const entry = await this.lockedWaiting(trx, queue, id);
      const top = await trx
        .selectFrom('queue_entries')
        .select((eb) => eb.fn.max('priority').as('priority'))
        .where('queue', '=', queue)
        .where('state', '=', 'waiting')
        .executeTakeFirstOrThrow();
      const priority = Math.max(Number(top.priority ?? entry.priority), entry.priority);
      await sql`
        UPDATE queue_entries SET priority = ${priority}, priority_source = 'api',
          position_at = LEAST(position_at, (
            SELECT min(o.position_at) - interval '1 millisecond' FROM queue_entries o
            WHERE o.queue = ${queue} AND o.state = 'waiting' AND o.priority = ${priority} AND o.id <> ${id}))
        WHERE id = ${id}`.execute(trx);
      await notify(trx, { kind: 'kick', queue });
      this.logger.info('queue caller moved to the front', { queue, entry: id, priority });
    });
    return this.entry(queue, id);
  }

  /** Moves a waiting caller to another queue; it keeps its enqueued_at and place in time. */
  async move(queue: string, id: string, input: MoveInput): Promise<EntryView> {
    await this.findQueue(queue);
    if (input.queue === queue) throw invalid('queue', 'is the queue the caller is in already');
    await this.targets.assertExist([{ kind: 'queue', name: input.queue, field: 'queue' }]);
    await this.db.transaction().execute(async (trx) => {
      // Both dispatch locks, in name order: two opposite moves must not deadlock.
      for (const q of [queue, input.queue].sort()) await lockQueue(trx, q);
      const entry = await this.lockedWaiting(trx, queue, id);
      await trx
        .updateTable('queue_entries')
        .set({
          queue: input.queue,
          ...(input.priority === undefined ? {} : { priority: input.priority, priority_source: 'api' }),
        })
        .where('id', '=', id)
        .execute();
      await notify(trx, { kind: 'moved', entry: id, gateway: entry.gateway, queue: input.queue });
      await notify(trx, { kind: 'kick', queue });
      await notify(trx, { kind: 'kick', queue: input.queue });
      this.logger.info('queue caller moved to another queue', { queue, entry: id, to: input.queue });
    });
    return this.entry(input.queue, id);
  }

  /** Offers a waiting caller to one agent of its queue; the gateway holding the caller connects it. */
  async assign(queue: string, id: string, input: AssignInput): Promise<EntryView> {
    await this.findQueue(queue);
    await this.db.transaction().execute(async (trx) => {
      await lockQueue(trx, queue);
      const agent = await trx
        .selectFrom('queue_agents')
        .selectAll()
        .where('id', '=', input.agent_id)
        .where('queue', '=', queue)
        .forUpdate()
        .executeTakeFirst();
      if (!agent) throw agentNotFound(queue, input.agent_id);
      const entry = await this.lockedWaiting(trx, queue, id);
      await trx
        .updateTable('queue_entries')
        .set({ state: 'offered', agent_id: agent.id, agent: agentLabel(agent), offered_at: sql<Date>`now()` })
        .where('id', '=', id)
        .execute();
      await trx
        .updateTable('queue_agents')
        .set({ last_offered_at: sql<Date>`now()` })
        .where('id', '=', agent.id)
        .execute();
      await notify(trx, { kind: 'offer', entry: id, gateway: entry.gateway });
      this.logger.info('queue caller assigned to an agent', { queue, entry: id, agent: agentLabel(agent) });
    });
    return this.entry(queue, id);
  }

  // ----- statistics -----

  /** One queue's statistics since `since` (default 24 hours ago). */
  async stats(queue: string, since?: string): Promise<QueueStats> {
    await this.findQueue(queue);
    const [stats] = await this.statsOf(sinceDate(since), queue);
    if (!stats) throw queueNotFound(queue);
    return stats;
  }

  async allStats(since?: string): Promise<{ since: string; items: QueueStats[] }> {
    const from = sinceDate(since);
    return { since: from.toISOString(), items: await this.statsOf(from) };
  }

  /**
   * Waiting and longest wait are now; the rest count callers whose event (offer,
   * answer, hang-up, overflow) happened since `since`. The service level is the share
   * of answered-or-abandoned callers answered within the queue's service_level_seconds.
   */
  async statsOf(since: Date, queue?: string): Promise<QueueStats[]> {
    const { rows } = await sql<{
      queue: string;
      service_level_seconds: number;
      waiting: string;
      longest_wait_seconds: number | null;
      offered: string;
      answered: string;
      answered_within: string;
      abandoned: string;
      overflowed: string;
      avg_wait_seconds: number | null;
    }>`
      SELECT q.name AS queue, q.service_level_seconds,
        count(e.id) FILTER (WHERE e.state = 'waiting') AS waiting,
        extract(epoch FROM now() - min(e.enqueued_at) FILTER (WHERE e.state = 'waiting'))::float8 AS longest_wait_seconds,
        count(e.id) FILTER (WHERE e.offered_at >= ${since}) AS offered,
        count(e.id) FILTER (WHERE e.answered_at >= ${since}) AS answered,
        count(e.id) FILTER (WHERE e.answered_at >= ${since}
          AND e.answered_at - e.enqueued_at <= make_interval(secs => q.service_level_seconds)) AS answered_within,
        count(e.id) FILTER (WHERE e.outcome = 'abandoned' AND e.ended_at >= ${since}) AS abandoned,
        count(e.id) FILTER (WHERE e.outcome = 'overflow' AND e.ended_at >= ${since}) AS overflowed,
        avg(extract(epoch FROM coalesce(e.answered_at, e.ended_at) - e.enqueued_at)::float8) FILTER (
          WHERE e.answered_at >= ${since} OR (e.outcome = 'abandoned' AND e.ended_at >= ${since})) AS avg_wait_seconds
      FROM queues q
      LEFT JOIN queue_entries e ON e.queue = q.name AND (e.state <> 'done' OR e.ended_at >= ${since}
        OR e.answered_at >= ${since} OR e.offered_at >= ${since})
      WHERE ${queue === undefined ? sql`true` : sql`q.name = ${queue}`}
      GROUP BY q.name, q.service_level_seconds
      ORDER BY q.name`.execute(this.db);
    return rows.map((r) => {
      const answered = Number(r.answered);
      const abandoned = Number(r.abandoned);
      const within = Number(r.answered_within);
      return {
        queue: r.queue,
        since: since.toISOString(),
        waiting: Number(r.waiting),
        longest_wait_seconds: round(Math.max(0, r.longest_wait_seconds ?? 0)),
        offered: Number(r.offered),
        answered,
        answered_within_service_level: within,
        abandoned,
        overflowed: Number(r.overflowed),
        service_level: answered + abandoned === 0 ? null : round(within / (answered + abandoned), 4),
        service_level_seconds: r.service_level_seconds,
        avg_wait_seconds: r.avg_wait_seconds === null ? null : round(Math.max(0, r.avg_wait_seconds)),
      };
    });
  }
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function sinceDate(since: string | undefined): Date {
  if (since === undefined) return new Date(Date.now() - DEFAULT_STATS_WINDOW_MS);
  const d = new Date(since);
  if (Number.isNaN(d.getTime()))
    throw new AppError('ERR_VALIDATION', 'query string is invalid: since is not a date', {
      fields: [{ field: 'since', message: 'is not a date' }],
    });
  return d;
}

function entryView(r: EntryRow, position: number | null, waitSeconds: number): EntryView {
  return {
    id: String(r.id),
    queue: r.queue,
    call_id: r.call_id,
    gateway: r.gateway,
    caller: r.caller,
    called: r.called,
    state: r.state as EntryState,
    priority: r.priority,
    priority_source: r.priority_source,
    position,
    wait_seconds: round(Math.max(0, waitSeconds)),
    agent_id: r.agent_id,
    agent: r.agent,
    enqueued_at: r.enqueued_at.toISOString(),
    offered_at: iso(r.offered_at),
    answered_at: iso(r.answered_at),
  };
}
