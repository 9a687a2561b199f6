import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../../../common/src/db/schema';
import { FAILURE_DISPOSITIONS } from './history';
import type { Disposition, HistoryDirection, HistoryKind } from './history-schemas';

export interface HistoryFilter {
  /** Either party is any of these spellings. */
  readonly number?: readonly string[];
  /** A SIP user name: caller, callee, or the user a called number rings. */
  readonly user?: string;
  readonly trunk?: string;
  readonly direction?: HistoryDirection;
  readonly disposition?: Disposition;
  readonly kind?: HistoryKind;
  /** started_at ≥ this. */
  readonly from?: Date;
  /** started_at < this. */
  readonly to?: Date;
}

/** One finished call, from either source, with its trunk's billing when it has one. */
export interface HistoryRow {
  readonly kind: HistoryKind;
  readonly id: string;
  readonly sip_call_id: string;
  readonly direction: HistoryDirection;
  readonly from_party: string;
  readonly to_party: string;
  readonly sip_user: string | null;
  readonly trunk: string | null;
  readonly started_at: Date;
  readonly answered_at: Date | null;
  readonly ended_at: Date | null;
  /** Seconds (REAL in acc_cdrs, an interval's epoch for AI calls). */
  readonly duration: number;
  readonly disposition: Disposition;
  readonly sip_status: number | null;
  readonly end_reason: string | null;
  readonly recorded: boolean;
  readonly rate_per_minute: string | null;
  readonly billing_increment_seconds: number | null;
  readonly minimum_billable_seconds: number | null;
  readonly currency: string | null;
}

const TRUE = sql`true`;

function and(conditions: readonly RawBuilder<unknown>[]): RawBuilder<unknown> {
  return conditions.length === 0 ? TRUE : sql.join(conditions, sql` AND `);
}

/** FAILURE_DISPOSITIONS as SQL over an integer status expression. */
function failureDisposition(status: RawBuilder<unknown>): RawBuilder<unknown> {
  const cases = Object.entries(FAILURE_DISPOSITIONS).map(
    ([code, d]) => sql`WHEN ${sql.lit(Number(code))} THEN ${sql.lit(d)}`,
  );
  return sql`(CASE ${status} ${sql.join(cases, sql` `)} ELSE 'failed' END)`;
}

/** The SIP user on a call: the caller when it is a user, else the callee, else the user a called number rings. */
function sipUser(caller: RawBuilder<unknown>, callee: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(CASE
    WHEN EXISTS (SELECT 1 FROM subscriber s WHERE s.username = ${caller}) THEN ${caller}
    WHEN EXISTS (SELECT 1 FROM subscriber s WHERE s.username = ${callee}) THEN ${callee}
    ELSE (SELECT n.target FROM numbers n
          WHERE n.route_type = 'sip_user' AND n.number IN (${callee}, '+' || ${callee}) LIMIT 1)
  END)`;
}

/** Either party is the user, or the callee is a number that rings the user. */
function userMatches(user: string, caller: RawBuilder<unknown>, callee: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(${caller} = ${user} OR ${callee} = ${user} OR ${callee} IN (
    SELECT substr(n.number, 2) FROM numbers n WHERE n.route_type = 'sip_user' AND n.target = ${user}
    UNION ALL SELECT n.number FROM numbers n WHERE n.route_type = 'sip_user' AND n.target = ${user}))`;
}

function numberMatches(spellings: readonly string[], caller: RawBuilder<unknown>, callee: RawBuilder<unknown>) {
  const list = sql.join(spellings.map((s) => sql`${s}`));
  return sql`(${caller} IN (${list}) OR ${callee} IN (${list}))`;
}

/**
 * The AI calls that ended, as history rows. The trunk is the call's own (outbound
 * calls) or the one Kamailio's CDR of the same Call-ID names (calls in from a trunk).
 * A call the gateway wrote no disposition for was answered (the gateway answers every
 * call it keeps), unless the caller cancelled it first; an outbound one never
 * answered failed.
 */
