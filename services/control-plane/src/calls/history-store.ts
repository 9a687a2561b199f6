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

type Sql = RawBuilder<unknown>;

const TRUE = sql`true`;

function and(conditions: readonly Sql[]): Sql {
  return conditions.length === 0 ? TRUE : sql.join(conditions, sql` AND `);
}

/** FAILURE_DISPOSITIONS as SQL over an integer status expression. */
function failureDisposition(status: Sql): Sql {
  const cases = Object.entries(FAILURE_DISPOSITIONS).map(
    ([code, d]) => sql`WHEN ${sql.lit(Number(code))} THEN ${sql.lit(d)}`,
  );
  return sql`(CASE ${status} ${sql.join(cases, sql` `)} ELSE 'failed' END)`;
}

/** The SIP user on a call: the caller when it is a user, else the callee, else the user a called number rings. */
function sipUser(caller: Sql, callee: Sql): Sql {
  return sql`(CASE
    WHEN EXISTS (SELECT 1 FROM subscriber s WHERE s.username = ${caller}) THEN ${caller}
    WHEN EXISTS (SELECT 1 FROM subscriber s WHERE s.username = ${callee}) THEN ${callee}
    ELSE (SELECT n.target FROM numbers n
          WHERE n.route_type = 'sip_user' AND n.number IN (${callee}, '+' || ${callee}) LIMIT 1)
  END)`;
}

/** Either party is the user, or the callee is a number that rings the user. */
function userMatches(user: string, caller: Sql, callee: Sql): Sql {
  return sql`(${caller} = ${user} OR ${callee} = ${user} OR ${callee} IN (
    SELECT substr(n.number, 2) FROM numbers n WHERE n.route_type = 'sip_user' AND n.target = ${user}
    UNION ALL SELECT n.number FROM numbers n WHERE n.route_type = 'sip_user' AND n.target = ${user}))`;
}

function numberMatches(spellings: readonly string[], caller: Sql, callee: Sql): Sql {
  const list = sql.join(spellings.map((s) => sql`${s}`));
  return sql`(${caller} IN (${list}) OR ${callee} IN (${list}))`;
}

/** What a source is read for: page rows (every column) or the total (only what the filter needs). */
type Shape = 'rows' | 'count';

// ----- AI calls (table calls) -----

/**
 * A call the gateway wrote no disposition for was answered (the gateway answers every
 * call it keeps), unless the caller cancelled it first; an outbound one never answered
 * failed.
 */
const AI_DISPOSITION = sql`coalesce(c.disposition, CASE
    WHEN c.answered_at IS NOT NULL THEN 'answered'
    WHEN c.end_reason = 'cancelled' THEN 'cancelled'
    WHEN c.direction = 'outbound' THEN 'failed'
    ELSE 'answered' END)::text`;
/** Inbound calls are answered when the gateway takes them. */
const AI_ANSWERED_AT = sql`coalesce(c.answered_at, CASE WHEN c.direction = 'inbound' AND c.disposition IS NULL
    AND c.end_reason IS DISTINCT FROM 'cancelled' THEN c.started_at END)`;
/** The call's own trunk (outbound calls), else the one Kamailio's CDR of the same Call-ID names (calls in from a trunk). */
const AI_TRUNK_JOIN = sql`LEFT JOIN LATERAL (SELECT a.trunk_id FROM acc_cdrs a
    WHERE a.callid = c.sip_call_id AND a.trunk_id <> '' ORDER BY a.id DESC LIMIT 1) cdr ON true`;
const AI_TRUNK = sql`coalesce(nullif(c.trunk_id, ''), cdr.trunk_id)`;

