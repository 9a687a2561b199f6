import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, SmsDirection, SmsStatus } from '../../../common/src/db/schema';
import { AppError } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { bodyNumber } from '../numbers/service';
import { newMessageId } from './inbound';
import { analyzeSms } from './segments';
import type { ApiSend, ApiSendResult, SmsRow, SmsStore } from './store';

export interface SendSmsBody {
  readonly from_number: string;
  readonly to_number: string;
  readonly message: string;
  readonly idempotency_key?: string;
}

export interface SmsHistoryQuery {
  readonly page: number;
  readonly per_page: number;
  readonly number?: string;
  readonly direction?: SmsDirection;
  readonly status?: SmsStatus;
  readonly since?: string;
  readonly until?: string;
}

/** A message as the API shows it. */
export interface SmsView {
  readonly message_id: string;
  readonly direction: SmsDirection;
  readonly from_number: string;
  readonly to_number: string;
  readonly message: string;
  readonly status: SmsStatus;
  readonly encoding: 'gsm7' | 'ucs2';
  readonly segments: number;
  readonly source: string;
  readonly trunk_id: string | null;
  readonly attempts: number;
  readonly last_sip_status: number | null;
  readonly error: string | null;
  readonly in_reply_to: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly sent_at: string | null;
  readonly delivered_at: string | null;
}

export function smsView(r: SmsRow): SmsView {
  return {
    message_id: r.message_id,
    direction: r.direction,
    from_number: r.from_number,
    to_number: r.to_number,
    message: r.body,
    status: r.status,
    encoding: r.encoding,
    segments: r.segments,
    source: r.source,
    trunk_id: r.trunk_id,
    attempts: r.attempts,
    last_sip_status: r.last_sip_status,
    error: r.last_error,
    in_reply_to: r.in_reply_to,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    sent_at: r.sent_at?.toISOString() ?? null,
    delivered_at: r.delivered_at?.toISOString() ?? null,
  };
}

/** Group commits of API sends running at once (each holds a pool connection). */
const MAX_COMMITS_IN_FLIGHT = 2;
/**
 * How long the first send of a group waits for others. Each statement costs PostgreSQL
 * a parse, a plan and a commit whatever its size: at 1000 sends a second this turns a
 * thousand statements into a few hundred, for a few ms of latency.
 */
const GROUP_WINDOW_MS = 4;
/** Numbers remembered by `e164` before the memo starts over. */
const PARSED_NUMBERS = 10_000;
/** Rows in one group commit at most. */
const MAX_GROUP = 1000;

interface Waiting {
  readonly send: ApiSend;
  readonly resolve: (r: ApiSendResult) => void;
  readonly reject: (err: Error) => void;
}

/**
 * The SMS API: `send` stores the message as queued (the queue workers send it) and
 * answers 202; a repeated idempotency key answers the first request's message
 * instead of queueing another. History and one message with its status history.
 */
