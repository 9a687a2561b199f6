import { sql, type Insertable, type Kysely, type Selectable, type Transaction, type Updateable } from 'kysely';
import type { Database, TrunksTable, TrunkStatus } from '../../../common/src/db/schema';
import { CodedError } from '../../../common/src/errors';
import { ADDRESS_GROUP_TRUNKS, DISPATCHER_SET_TRUNKS } from '../../../common/src/kamailio/names';
import { kamailioRows, NO_ROWS, reloadsBetween, type KamailioRows, type Reload } from './kamailio-rows';

/** Every column but the password: what the API reads for views. */
const PUBLIC_COLUMNS = [
  'trunk_id',
  'name',
  'provider',
  'proxy_address',
  'proxy_port',
  'transport',
  'username',
  'realm',
  'supports_inbound',
  'supports_outbound',
  'preferred_codecs',
  'max_concurrent_calls',
  'calls_per_second_limit',
  'sms_rate_limit',
  'sms_split_segments',
  'rate_per_minute',
  'billing_increment_seconds',
  'minimum_billable_seconds',
  'currency',
  'allowed_ips',
  'priority',
  'weight',
  'requires_registration',
  'status',
  'created_at',
  'updated_at',
] as const;

export type TrunkRow = Pick<Selectable<TrunksTable>, (typeof PUBLIC_COLUMNS)[number]> & {
  readonly has_password: boolean;
};
export type TrunkSecretRow = Selectable<TrunksTable>;
export type NewTrunkRow = Insertable<TrunksTable>;
export type TrunkPatch = Omit<Updateable<TrunksTable>, 'id' | 'trunk_id' | 'created_at' | 'updated_at'>;

export interface TrunkFilter {
  readonly provider?: string;
  readonly status?: TrunkStatus;
}

/** A change and the Kamailio reloads it needs once committed. */
export interface TrunkChange<T> {
  readonly result: T;
  readonly reloads: Reload[];
}

export class TrunkExistsError extends CodedError<'ERR_TRUNK_EXISTS'> {
  constructor(readonly trunkId: string) {
    super('ERR_TRUNK_EXISTS', `trunk ${trunkId} already exists`);
  }
}

export interface TrunkCallFigures {
  readonly today: number;
  readonly total: number;
  readonly total_duration_seconds: number;
  readonly last_call_at: string | null;
  readonly last_minute_attempts: number;
  readonly last_error: { sip_code: number; sip_reason: string; at: string; call_id: string } | null;
}

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === UNIQUE_VIOLATION;
}

function publicRow(row: TrunkSecretRow): TrunkRow {
  const { id: _id, password, ...rest } = row;
  return { ...rest, has_password: password !== null };
}

/**
 * Trunks in PostgreSQL, and Kamailio's rows for them (dispatcher, address, uacreg)
 * written in the same transaction, so Kamailio's tables never disagree with the
 * trunks table. The password is read only by `credentials()` and the row builders.
 */