function aiCalls(f: HistoryFilter): RawBuilder<unknown> {
  const where: RawBuilder<unknown>[] = [sql`c.state = 'ended'`];
  if (f.from) where.push(sql`c.started_at >= ${f.from}`);
  if (f.to) where.push(sql`c.started_at < ${f.to}`);
  if (f.number) where.push(numberMatches(f.number, sql`c.from_number`, sql`c.to_number`));
  if (f.user) where.push(userMatches(f.user, sql`c.from_number`, sql`c.to_number`));
  if (f.direction) where.push(sql`c.direction = ${f.direction}`);
  const outer: RawBuilder<unknown>[] = [];
  if (f.trunk) outer.push(sql`r.trunk = ${f.trunk}`);
  if (f.disposition) outer.push(sql`r.disposition = ${f.disposition}`);
  return sql`SELECT * FROM (
    SELECT 'ai'::text AS kind, c.id AS seq, c.call_id AS id, c.sip_call_id, c.direction::text AS direction,
      c.from_number AS from_party, c.to_number AS to_party,
      ${sipUser(sql`c.from_number`, sql`c.to_number`)} AS sip_user,
      coalesce(nullif(c.trunk_id, ''), cdr.trunk_id) AS trunk,
      c.started_at,
      d.answered_at, c.ended_at,
      CASE WHEN d.disposition = 'answered' AND c.ended_at IS NOT NULL
        THEN greatest(0, extract(epoch FROM c.ended_at - d.answered_at))::float8 ELSE 0 END AS duration,
      d.disposition,
      coalesce(c.sip_status, CASE d.disposition WHEN 'answered' THEN 200 WHEN 'cancelled' THEN 487 END) AS sip_status,
      c.end_reason, c.recording_path IS NOT NULL AS recorded
    FROM calls c
    CROSS JOIN LATERAL (SELECT
      coalesce(c.disposition, CASE
        WHEN c.answered_at IS NOT NULL THEN 'answered'
        WHEN c.end_reason = 'cancelled' THEN 'cancelled'
        WHEN c.direction = 'outbound' THEN 'failed'
        ELSE 'answered' END)::text AS disposition,
      coalesce(c.answered_at, CASE WHEN c.direction = 'inbound' AND c.disposition IS NULL
        AND c.end_reason IS DISTINCT FROM 'cancelled' THEN c.started_at END) AS answered_at) d
    LEFT JOIN LATERAL (SELECT a.trunk_id FROM acc_cdrs a
      WHERE a.callid = c.sip_call_id AND a.trunk_id <> '' ORDER BY a.id DESC LIMIT 1) cdr ON true
    WHERE ${and(where)}
  ) r WHERE ${and(outer)}`;
}

/**
 * Kamailio's CDRs (one per dialog, answered or not) of calls no gateway handled. The
 * final status is acc's: its 2xx for the INVITE if there is one, else its last
 * failure. acc and acc_cdrs are Kamailio's local time without a zone; PostgreSQL's
 * TimeZone is taken to be Kamailio's (both run where the stack runs).
 */
