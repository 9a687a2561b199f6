import { sql, type Kysely, type Selectable } from 'kysely';
import type { BlockedNumbersTable, Database, NumberRouteType, NumbersTable } from '../../../common/src/db/schema';
import { CodedError } from '../../../common/src/errors';
import type { NumberRoute } from './route-target';

export type NumberRow = Omit<Selectable<NumbersTable>, 'id'>;
export type BlockedNumberRow = Omit<Selectable<BlockedNumbersTable>, 'id'>;

export interface NewNumber extends NumberRoute {
  readonly number: string;
  readonly trunk_id: string | null;
  readonly recording_enabled: boolean;
  readonly enabled: boolean;
  readonly description: string | null;
  readonly hold_music?: string | null;
  readonly max_concurrent_calls?: number | null;
  readonly queue?: string | null;
  readonly queue_priority?: number;
}

export type NumberPatch = { -readonly [K in keyof Omit<NewNumber, 'number'>]?: NewNumber[K] };

export interface NumberFilter {
  readonly route_type?: NumberRouteType;
  readonly trunk_id?: string;
  readonly enabled?: boolean;
  readonly search?: string;
}

export class NumberExistsError extends CodedError<'ERR_NUMBER_EXISTS'> {
  constructor(readonly number: string) {
    super('ERR_NUMBER_EXISTS', `number ${number} already exists`);
  }
}

/** The trunk_id a number names does not exist. */
export class UnknownTrunkError extends CodedError<'ERR_NUMBER_TRUNK_UNKNOWN'> {
  constructor(readonly trunkId: string) {
    super('ERR_NUMBER_TRUNK_UNKNOWN', `no trunk ${trunkId}`);
  }
}

const COLUMNS = [
  'number',
  'route_type',
  'target',
  'ai_dialect',
  'ai_agent_url',
  'ai_options',
  'forward_timeout_seconds',
  'forward_fallback',
  'trunk_id',
  'recording_enabled',
  'enabled',
  'description',
  'hold_music',
  'max_concurrent_calls',
  'queue',
  'queue_priority',
  'created_at',
  'updated_at',
] as const;
const BLOCKED_COLUMNS = ['number', 'reason', 'created_at', 'updated_at'] as const;

function pgCode(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

function json(value: Record<string, unknown> | null | undefined): string | null | undefined {
  return value === undefined ? undefined : value === null ? null : JSON.stringify(value);
}

/** DIDs (`numbers`) and the blocklist (`blocked_numbers`); Kamailio reads both through views. */
export class NumberStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: NewNumber): Promise<NumberRow> {
    try {
      return await this.db
        .insertInto('numbers')
        .values({ ...row, ai_options: json(row.ai_options) ?? null })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
    } catch (err) {
      if (pgCode(err) === UNIQUE_VIOLATION) throw new NumberExistsError(row.number);
      if (pgCode(err) === FOREIGN_KEY_VIOLATION) throw new UnknownTrunkError(row.trunk_id ?? '');
      throw err;
    }
  }

  async find(number: string): Promise<NumberRow | undefined> {
    return this.db.selectFrom('numbers').select(COLUMNS).where('number', '=', number).executeTakeFirst();
  }

  async list(filter: NumberFilter, page: number, perPage: number): Promise<{ rows: NumberRow[]; total: number }> {
    let query = this.db.selectFrom('numbers');
    if (filter.route_type !== undefined) query = query.where('route_type', '=', filter.route_type);
    if (filter.trunk_id !== undefined) query = query.where('trunk_id', '=', filter.trunk_id);
    if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
    const digits = filter.search?.replace(/[^0-9]/g, '') ?? '';
    if (digits !== '') query = query.where('number', 'like', `%${digits}%`);
    const [rows, count] = await Promise.all([
      query
        .select(COLUMNS)
        .orderBy('number')
        .limit(perPage)
        .offset((page - 1) * perPage)
        .execute(),
      query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.total) };
  }

  /** Applies `change` to the locked current row; undefined when there is no such number. */
  async update(number: string, change: (current: NumberRow) => NumberPatch): Promise<NumberRow | undefined> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const current = await trx
          .selectFrom('numbers')
          .select(COLUMNS)
          .where('number', '=', number)
          .forUpdate()
          .executeTakeFirst();
        if (!current) return undefined;
        const patch = change(current);
        const { ai_options: options, ...rest } = patch;
        return trx
          .updateTable('numbers')
          .set({
            ...rest,
            ...(options === undefined ? {} : { ai_options: json(options) }),
            updated_at: sql<Date>`now()`,
          })
          .where('number', '=', number)
          .returning(COLUMNS)
          .executeTakeFirstOrThrow();
      });
    } catch (err) {
      if (pgCode(err) === FOREIGN_KEY_VIOLATION) throw new UnknownTrunkError('');
      throw err;
    }
  }

  async delete(number: string): Promise<boolean> {
    const row = await this.db.deleteFrom('numbers').where('number', '=', number).returning('number').executeTakeFirst();
    return row !== undefined;
  }

  async queueExists(name: string): Promise<boolean> {
    const row = await this.db.selectFrom('queues').select('name').where('name', '=', name).executeTakeFirst();
    return row !== undefined;
  }

  async sipUserExists(username: string): Promise<boolean> {
    const row = await this.db.selectFrom('subscriber').select('id').where('username', '=', username).executeTakeFirst();
    return row !== undefined;
  }

  /** Blocks a number, or updates the reason of a blocked one; says which. */
  async block(number: string, reason: string | null | undefined): Promise<{ row: BlockedNumberRow; created: boolean }> {
    const row = await this.db
      .insertInto('blocked_numbers')
      .values({ number, reason: reason ?? null })
      .onConflict((oc) =>
        oc.column('number').doUpdateSet((eb) => ({
          reason: reason === undefined ? eb.ref('blocked_numbers.reason') : eb.ref('excluded.reason'),
          updated_at: sql<Date>`now()`,
        })),
      )
      // xmax = 0 only for a freshly inserted row (PostgreSQL's upsert idiom).
      .returning([...BLOCKED_COLUMNS, sql<boolean>`(xmax = 0)`.as('created')])
      .executeTakeFirstOrThrow();
    const { created, ...rest } = row;
    return { row: rest, created };
  }

  async unblock(number: string): Promise<boolean> {
    const row = await this.db
      .deleteFrom('blocked_numbers')
      .where('number', '=', number)
      .returning('number')
      .executeTakeFirst();
    return row !== undefined;
  }

  async blocked(page: number, perPage: number): Promise<{ rows: BlockedNumberRow[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('blocked_numbers')
        .select(BLOCKED_COLUMNS)
        .orderBy('created_at', 'desc')
        .orderBy('number')
        .limit(perPage)
        .offset((page - 1) * perPage)
        .execute(),
      this.db
        .selectFrom('blocked_numbers')
        .select((eb) => eb.fn.countAll<number>().as('total'))
        .executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.total) };
  }
}