/** The AI calls that ended, as history rows (or their count). */
function aiCalls(f: HistoryFilter, shape: Shape): Sql {
  const where: Sql[] = [sql`c.state = 'ended'`];
  if (f.from) where.push(sql`c.started_at >= ${f.from}`);
  if (f.to) where.push(sql`c.started_at < ${f.to}`);
  if (f.number) where.push(numberMatches(f.number, sql`c.from_number`, sql`c.to_number`));
  if (f.user) where.push(userMatches(f.user, sql`c.from_number`, sql`c.to_number`));
  if (f.direction) where.push(sql`c.direction = ${f.direction}`);
  // As a semi-join, not through the per-row lateral: the CDRs of a trunk are hashed once.
  if (f.trunk)
    where.push(sql`(c.trunk_id = ${f.trunk} OR (nullif(c.trunk_id, '') IS NULL
      AND c.sip_call_id IN (SELECT a.callid FROM acc_cdrs a WHERE a.trunk_id = ${f.trunk})))`);
  if (f.disposition) where.push(sql`${AI_DISPOSITION} = ${f.disposition}`);
  if (shape === 'count') {
    return sql`SELECT count(*) FROM calls c WHERE ${and(where)}`;
  }
  return sql`SELECT r.*, r.started_at AS sort_time FROM (
    SELECT 'ai'::text AS kind, c.id AS seq, c.call_id AS id, c.sip_call_id, c.direction::text AS direction,
      c.from_number AS from_party, c.to_number AS to_party,
      ${sipUser(sql`c.from_number`, sql`c.to_number`)} AS sip_user,
      ${AI_TRUNK} AS trunk,
      c.started_at, d.answered_at, c.ended_at,
      CASE WHEN d.disposition = 'answered' AND c.ended_at IS NOT NULL
        THEN greatest(0, extract(epoch FROM c.ended_at - d.answered_at))::float8 ELSE 0 END AS duration,
      d.disposition,
      coalesce(c.sip_status, CASE d.disposition WHEN 'answered' THEN 200 WHEN 'cancelled' THEN 487 END) AS sip_status,
      c.end_reason, c.recording_path IS NOT NULL AS recorded
    FROM calls c
    CROSS JOIN LATERAL (SELECT ${AI_DISPOSITION} AS disposition, ${AI_ANSWERED_AT} AS answered_at) d
    ${AI_TRUNK_JOIN}
    WHERE ${and(where)}
  ) r`;
}

// ----- calls Kamailio only proxied (acc_cdrs, acc) -----

/** The final status of a dialog's INVITE: acc's 2xx if there is one, else its last failure. */
const FINAL_STATUS_JOIN = sql`LEFT JOIN LATERAL (SELECT a.sip_code::int AS code, a.sip_reason AS reason FROM acc a
    WHERE a.callid = d.callid AND a.method = 'INVITE' AND a.sip_code ~ '^[2-6][0-9][0-9]$'
    ORDER BY a.sip_code LIKE '2%' DESC, a.id DESC LIMIT 1) fin ON true`;
/**
 * The same for counting every CDR of a range at once: one pass over acc grouped by
 * Call-ID instead of one index probe per CDR. acc's INVITE rows are written when the
 * call is answered or fails, the CDR's start_time too (same second): an hour either
 * side of the range is margin enough.
 */
function finalStatusByCallId(f: HistoryFilter): Sql {
  const where: Sql[] = [sql`a.method = 'INVITE'`, sql`a.sip_code ~ '^[2-6][0-9][0-9]$'`];
  if (f.from) where.push(sql`a.time >= ${f.from}::timestamptz::timestamp - interval '1 hour'`);
  if (f.to) where.push(sql`a.time < ${f.to}::timestamptz::timestamp + interval '1 hour'`);
  return sql`LEFT JOIN (SELECT a.callid, coalesce(
      min(a.sip_code::int) FILTER (WHERE a.sip_code LIKE '2%'),
      (array_agg(a.sip_code::int ORDER BY a.id DESC))[1]) AS code
    FROM acc a WHERE ${and(where)} GROUP BY a.callid) fin ON fin.callid = d.callid`;
}
const ANSWERED = sql`coalesce(fin.code BETWEEN 200 AND 299, d.duration > 0)`;
const PROXIED_DISPOSITION = sql`(CASE WHEN ${ANSWERED} THEN 'answered' WHEN fin.code IS NULL THEN 'failed'
    ELSE ${failureDisposition(sql`fin.code`)} END)`;
const PROXIED_DIRECTION = sql`(CASE WHEN d.trunk_id = '' THEN 'internal'
    WHEN EXISTS (SELECT 1 FROM subscriber s WHERE s.username = d.src_user) THEN 'outbound'
    ELSE 'inbound' END)`;