export class TrunkStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** The rows Kamailio's tables hold for a trunk now. */
  private async currentRows(
    trx: Transaction<Database>,
    trunkId: string,
    trunkAuth: KamailioRows['trunkAuth'],
  ): Promise<KamailioRows> {
    const [dispatcher, address, uacreg] = await Promise.all([
      trx
        .selectFrom('dispatcher')
        .select(['setid', 'destination', 'flags', 'priority', 'attrs', 'description'])
        .where('setid', '=', DISPATCHER_SET_TRUNKS)
        .where('description', '=', trunkId)
        .execute(),
      trx
        .selectFrom('address')
        .select(['grp', 'ip_addr', 'mask', 'port', 'tag'])
        .where('grp', '=', ADDRESS_GROUP_TRUNKS)
        .where('tag', '=', trunkId)
        .execute(),
      trx
        .selectFrom('uacreg')
        .select([
          'l_uuid',
          'l_username',
          'l_domain',
          'r_username',
          'r_domain',
          'realm',
          'auth_username',
          'auth_password',
          'auth_proxy',
          'expires',
          'flags',
          'reg_delay',
        ])
        .where('l_uuid', '=', trunkId)
        .execute(),
    ]);
    return { dispatcher, address: address.map((a) => ({ ...a, tag: a.tag ?? '' })), uacreg, trunkAuth };
  }

  /**
   * Replaces Kamailio's rows for the trunk by `rows` and says what to reload. The
   * trunk_auth htable is a view of `trunks`, so only its before/after entries are
   * compared.
   */
  private async syncRows(
    trx: Transaction<Database>,
    trunkId: string,
    before: KamailioRows['trunkAuth'],
    rows: KamailioRows,
  ): Promise<Reload[]> {
    const current = await this.currentRows(trx, trunkId, before);
    const reloads = reloadsBetween(trunkId, current, rows);
    if (reloads.some((r) => r.kind === 'dispatcher')) {
      await trx
        .deleteFrom('dispatcher')
        .where('setid', '=', DISPATCHER_SET_TRUNKS)
        .where('description', '=', trunkId)
        .execute();
      if (rows.dispatcher.length > 0)
        await trx
          .insertInto('dispatcher')
          .values([...rows.dispatcher])
          .execute();
    }
    if (reloads.some((r) => r.kind === 'address')) {
      await trx.deleteFrom('address').where('grp', '=', ADDRESS_GROUP_TRUNKS).where('tag', '=', trunkId).execute();
      if (rows.address.length > 0)
        await trx
          .insertInto('address')
          .values([...rows.address])
          .execute();
    }
    if (reloads.some((r) => r.kind === 'registration')) {
      await trx.deleteFrom('uacreg').where('l_uuid', '=', trunkId).execute();
      if (rows.uacreg.length > 0)
        await trx
          .insertInto('uacreg')
          .values([...rows.uacreg])
          .execute();
    }
    return reloads;
  }

  async insert(row: NewTrunkRow): Promise<TrunkChange<TrunkRow>> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const inserted = await trx.insertInto('trunks').values(row).returningAll().executeTakeFirstOrThrow();
        const reloads = await this.syncRows(trx, inserted.trunk_id, [], kamailioRows(inserted));
        return { result: publicRow(inserted), reloads };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new TrunkExistsError(row.trunk_id);
      throw err;
    }
  }

  async find(trunkId: string): Promise<TrunkRow | undefined> {
    const row = await this.db.selectFrom('trunks').selectAll().where('trunk_id', '=', trunkId).executeTakeFirst();
    return row ? publicRow(row) : undefined;
  }

  /** The full row, password included: for the credentials endpoint only. */
  async credentials(trunkId: string): Promise<TrunkSecretRow | undefined> {
    return this.db.selectFrom('trunks').selectAll().where('trunk_id', '=', trunkId).executeTakeFirst();
  }

  async list(filter: TrunkFilter, page: number, perPage: number): Promise<{ rows: TrunkRow[]; total: number }> {
    let query = this.db.selectFrom('trunks');
    if (filter.provider !== undefined) query = query.where('provider', '=', filter.provider);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const [rows, count] = await Promise.all([
      query
        .select([...PUBLIC_COLUMNS, sql<boolean>`password IS NOT NULL`.as('has_password')])
        .orderBy('priority')
        .orderBy('trunk_id')
        .limit(perPage)
        .offset((page - 1) * perPage)
        .execute(),
      query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.total) };
  }

  /**
   * Applies `change` to the locked current row (it may throw to abort), stores the
   * patch it returns and brings Kamailio's rows in line. Undefined: no such trunk.
   */
  async update(
    trunkId: string,
    change: (current: TrunkSecretRow) => TrunkPatch,
  ): Promise<TrunkChange<TrunkRow> | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('trunks')
        .selectAll()
        .where('trunk_id', '=', trunkId)
        .forUpdate()
        .executeTakeFirst();
      if (!current) return undefined;
      const patch = change(current);
      const updated = await trx
        .updateTable('trunks')
        .set({ ...patch, updated_at: sql<Date>`now()` })
        .where('trunk_id', '=', trunkId)
        .returningAll()
        .executeTakeFirstOrThrow();
      const reloads = await this.syncRows(trx, trunkId, kamailioRows(current).trunkAuth, kamailioRows(updated));
      return { result: publicRow(updated), reloads };
    });
  }

  /** Deletes the trunk and its Kamailio rows; numbers that named it name none. */
  async delete(trunkId: string): Promise<TrunkChange<{ numbersDetached: number }> | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('trunks')
        .selectAll()
        .where('trunk_id', '=', trunkId)
        .forUpdate()
        .executeTakeFirst();
      if (!current) return undefined;
      const detached = await trx
        .selectFrom('numbers')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('trunk_id', '=', trunkId)
        .executeTakeFirstOrThrow();
      await trx.deleteFrom('trunks').where('trunk_id', '=', trunkId).execute();
      const reloads = await this.syncRows(trx, trunkId, kamailioRows(current).trunkAuth, NO_ROWS);
      return { result: { numbersDetached: Number(detached.n) }, reloads };
    });
  }

  /** The destination written for Kamailio for one trunk (dispatcher set 1), if any. */
  async dispatcherDestination(trunkId: string): Promise<{ destination: string; attrs: string } | undefined> {
    return this.db
      .selectFrom('dispatcher')
      .select(['destination', 'attrs'])
      .where('setid', '=', DISPATCHER_SET_TRUNKS)
      .where('description', '=', trunkId)
      .executeTakeFirst();
  }

  /** Per-trunk figures from acc (attempts, errors) and acc_cdrs (answered calls). */
  async callFigures(trunkId: string): Promise<TrunkCallFigures> {
    const [cdrs, attempts, lastError] = await Promise.all([
      this.db
        .selectFrom('acc_cdrs')
        .select((eb) => [
          eb.fn.countAll<number>().as('total'),
          sql<number>`count(*) FILTER (WHERE start_time >= date_trunc('day', localtimestamp))`.as('today'),
          eb.fn.coalesce(eb.fn.sum<number>('duration'), sql<number>`0`).as('seconds'),
          eb.fn.max('start_time').as('last'),
        ])
        .where('trunk_id', '=', trunkId)
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('acc')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('trunk_id', '=', trunkId)
        .where('method', '=', 'INVITE')
        .where('time', '>=', sql<Date>`localtimestamp - interval '60 seconds'`)
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('acc')
        .select(['sip_code', 'sip_reason', 'time', 'callid'])
        .where('trunk_id', '=', trunkId)
        .where('sip_code', '>=', '300')
        .orderBy('time', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst(),
    ]);
    const last = cdrs.last as Date | null;
    return {
      today: Number(cdrs.today),
      total: Number(cdrs.total),
      total_duration_seconds: Math.round(Number(cdrs.seconds) * 1000) / 1000,
      last_call_at: last ? last.toISOString() : null,
      last_minute_attempts: Number(attempts.n),
      last_error: lastError
        ? {
            sip_code: Number(lastError.sip_code),
            sip_reason: lastError.sip_reason,
            at: lastError.time.toISOString(),
            call_id: lastError.callid,
          }
        : null,
    };
  }

  /** Answered calls through any trunk since midnight. */
  async callsToday(): Promise<number> {
    const row = await this.db
      .selectFrom('acc_cdrs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('trunk_id', '<>', '')
      .where('start_time', '>=', sql<Date>`date_trunc('day', localtimestamp)`)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Active trunks that register to their provider (their uac records are keyed by trunk_id). */
  async registeringTrunkIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('trunks')
      .select('trunk_id')
      .where('status', '=', 'active')
      .where('requires_registration', '=', true)
      .execute();
    return rows.map((r) => r.trunk_id);
  }

  /** Counts for the summary. */
  async counts(): Promise<
    Array<{
      provider: string;
      status: TrunkStatus;
      supports_inbound: boolean;
      supports_outbound: boolean;
      requires_registration: boolean;
      n: number;
    }>
  > {
    const rows = await this.db
      .selectFrom('trunks')
      .select((eb) => [
        'provider',
        'status',
        'supports_inbound',
        'supports_outbound',
        'requires_registration',
        eb.fn.countAll<number>().as('n'),
      ])
      .groupBy(['provider', 'status', 'supports_inbound', 'supports_outbound', 'requires_registration'])
      .execute();
    return rows.map((r) => ({ ...r, n: Number(r.n) }));
  }
}