function proxiedCalls(f: HistoryFilter): RawBuilder<unknown> {
  const where: RawBuilder<unknown>[] = [
    sql`NOT EXISTS (SELECT 1 FROM calls c WHERE c.sip_call_id = d.callid)`,
    sql`NOT EXISTS (SELECT 1 FROM acc_cdrs n WHERE n.callid = d.callid AND n.id > d.id)`,
  ];
  if (f.from) where.push(sql`d.start_time >= ${f.from}::timestamptz::timestamp`);
  if (f.to) where.push(sql`d.start_time < ${f.to}::timestamptz::timestamp`);
  if (f.number) where.push(numberMatches(f.number, sql`d.src_user`, sql`d.dst_user`));
  if (f.user) where.push(userMatches(f.user, sql`d.src_user`, sql`d.dst_user`));
  if (f.trunk) where.push(sql`d.trunk_id = ${f.trunk}`);
  const outer: RawBuilder<unknown>[] = [];
  if (f.direction) outer.push(sql`r.direction = ${f.direction}`);
  if (f.disposition) outer.push(sql`r.disposition = ${f.disposition}`);
  return sql`SELECT * FROM (
    SELECT 'proxied'::text AS kind, d.id AS seq, 'cdr:' || d.id AS id, d.callid AS sip_call_id,
      CASE WHEN d.trunk_id = '' THEN 'internal'
        WHEN EXISTS (SELECT 1 FROM subscriber s WHERE s.username = d.src_user) THEN 'outbound'
        ELSE 'inbound' END AS direction,
      d.src_user AS from_party, d.dst_user AS to_party,
      ${sipUser(sql`d.src_user`, sql`d.dst_user`)} AS sip_user,
      nullif(d.trunk_id, '') AS trunk,
      d.start_time::timestamptz AS started_at,
      CASE WHEN o.answered THEN d.start_time::timestamptz END AS answered_at,
      d.end_time::timestamptz AS ended_at,
      CASE WHEN o.answered THEN d.duration::float8 ELSE 0 END AS duration,
      CASE WHEN o.answered THEN 'answered' WHEN fin.code IS NULL THEN 'failed'
        ELSE ${failureDisposition(sql`fin.code`)} END AS disposition,
      coalesce(fin.code, CASE WHEN o.answered THEN 200 END) AS sip_status,
      CASE WHEN o.answered THEN nullif(d.end_reason, '') ELSE nullif(fin.reason, '') END AS end_reason,
      false AS recorded
    FROM acc_cdrs d
    LEFT JOIN LATERAL (SELECT a.sip_code::int AS code, a.sip_reason AS reason FROM acc a
      WHERE a.callid = d.callid AND a.method = 'INVITE' AND a.sip_code ~ '^[2-6][0-9][0-9]$'
      ORDER BY a.sip_code LIKE '2%' DESC, a.id DESC LIMIT 1) fin ON true
    CROSS JOIN LATERAL (SELECT coalesce(fin.code BETWEEN 200 AND 299, d.duration > 0) AS answered) o
    WHERE ${and(where)}
  ) r WHERE ${and(outer)}`;
}

const COLUMNS = sql`kind, seq, id, sip_call_id, direction, from_party, to_party, sip_user, trunk,
  started_at, answered_at, ended_at, duration, disposition, sip_status, end_reason, recorded`;

/**
 * Reads the history. Each source is read newest first and cut at the end of the
 * requested page before the two are merged, so a page costs index scans of at most
 * page × per_page rows per source (calls_started_at_idx, acc_cdrs_start_time_idx, or
 * the party and trunk indexes when filtered), not a pass over every call.
 */
export class HistoryStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(filter: HistoryFilter, page: number, perPage: number): Promise<{ rows: HistoryRow[]; total: number }> {
    const upTo = page * perPage;
    const sources: RawBuilder<unknown>[] = [];
    if (filter.kind !== 'proxied') sources.push(aiCalls(filter));
    if (filter.kind !== 'ai') sources.push(proxiedCalls(filter));
    const topOf = (source: RawBuilder<unknown>): RawBuilder<unknown> =>
      sql`(SELECT ${COLUMNS} FROM (${source}) s ORDER BY started_at DESC, seq DESC LIMIT ${upTo})`;
    const countOf = (source: RawBuilder<unknown>): RawBuilder<unknown> => sql`(SELECT count(*) FROM (${source}) s)`;
    const [rows, count] = await Promise.all([
      sql<HistoryRow>`SELECT h.*, t.rate_per_minute::text AS rate_per_minute, t.billing_increment_seconds,
          t.minimum_billable_seconds, t.currency
        FROM (${sql.join(sources.map(topOf), sql` UNION ALL `)}) h
        LEFT JOIN trunks t ON t.trunk_id = h.trunk
        ORDER BY h.started_at DESC, h.kind, h.seq DESC
        LIMIT ${perPage} OFFSET ${upTo - perPage}`.execute(this.db),
      sql<{ total: number }>`SELECT ${sql.join(sources.map(countOf), sql` + `)} AS total`.execute(this.db),
    ]);
    return { rows: rows.rows, total: Number(count.rows[0]?.total ?? 0) };
  }
}