/**
 * Kamailio's CDRs of calls no gateway handled, as history rows (or their count): one
 * per dialog, answered or not, and one dialog per Call-ID (the dialog module takes a
 * request that spirals back through the proxy as the same dialog). acc and acc_cdrs
 * hold Kamailio's local time without a zone; PostgreSQL's TimeZone is taken to be
 * Kamailio's (both run where the stack runs). Rows are read in start_time order: that
 * column is indexed, its cast is not.
 */
function proxiedCalls(f: HistoryFilter, shape: Shape): Sql {
  const where: Sql[] = [sql`NOT EXISTS (SELECT 1 FROM calls c WHERE c.sip_call_id = d.callid)`];
  if (f.from) where.push(sql`d.start_time >= ${f.from}::timestamptz::timestamp`);
  if (f.to) where.push(sql`d.start_time < ${f.to}::timestamptz::timestamp`);
  if (f.number) where.push(numberMatches(f.number, sql`d.src_user`, sql`d.dst_user`));
  if (f.user) where.push(userMatches(f.user, sql`d.src_user`, sql`d.dst_user`));
  if (f.trunk) where.push(sql`d.trunk_id = ${f.trunk}`);
  if (f.direction) where.push(sql`${PROXIED_DIRECTION} = ${f.direction}`);
  if (f.disposition) where.push(sql`${PROXIED_DISPOSITION} = ${f.disposition}`);
  if (shape === 'count') {
    return sql`SELECT count(*) FROM acc_cdrs d ${f.disposition ? finalStatusByCallId(f) : sql``} WHERE ${and(where)}`;
  }
  return sql`SELECT 'proxied'::text AS kind, d.id AS seq, 'cdr:' || d.id AS id, d.callid AS sip_call_id,
      ${PROXIED_DIRECTION} AS direction,
      d.src_user AS from_party, d.dst_user AS to_party,
      ${sipUser(sql`d.src_user`, sql`d.dst_user`)} AS sip_user,
      nullif(d.trunk_id, '') AS trunk,
      d.start_time::timestamptz AS started_at,
      CASE WHEN ${ANSWERED} THEN d.start_time::timestamptz END AS answered_at,
      d.end_time::timestamptz AS ended_at,
      CASE WHEN ${ANSWERED} THEN d.duration::float8 ELSE 0 END AS duration,
      ${PROXIED_DISPOSITION} AS disposition,
      coalesce(fin.code, CASE WHEN ${ANSWERED} THEN 200 END) AS sip_status,
      CASE WHEN ${ANSWERED} THEN nullif(d.end_reason, '') ELSE nullif(fin.reason, '') END AS end_reason,
      false AS recorded,
      d.start_time AS sort_time
    FROM acc_cdrs d
    ${FINAL_STATUS_JOIN}
    WHERE ${and(where)}`;
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
    const sources: Array<(f: HistoryFilter, shape: Shape) => Sql> = [];
    if (filter.kind !== 'proxied') sources.push(aiCalls);
    if (filter.kind !== 'ai') sources.push(proxiedCalls);
    // Each source's own newest first, on its indexed column; the merge sorts on started_at.
    const topOf = (source: Sql): Sql =>
      sql`(SELECT ${COLUMNS} FROM (${source}) s ORDER BY s.sort_time DESC, s.seq DESC LIMIT ${upTo})`;
    const [rows, count] = await Promise.all([
      sql<HistoryRow>`SELECT h.*, t.rate_per_minute::text AS rate_per_minute, t.billing_increment_seconds,
          t.minimum_billable_seconds, t.currency
        FROM (${sql.join(
          sources.map((source) => topOf(source(filter, 'rows'))),
          sql` UNION ALL `,
        )}) h
        LEFT JOIN trunks t ON t.trunk_id = h.trunk
        ORDER BY h.started_at DESC, h.kind, h.seq DESC
        LIMIT ${perPage} OFFSET ${upTo - perPage}`.execute(this.db),
      sql<{ total: number }>`SELECT ${sql.join(
        sources.map((source) => sql`(${source(filter, 'count')})`),
        sql` + `,
      )} AS total`.execute(this.db),
    ]);
    return { rows: rows.rows, total: Number(count.rows[0]?.total ?? 0) };
  }
}
