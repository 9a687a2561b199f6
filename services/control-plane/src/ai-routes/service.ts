import { sql, type Kysely } from 'kysely';
import { agentUrlProblem } from '../../../common/src/ai-protocol/agent-url';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { Database } from '../../../common/src/db/schema';
import { isUniqueViolation } from '../../../common/src/db/sqlstate';
import { AppError } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { aiRouteScope } from '../../../common/src/queues/events';
import type { TargetCheck } from '../ivr/targets';
import type { ListQuery } from '../ivr/schemas';
import type { Page } from '../ivr/service';
import type { AiRouteFields, CreateAiRouteInput } from './schemas';

export interface AiRouteView {
  readonly name: string;
  readonly agent_url: string | null;
  readonly dialect: Dialect;
  readonly options: Record<string, unknown>;
  readonly max_concurrent_calls: number | null;
  readonly queue: string | null;
  readonly active_calls: number;
  readonly created_at: string;
  readonly updated_at: string;
}

const COLUMNS = [
  'name',
  'agent_url',
  'dialect',
  'options',
  'max_concurrent_calls',
  'queue',
  'created_at',
  'updated_at',
] as const;

function notFound(name: string): AppError {
  return new AppError('ERR_AI_ROUTE_NOT_FOUND', `no AI route '${name}'`);
}

/**
 * Named AIs (ai_routes): where each lives, how it speaks, how many calls it takes at
 * once and where callers over that limit wait. The gateways read the row at each call.
 */
export class AiRouteService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly targets: TargetCheck,
    private readonly options: { readonly allowPrivateAddresses: boolean },
    private readonly logger: Logger,
  ) {}

  private async check(input: AiRouteFields): Promise<void> {
    if (input.agent_url !== undefined && input.agent_url !== null) {
      const problem = agentUrlProblem(input.agent_url, { allowPrivate: this.options.allowPrivateAddresses });
      if (problem !== null) {
        this.logger.warn('AI route URL refused', { reason: problem });
        throw new AppError('ERR_AI_URL_INVALID', `agent_url ${problem}`, { field: 'agent_url', reason: problem });
      }
    }
    if (input.queue !== undefined && input.queue !== null)
      await this.targets.assertExist([{ kind: 'queue', name: input.queue, field: 'queue' }]);
  }

  private async view(row: {
    name: string;
    agent_url: string | null;
    dialect: Dialect;
    options: Record<string, unknown>;
    max_concurrent_calls: number | null;
    queue: string | null;
    created_at: Date;
    updated_at: Date;
  }): Promise<AiRouteView> {
    return { ...(await this.views([row]))[0] } as AiRouteView;
  }

  private async views(
    rows: ReadonlyArray<{
      name: string;
      agent_url: string | null;
      dialect: Dialect;
      options: Record<string, unknown>;
      max_concurrent_calls: number | null;
      queue: string | null;
      created_at: Date;
      updated_at: Date;
    }>,
  ): Promise<AiRouteView[]> {
    const scopes = rows.map((r) => aiRouteScope(r.name));
    const seats =
      scopes.length === 0
        ? []
        : await this.db
            .selectFrom('call_seats')
            .select(['scope', (eb) => eb.fn.countAll<number>().as('n')])
            .where('scope', 'in', scopes)
            .groupBy('scope')
            .execute();
    const active = new Map(seats.map((s) => [s.scope, Number(s.n)]));
    return rows.map((r) => ({
      name: r.name,
      agent_url: r.agent_url,
      dialect: r.dialect,
      options: r.options,
      max_concurrent_calls: r.max_concurrent_calls,
      queue: r.queue,
      active_calls: active.get(aiRouteScope(r.name)) ?? 0,
      created_at: r.created_at.toISOString(),
      updated_at: r.updated_at.toISOString(),
    }));
  }

  async create(input: CreateAiRouteInput): Promise<AiRouteView> {
    await this.check(input);
    try {
      const row = await this.db
        .insertInto('ai_routes')
        .values({
          name: input.name,
          agent_url: input.agent_url ?? null,
          ...(input.dialect === undefined ? {} : { dialect: input.dialect }),
          options: JSON.stringify(input.options ?? {}),
          max_concurrent_calls: input.max_concurrent_calls ?? null,
          queue: input.queue ?? null,
        })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      this.logger.info('AI route created', { ai_route: input.name });
      return this.view(row);
    } catch (err) {
      if (isUniqueViolation(err))
        throw new AppError('ERR_AI_ROUTE_EXISTS', `AI route '${input.name}' already exists`, {
          fields: [{ field: 'name', message: 'already exists' }],
        });
      throw err;
    }
  }

  async list(query: ListQuery): Promise<Page<AiRouteView>> {
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('ai_routes')
        .select(COLUMNS)
        .orderBy('name')
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .execute(),
      this.db
        .selectFrom('ai_routes')
        .select((eb) => eb.fn.countAll<number>().as('total'))
        .executeTakeFirstOrThrow(),
    ]);
    return { items: await this.views(rows), total: Number(count.total), page: query.page, per_page: query.per_page };
  }

  async get(name: string): Promise<AiRouteView> {
    const row = await this.db.selectFrom('ai_routes').select(COLUMNS).where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound(name);
    return this.view(row);
  }

  async update(name: string, input: AiRouteFields): Promise<AiRouteView> {
    await this.get(name);
    await this.check(input);
    const row = await this.db
      .updateTable('ai_routes')
      .set({
        ...(input.agent_url === undefined ? {} : { agent_url: input.agent_url }),
        ...(input.dialect === undefined ? {} : { dialect: input.dialect }),
        ...(input.options === undefined ? {} : { options: JSON.stringify(input.options) }),
        ...(input.max_concurrent_calls === undefined ? {} : { max_concurrent_calls: input.max_concurrent_calls }),
        ...(input.queue === undefined ? {} : { queue: input.queue }),
        updated_at: sql<Date>`now()`,
      })
      .where('name', '=', name)
      .returning(COLUMNS)
      .executeTakeFirst();
    if (!row) throw notFound(name);
    this.logger.info('AI route updated', { ai_route: name, fields: Object.keys(input) });
    return this.view(row);
  }

  async remove(name: string): Promise<{ name: string; deleted: true }> {
    await this.get(name);
    const usedBy = await this.targets.usedBy('ai_route', name);
    if (usedBy.length > 0)
      throw new AppError('ERR_AI_ROUTE_IN_USE', `AI route '${name}' is still named by ${usedBy.join(', ')}`, {
        used_by: usedBy,
      });
    const row = await this.db.deleteFrom('ai_routes').where('name', '=', name).returning('name').executeTakeFirst();
    if (!row) throw notFound(name);
    this.logger.info('AI route deleted', { ai_route: name });
    return { name, deleted: true };
  }
}