export class SmsService {
  /** Set by the process that runs a queue worker, so a new message goes out without waiting for the next poll. */
  onQueued: () => void = () => undefined;
  private readonly waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly parsed = new Map<string, string>();
  private commitsInFlight = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: SmsStore,
    private readonly logger: Logger,
  ) {}

  async send(body: SendSmsBody, headerKey: string | undefined): Promise<{ created: boolean; view: SmsView }> {
    const to = this.e164(body.to_number, 'to_number');
    const from = this.e164(body.from_number, 'from_number');
    const key = headerKey ?? body.idempotency_key ?? null;
    if (key !== null && (key.length === 0 || key.length > 255)) {
      throw new AppError('ERR_VALIDATION', 'Idempotency-Key must be 1 to 255 characters', {
        fields: [{ field: 'idempotency_key', message: 'must be 1 to 255 characters' }],
      });
    }
    const a = analyzeSms(body.message);
    const hash =
      key === null
        ? null
        : createHash('sha256')
            .update(JSON.stringify([from, to, body.message]))
            .digest('hex');
    const send: ApiSend = {
      messageId: newMessageId(),
      from,
      to,
      body: body.message,
      encoding: a.encoding,
      segments: a.segments,
      idempotencyKey: key,
      requestHash: hash,
    };
    const result = await new Promise<ApiSendResult>((resolve, reject) => {
      this.waiting.push({ send, resolve, reject });
      this.commitSoon();
    });
    if (!result.ours) {
      throw new AppError(
        'ERR_SMS_FROM_NOT_OURS',
        `from_number ${from} is not one of this system's numbers (see /api/numbers)`,
        { fields: [{ field: 'from_number', message: "is not one of this system's numbers" }] },
      );
    }
    if (result.blocked) throw new AppError('ERR_NUMBER_BLOCKED', `${to} is blocked`, { field: 'to_number' });
    if (result.row) {
      this.onQueued();
      return { created: true, view: smsView(result.row) };
    }
    // The idempotency key was taken (before, or by another request in the same group).
    const { row, created } = await this.store.insert({
      messageId: send.messageId,
      direction: 'outbound',
      from,
      to,
      body: body.message,
      encoding: a.encoding,
      segments: a.segments,
      status: 'queued',
      source: 'api',
      destination: 'trunk',
      trunkId: result.trunkId,
      idempotencyKey: key,
      requestHash: hash,
    });
    if (!created && row.request_hash !== hash) {
      throw new AppError(
        'ERR_IDEMPOTENCY_KEY_REUSED',
        `idempotency key was used for message ${row.message_id} with a different body`,
      );
    }
    if (created) this.onQueued();
    return { created, view: smsView(row) };
  }

  /**
   * bodyNumber (libphonenumber) with a bounded memo of the numbers that parsed: senders
   * are few and recipients repeat, and parsing is a tenth of a send's CPU. Invalid
   * numbers are not remembered, so they always get their own 400.
   */
  private e164(value: string, field: string): string {
    const known = this.parsed.get(value);
    if (known !== undefined) return known;
    const e164 = bodyNumber(value, field).e164;
    if (this.parsed.size >= PARSED_NUMBERS) this.parsed.clear();
    this.parsed.set(value, e164);
    return e164;
  }

  /**
   * Group commit: a send waits up to GROUP_WINDOW_MS for others, and all go in one
   * statement (one round trip, one parse and plan, one commit); under load a group
   * also waits while MAX_COMMITS_IN_FLIGHT groups are being written, and grows. Each
   * caller is answered only after the statement holding its row committed.
   */
  private commitSoon(): void {
    if (this.timer || this.commitsInFlight >= MAX_COMMITS_IN_FLIGHT) return;
    if (this.waiting.length >= MAX_GROUP) return this.commit();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.commit();
    }, GROUP_WINDOW_MS);
  }

  private commit(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const group = this.waiting.splice(0, MAX_GROUP);
    if (group.length === 0) return;
    this.commitsInFlight++;
    this.store
      .insertApiSends(group.map((w) => w.send))
      .then(
        (results) => group.forEach((w, i) => w.resolve(results[i] as ApiSendResult)),
        async (err: Error) => {
          if (group.length === 1) return (group[0] as Waiting).reject(err);
          // One bad row must not fail the rest of its group: each alone, and only its own error.
          this.logger.warn('SMS group insert failed, inserting one by one', { count: group.length, err: err.message });
          await Promise.all(
            group.map((w) =>
              this.store.insertApiSends([w.send]).then((r) => w.resolve(r[0] as ApiSendResult), w.reject),
            ),
          );
        },
      )
      .finally(() => {
        this.commitsInFlight--;
        if (this.waiting.length > 0) this.commitSoon();
      });
  }

  async history(q: SmsHistoryQuery): Promise<{ items: SmsView[]; total: number; page: number; per_page: number }> {
    let query = this.db.selectFrom('sms_messages').where('status', '<>', 'partial');
    if (q.number !== undefined) {
      const n = q.number.trim();
      const alt = n.startsWith('+') ? n.slice(1) : `+${n}`;
      query = query.where((eb) => eb.or([eb('from_number', 'in', [n, alt]), eb('to_number', 'in', [n, alt])]));
    }
    if (q.direction) query = query.where('direction', '=', q.direction);
    if (q.status) query = query.where('status', '=', q.status);
    if (q.since) query = query.where('created_at', '>=', new Date(q.since));
    if (q.until) query = query.where('created_at', '<', new Date(q.until));
    const [rows, count] = await Promise.all([
      query
        .selectAll()
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(q.per_page)
        .offset((q.page - 1) * q.per_page)
        .execute(),
      query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
    ]);
    return { items: rows.map(smsView), total: Number(count?.n ?? 0), page: q.page, per_page: q.per_page };
  }

  async get(messageId: string) {
    const row = await this.store.get(messageId);
    if (!row) throw new AppError('ERR_SMS_NOT_FOUND', `no message ${messageId}`);
    const [events, parts] = await Promise.all([
      this.store.events(messageId),
      this.db
        .selectFrom('sms_messages')
        .select(['message_id', 'part_seq', 'part_total'])
        .where('parent_id', '=', messageId)
        .orderBy('part_seq')
        .execute(),
    ]);
    return {
      ...smsView(row),
      parts: parts.map((p) => ({ message_id: p.message_id, seq: p.part_seq, total: p.part_total })),
      history: events.map((e) => ({
        status: e.status,
        at: e.at.toISOString(),
        attempt: e.attempt,
        sip_status: e.sip_status,
        trunk_id: e.trunk_id,
        detail: e.detail,
      })),
    };
  }
}
