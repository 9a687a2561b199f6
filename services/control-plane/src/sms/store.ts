import { sql, type Kysely, type Selectable } from 'kysely';
import type {
  Database,
  SmsDestination,
  SmsDirection,
  SmsMessagesTable,
  SmsSource,
  SmsStatus,
} from '../../../common/src/db/schema';

export type SmsRow = Selectable<SmsMessagesTable>;

/** A new message, as the API, the SIP endpoint or an AI reply hands it in. */
export interface NewSms {
  readonly messageId: string;
  readonly direction: SmsDirection;
  readonly from: string;
  readonly to: string;
  readonly body: string;
  readonly encoding: 'gsm7' | 'ucs2';
  readonly segments: number;
  readonly status: 'queued' | 'received' | 'partial' | 'failed';
  readonly source: SmsSource;
  readonly destination: SmsDestination;
  readonly targetUser?: string | null;
  readonly trunkId?: string | null;
  readonly senderUser?: string | null;
  readonly inReplyTo?: string | null;
  readonly idempotencyKey?: string | null;
  readonly requestHash?: string | null;
  readonly sipCallId?: string | null;
  readonly sipCseq?: number | null;
  readonly part?: { readonly ref: number; readonly seq: number; readonly total: number } | null;
  readonly lastError?: string | null;
  /** When it is first due (default now; null: not queued). */
  readonly dueNow?: boolean;
}

/** The outcome of one attempt, written back in batches. */
export interface SmsOutcome {
  readonly id: number;
  readonly messageId: string;
  readonly status: SmsStatus;
  /** Due again after this many ms (retry), or null (final). */
  readonly retryInMs: number | null;
  readonly sipStatus: number | null;
  readonly error: string | null;
  readonly trunkId: string | null;
  readonly partsSent: number;
  /** The attempt did not count (a user who is offline): attempts goes back down by one. */
  readonly refundAttempt: boolean;
  readonly detail: string | null;
}

/** A POST /api/sms/send, validated, for `insertApiSends`. */
export interface ApiSend {
  readonly messageId: string;
  readonly from: string;
  readonly to: string;
  readonly body: string;
  readonly encoding: 'gsm7' | 'ucs2';
  readonly segments: number;
  readonly idempotencyKey: string | null;
  readonly requestHash: string | null;
}

export interface ApiSendResult {
  /** from_number is an enabled number of ours. */
  readonly ours: boolean;
  /** to_number is on the blocklist. */
  readonly blocked: boolean;
  /** from_number's trunk. */
  readonly trunkId: string | null;
  /** The queued row; null when refused (not ours, blocked) or the idempotency key was taken. */
  readonly row: SmsRow | null;
}

function stripChecks(
  r: SmsRow & { ord?: number; ours?: boolean; blocked?: boolean; number_trunk?: string | null },
): SmsRow {
  const { ord: _o, ours: _u, blocked: _b, number_trunk: _t, ...row } = r;
  return row;
}

const COLUMNS = (s: NewSms) => ({
  message_id: s.messageId,
  direction: s.direction,
  from_number: s.from,
  to_number: s.to,
  body: s.body,
  encoding: s.encoding,
  segments: s.segments,
  status: s.status,
  source: s.source,
  destination: s.destination,
  target_user: s.targetUser ?? null,
  trunk_id: s.trunkId ?? null,
  sender_user: s.senderUser ?? null,
  in_reply_to: s.inReplyTo ?? null,
  idempotency_key: s.idempotencyKey ?? null,
  request_hash: s.requestHash ?? null,
  sip_call_id: s.sipCallId ?? null,
  sip_cseq: s.sipCseq ?? null,
  part_ref: s.part?.ref ?? null,
  part_seq: s.part?.seq ?? null,
  part_total: s.part?.total ?? null,
  last_error: s.lastError ?? null,
});

/**
 * The SMS tables (db/migrations/0020_sms.sql): messages, their status history and the
 * queue operations. Each write that changes a status also appends to sms_events in
 * the same statement, so the history never disagrees with the row.
 */
