import { sql, type Insertable, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { Database, SubscriberTable } from '../../../common/src/db/schema';
import { CodedError } from '../../../common/src/errors';

/** The columns the API may read: never ha1, ha1b or password. */
const PUBLIC_COLUMNS = [
  'id',
  'username',
  'domain',
  'display_name',
  'max_concurrent_calls',
  'enabled',
  'email',
  'notes',
  'created_at',
  'updated_at',
  'password_changed_at',
] as const;

export type SipUserRow = Pick<Selectable<SubscriberTable>, (typeof PUBLIC_COLUMNS)[number]>;
export type NewSipUserRow = Insertable<SubscriberTable>;
export type SipUserPatch = Omit<Updateable<SubscriberTable>, 'id' | 'username' | 'domain' | 'created_at'>;

export interface SipUserFilter {
  readonly search?: string;
  readonly enabled?: boolean;
}

export interface CallTotals {
  readonly count: number;
  readonly total_duration_seconds: number;
  readonly last_call_at: string | null;
}

/** Usernames that already exist (in the table or earlier in the same batch). */
export class DuplicateUsernamesError extends CodedError<'ERR_SIP_USER_EXISTS'> {
  constructor(readonly usernames: readonly string[]) {
    super(
      'ERR_SIP_USER_EXISTS',
      `usernames already exist: ${usernames.join(', ') || '(detected by the unique index)'}`,
    );
  }
}

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === UNIQUE_VIOLATION;
}

// ILIKE treats % and _ as wildcards and \ as the escape character.
function likePattern(search: string): string {
  return `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** SIP users as rows of Kamailio's `subscriber` table (PostgreSQL through Kysely). */
export class SipUserStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Inserts all rows in one transaction, or none: a username that exists already
   * (checked first, and again by the unique index) throws `DuplicateUsernamesError`.
   */
  async insertMany(rows: readonly NewSipUserRow[]): Promise<SipUserRow[]> {
    if (rows.length === 0) return [];
    try {
      return await this.db.transaction().execute(async (trx) => {
        const existing = await trx
          .selectFrom('subscriber')
          .select('username')
          .where(
            'username',
            'in',
            rows.map((r) => r.username),
          )
          .execute();
        if (existing.length > 0) throw new DuplicateUsernamesError(existing.map((r) => r.username));
        return trx
          .insertInto('subscriber')
          .values([...rows])
          .returning(PUBLIC_COLUMNS)
          .execute();
      });
    } catch (err) {
      // A concurrent insert of the same username got in between the check and ours.
      if (isUniqueViolation(err)) throw new DuplicateUsernamesError([]);
      throw err;
    }
  }

  async findById(id: number): Promise<SipUserRow | undefined> {
    return this.db.selectFrom('subscriber').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
  }

  async list(filter: SipUserFilter, page: number, perPage: number): Promise<{ rows: SipUserRow[]; total: number }> {
    let query = this.db.selectFrom('subscriber');
    if (filter.search !== undefined && filter.search !== '') {
      const pattern = likePattern(filter.search);
      query = query.where((eb) => eb.or([eb('username', 'ilike', pattern), eb('display_name', 'ilike', pattern)]));
    }
    if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled ? 1 : 0);
    const [rows, count] = await Promise.all([
      query
        .select(PUBLIC_COLUMNS)
        .orderBy('id')
        .limit(perPage)
        .offset((page - 1) * perPage)
        .execute(),
      query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.total) };
  }

  async update(id: number, patch: SipUserPatch): Promise<SipUserRow | undefined> {
    return this.db
      .updateTable('subscriber')
      .set({ ...patch, updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .returning(PUBLIC_COLUMNS)
      .executeTakeFirst();
  }

  async delete(id: number): Promise<SipUserRow | undefined> {
    return this.db.deleteFrom('subscriber').where('id', '=', id).returning(PUBLIC_COLUMNS).executeTakeFirst();
  }

  /** CDR totals (acc_cdrs) with the user as caller (src_user) and as callee (dst_user). */
  async callTotals(username: string): Promise<{ as_caller: CallTotals; as_callee: CallTotals }> {
    const totals = async (column: 'src_user' | 'dst_user'): Promise<CallTotals> => {
      const row = await this.db
        .selectFrom('acc_cdrs')
        .select((eb) => [
          eb.fn.countAll<number>().as('count'),
          eb.fn.coalesce(eb.fn.sum<number>('duration'), sql<number>`0`).as('seconds'),
          eb.fn.max('start_time').as('last'),
        ])
        .where(column, '=', username)
        .executeTakeFirstOrThrow();
      const last = row.last as Date | null;
      return {
        count: Number(row.count),
        total_duration_seconds: Math.round(Number(row.seconds) * 1000) / 1000,
        last_call_at: last ? last.toISOString() : null,
      };
    };
    const [as_caller, as_callee] = await Promise.all([totals('src_user'), totals('dst_user')]);
    return { as_caller, as_callee };
  }
}