export class SmsStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Inserts a message (and its first event). With an idempotency key already used,
   * nothing is inserted and the existing row comes back with `created: false`.
   */
  async insert(s: NewSms, db: Kysely<Database> = this.db): Promise<{ row: SmsRow; created: boolean }> {
    const cols = COLUMNS(s);
    const due = s.dueNow === false || s.status === 'partial' || s.status === 'failed' ? null : sql`now()`;
    const inserted = await sql<SmsRow>`
      WITH m AS (
        INSERT INTO sms_messages (message_id, direction, from_number, to_number, body, encoding, segments, status, source,
          destination, target_user, trunk_id, sender_user, in_reply_to, idempotency_key, request_hash, sip_call_id, sip_cseq,
          part_ref, part_seq, part_total, last_error, next_attempt_at)
        VALUES (${cols.message_id}, ${cols.direction}, ${cols.from_number}, ${cols.to_number}, ${cols.body}, ${cols.encoding},
          ${cols.segments}, ${cols.status}, ${cols.source}, ${cols.destination}, ${cols.target_user}, ${cols.trunk_id},
          ${cols.sender_user}, ${cols.in_reply_to}, ${cols.idempotency_key}, ${cols.request_hash}, ${cols.sip_call_id},
          ${cols.sip_cseq}, ${cols.part_ref}, ${cols.part_seq}, ${cols.part_total}, ${cols.last_error}, ${due})
        ON CONFLICT DO NOTHING
        RETURNING *),
      e AS (INSERT INTO sms_events (message_id, status, detail) SELECT message_id, status, last_error FROM m)
      SELECT * FROM m`.execute(db);
    const row = inserted.rows[0];
    if (row) return { row, created: true };
    // A conflict: the same idempotency key, or the same inbound MESSAGE (Call-ID, CSeq) again.
    const existing = await (s.idempotencyKey
      ? db.selectFrom('sms_messages').selectAll().where('idempotency_key', '=', s.idempotencyKey).executeTakeFirst()
      : db
          .selectFrom('sms_messages')
          .selectAll()
          .where('direction', '=', 'inbound')
          .where('sip_call_id', '=', s.sipCallId ?? '')
          .where('sip_cseq', '=', s.sipCseq ?? -1)
          .executeTakeFirst());
    if (!existing) throw new Error(`SMS ${s.messageId} conflicted with a row that is gone`);
    return { row: existing, created: false };
  }

  /**
   * Queues API sends in one statement (one round trip, one commit for the lot): each
   * row is checked against `numbers` (from_number ours and enabled: its trunk) and
   * `blocked_numbers` (to_number) and inserted, with its first event, only when both
   * pass. Results come back in input order; `row` is null for a refused row and for an
   * idempotency key already used (the caller looks that one up with `insert`).
   */
  async insertApiSends(sends: readonly ApiSend[]): Promise<ApiSendResult[]> {
    if (sends.length === 0) return [];
    const col = <T>(f: (s: ApiSend) => T): T[] => sends.map(f);
    const res = await sql<SmsRow & { ord: number; ours: boolean; blocked: boolean; number_trunk: string | null }>`
      WITH i AS (
        SELECT * FROM unnest(${col((s) => s.messageId)}::text[], ${col((s) => s.from)}::text[], ${col((s) => s.to)}::text[],
          ${col((s) => s.body)}::text[], ${col((s) => s.encoding)}::text[], ${col((s) => s.segments)}::int[],
          ${col((s) => s.idempotencyKey)}::text[], ${col((s) => s.requestHash)}::text[])
          WITH ORDINALITY AS i(message_id, from_number, to_number, body, encoding, segments, idempotency_key, request_hash, ord)),
      c AS (
        SELECT i.*, n.trunk_id, n.id IS NOT NULL AS ours, b.id IS NOT NULL AS blocked
        FROM i
        LEFT JOIN numbers n ON n.number = i.from_number AND n.enabled
        LEFT JOIN blocked_numbers b ON b.number = i.to_number),
      m AS (
        INSERT INTO sms_messages (message_id, direction, from_number, to_number, body, encoding, segments, status, source,
          destination, trunk_id, idempotency_key, request_hash, next_attempt_at)
        SELECT message_id, 'outbound', from_number, to_number, body, encoding, segments, 'queued', 'api',
          'trunk', trunk_id, idempotency_key, request_hash, now()
        FROM c WHERE ours AND NOT blocked ORDER BY ord
        ON CONFLICT DO NOTHING
        RETURNING *),
      e AS (INSERT INTO sms_events (message_id, status) SELECT message_id, status FROM m)
      SELECT c.ord::int AS ord, c.ours, c.blocked, c.trunk_id AS number_trunk, m.*
      FROM c LEFT JOIN m ON m.message_id = c.message_id
      ORDER BY c.ord`.execute(this.db);
    return res.rows.map((r) => ({
      ours: r.ours,
      blocked: r.blocked,
      trunkId: r.number_trunk,
      row: r.id === null ? null : stripChecks(r),
    }));
  }

  async get(messageId: string): Promise<SmsRow | undefined> {
    return this.db.selectFrom('sms_messages').selectAll().where('message_id', '=', messageId).executeTakeFirst();
  }

  async events(messageId: string) {
    return this.db.selectFrom('sms_events').selectAll().where('message_id', '=', messageId).orderBy('id').execute();
  }

  /**
   * Claims up to `limit` due messages for worker `worker` (FOR UPDATE SKIP LOCKED, so
   * replicas never claim the same row): status → sending/delivering, attempts + 1.
   */
  async claimDue(worker: number, limit: number): Promise<SmsRow[]> {
    const res = await sql<SmsRow>`
      WITH due AS (
        SELECT id FROM sms_messages
        WHERE status IN ('queued', 'received') AND next_attempt_at <= now()
        ORDER BY next_attempt_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED),
      upd AS (
        UPDATE sms_messages m
        SET status = CASE WHEN m.status = 'queued' THEN 'sending' ELSE 'delivering' END,
            attempts = m.attempts + 1, claimed_by = ${worker}, updated_at = now()
        FROM due WHERE m.id = due.id
        RETURNING m.*),
      e AS (INSERT INTO sms_events (message_id, status, attempt, trunk_id) SELECT message_id, status, attempts, trunk_id FROM upd)
      SELECT * FROM upd ORDER BY id`.execute(this.db);
    return res.rows;
  }

  /** Messages still claimed by `worker`: after a crash, what it was sending. */
  async takeOver(dead: number, worker: number): Promise<SmsRow[]> {
    const res = await sql<SmsRow>`
      WITH upd AS (
        UPDATE sms_messages SET claimed_by = ${worker}, updated_at = now()
        WHERE claimed_by = ${dead} AND status IN ('sending', 'delivering')
        RETURNING *),
      e AS (INSERT INTO sms_events (message_id, status, attempt, detail)
            SELECT message_id, status, attempts, 'taken over from a stopped worker' FROM upd)
      SELECT * FROM upd ORDER BY id`.execute(this.db);
    return res.rows;
  }

  /** Workers other than `self` that still hold claimed messages. */
  async claimants(self: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('sms_messages')
      .select('claimed_by')
      .distinct()
      .where('claimed_by', 'is not', null)
      .where('claimed_by', '<>', self)
      .execute();
    return rows.map((r) => r.claimed_by as number);
  }

  /**
   * Writes a batch of outcomes in one statement; a row another worker has taken over
   * in the meantime (claimed_by changed) is left alone.
   */
  async recordOutcomes(worker: number, outcomes: readonly SmsOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const col = <T>(f: (o: SmsOutcome) => T): T[] => outcomes.map(f);
    await sql`
      WITH r AS (
        SELECT * FROM unnest(${col((o) => o.id)}::bigint[], ${col((o) => o.status)}::text[], ${col((o) => o.retryInMs)}::int[],
          ${col((o) => o.sipStatus)}::int[], ${col((o) => o.error)}::text[], ${col((o) => o.trunkId)}::text[],
          ${col((o) => o.partsSent)}::int[], ${col((o) => o.refundAttempt)}::bool[], ${col((o) => o.detail)}::text[])
          AS r(id, status, retry_ms, sip_status, error, trunk_id, parts_sent, refund, detail)),
      upd AS (
        UPDATE sms_messages m
        SET status = r.status,
            next_attempt_at = CASE WHEN r.retry_ms IS NULL THEN NULL ELSE now() + r.retry_ms * interval '1 millisecond' END,
            claimed_by = NULL,
            attempts = CASE WHEN r.refund THEN greatest(m.attempts - 1, 0) ELSE m.attempts END,
            last_sip_status = coalesce(r.sip_status, m.last_sip_status),
            last_error = r.error,
            trunk_id = coalesce(r.trunk_id, m.trunk_id),
            parts_sent = r.parts_sent,
            sent_at = CASE WHEN r.status = 'sent' THEN now() ELSE m.sent_at END,
            delivered_at = CASE WHEN r.status = 'delivered' THEN now() ELSE m.delivered_at END,
            updated_at = now()
        FROM r WHERE m.id = r.id AND m.claimed_by = ${worker}
        RETURNING m.message_id, m.attempts, r.status, r.sip_status, r.trunk_id, r.detail)
      INSERT INTO sms_events (message_id, status, attempt, sip_status, trunk_id, detail)
      SELECT message_id, status, attempts, sip_status, trunk_id, detail FROM upd`.execute(this.db);
  }

  /** A delivery report: sent (or still sending) → delivered / undelivered. False when no such outbound message. */
  async report(messageId: string, delivered: boolean, detail: string): Promise<boolean> {
    const status = delivered ? 'delivered' : 'undelivered';
    const res = await sql<{ message_id: string }>`
      WITH upd AS (
        UPDATE sms_messages SET status = ${status}, delivered_at = CASE WHEN ${delivered} THEN now() ELSE delivered_at END,
          sent_at = coalesce(sent_at, now()), claimed_by = NULL, next_attempt_at = NULL, updated_at = now()
        WHERE message_id = ${messageId} AND direction = 'outbound' AND status IN ('sending', 'sent', 'delivered', 'undelivered')
        RETURNING message_id, attempts),
      e AS (INSERT INTO sms_events (message_id, status, attempt, detail) SELECT message_id, ${status}, attempts, ${detail} FROM upd)
      SELECT message_id FROM upd`.execute(this.db);
    return res.rows.length > 0;
  }

  /** A user registered: whatever waits for them is due now. */
  async wakeUser(user: string): Promise<number> {
    const res = await this.db
      .updateTable('sms_messages')
      .set({ next_attempt_at: new Date(0) })
      .where('status', 'in', ['received', 'queued'])
      .where('destination', '=', 'user')
      .where('target_user', '=', user)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** Queue figures for metrics: how many are waiting and how old the oldest is. */
  async depth(): Promise<{ waiting: number; inFlight: number; oldestAgeSeconds: number }> {
    const row = await sql<{ waiting: number; in_flight: number; oldest: number | null }>`
      SELECT count(*) FILTER (WHERE status IN ('queued', 'received'))::int AS waiting,
             count(*) FILTER (WHERE status IN ('sending', 'delivering'))::int AS in_flight,
             extract(epoch FROM now() - min(created_at))::float8 AS oldest
      FROM sms_messages WHERE status IN ('queued', 'received', 'sending', 'delivering')`.execute(this.db);
    const r = row.rows[0];
    return { waiting: r?.waiting ?? 0, inFlight: r?.in_flight ?? 0, oldestAgeSeconds: r?.oldest ?? 0 };
  }
}
