import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';
import { HEADER_BRIDGE_DID, HEADER_BRIDGE_ROUTE, HEADER_BRIDGE_SOURCE } from '../../../common/src/kamailio/names';
import type { Logger } from '../../../common/src/logger';
import { e164Of } from '../../../common/src/sip-number';
import type { SipRequest } from '../../../common/src/sip/message/message';
import { parseNameAddr } from '../../../common/src/sip/message/name-addr';
import { parseUri } from '../../../common/src/sip/message/uri';
import { parsePartHeader } from './reassembly';
import { analyzeSms } from './segments';
import type { SmsSipAnswer } from './sip-endpoint';
import type { NewSms, SmsRow, SmsStore } from './store';

/** Parts by sequence number; of duplicates, the first that arrived. */
function bySequence(parts: readonly SmsRow[]): Map<number, SmsRow> {
  const out = new Map<number, SmsRow>();
  for (const row of parts) if (!out.has(row.part_seq as number)) out.set(row.part_seq as number, row);
  return out;
}

/** A fresh message id: `sms_` and 24 hex digits. */
export function newMessageId(): string {
  return `sms_${randomBytes(12).toString('hex')}`;
}

/** `key=value` parameters after the first `;`-separated token: `trunk;trunk=acme` → {trunk: 'acme'}. */
function params(value: string): { kind: string; p: Record<string, string> } {
  const [kind, ...rest] = value.split(';').map((s) => s.trim());
  const p: Record<string, string> = {};
  for (const kv of rest) {
    const i = kv.indexOf('=');
    if (i > 0) p[kv.slice(0, i).toLowerCase()] = kv.slice(i + 1);
  }
  return { kind: (kind ?? '').toLowerCase(), p };
}

/** RFC 5438 IMDN delivery notification: the message id it is about and whether it was delivered. */
export function parseDeliveryReport(body: string): { messageId: string; delivered: boolean; status: string } | null {
  const id = /<(?:\w+:)?message-id>\s*([^<\s]+)\s*<\/(?:\w+:)?message-id>/i.exec(body)?.[1];
  const status = /<(?:\w+:)?status>\s*<(?:\w+:)?(delivered|failed|forbidden|error|displayed|processed|stored)\s*\/>/i
    .exec(body)?.[1]
    ?.toLowerCase();
  if (!id || !status) return null;
  return {
    messageId: id,
    delivered: status === 'delivered' || status === 'displayed' || status === 'processed' || status === 'stored',
    status,
  };
}

const ANSWER = {
  accepted: { status: 202, reason: 'Accepted' },
} as const;

/**
 * What Kamailio hands the SMS endpoint: MESSAGEs from trunks and users for our
 * numbers (and users' messages to outside numbers), and delivery reports. Kamailio
 * has already checked the source (trunk allowlist or digest), the blocklist and the
 * number, and says so in X-Bridge-Source and X-Bridge-Route; the SIP endpoint has
 * checked that Kamailio sent it (X-Bridge-Proof, see runtime.ts). Each message is stored
 * before it is answered, so a 202 means it is in PostgreSQL.
 */
export class SmsInbound {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: SmsStore,
    private readonly nudge: () => void,
    private readonly logger: Logger,
  ) {}

  async handle(req: SipRequest): Promise<SmsSipAnswer> {
    const sourceHeader = req.headers.get(HEADER_BRIDGE_SOURCE);
    if (!sourceHeader) return { status: 403, reason: 'Forbidden - Not Through The Proxy' };
    const source = params(sourceHeader);
    const contentType = (req.headers.get('Content-Type') ?? 'text/plain').split(';')[0]?.trim().toLowerCase() ?? '';
    // Line ends after the text are framing some user agents add (SIPp ends every body line with CRLF), not content.
    const text = req.body.toString('utf8').replace(/(\r?\n)+$/, '');
    if (req.method === 'NOTIFY' || contentType === 'message/imdn+xml') return this.deliveryReport(text);
    if (contentType !== 'text/plain')
      return { status: 415, reason: 'Unsupported Media Type', headers: [['Accept', 'text/plain, message/imdn+xml']] };
    if (text.length === 0) return { status: 400, reason: 'Bad Request - Empty Message' };

    const fromUser = parseUri(parseNameAddr(req.headers.get('From') ?? '').uri).user ?? '';
    const callId = req.headers.get('Call-ID') ?? '';
    const cseq = Number((req.headers.get('CSeq') ?? '0').trim().split(/\s+/)[0]);
    const routeHeader = req.headers.get(HEADER_BRIDGE_ROUTE) ?? '';
    const [routeType, routeTarget] = routeHeader.split('|');
    const did = req.headers.get(HEADER_BRIDGE_DID);
    const a = analyzeSms(text);
    const fromTrunk = source.kind === 'trunk';
    const senderUser = fromTrunk ? null : (source.p['user'] ?? fromUser);
    let from = fromTrunk ? (e164Of(fromUser) ?? fromUser) : await this.numberOfUser(senderUser ?? '');

    if (routeType === 'out') {
      // A registered user texting an outside number: out through a trunk, from the user's own number.
      if (!from) return { status: 403, reason: 'Forbidden - No Number For This User' };
      const to = e164Of(parseUri(req.uri).user ?? '');
      if (!to) return { status: 404, reason: 'Not Found - Not A Phone Number' };
      const trunk = await this.db
        .selectFrom('numbers')
        .select('trunk_id')
        .where('number', '=', from)
        .executeTakeFirst();
      const { row, created } = await this.store.insert({
        messageId: newMessageId(),
        direction: 'outbound',
        from,
        to,
        body: text,
        encoding: a.encoding,
        segments: a.segments,
        status: 'queued',
        source: 'user',
        destination: 'trunk',
        senderUser,
        trunkId: trunk?.trunk_id ?? null,
        idempotencyKey: `sip:${callId}:${cseq}`,
      });
      if (created) this.nudge();
      this.logger.debug('SMS from a user queued', { message_id: row.message_id });
      return ANSWER.accepted;
    }

    if (!did) return { status: 404, reason: 'Number Not Found' };
    from ??= senderUser ?? fromUser;
    const to = `+${did}`;
    let destination: NewSms['destination'];
    let targetUser: string | null = null;
    let forwardTo: string | null = null;
    switch (routeType) {
      case 'ai':
        destination = 'ai';
        break;
      case 'sip_user':
        destination = 'user';
        targetUser = routeTarget ?? null;
        break;
      case 'forward':
        destination = 'trunk';
        forwardTo = e164Of(routeTarget ?? '');
        break;
      default:
        return { status: 404, reason: 'Not Found - Number Takes No SMS' };
    }
    const base: NewSms = {
      messageId: newMessageId(),
      direction: 'inbound',
      from,
      to: forwardTo ?? to,
      body: text,
      encoding: a.encoding,
      segments: a.segments,
      status: 'received',
      source: fromTrunk ? 'trunk' : 'user',
      destination,
      targetUser,
      trunkId: fromTrunk ? (source.p['trunk'] ?? null) : null,
      senderUser,
      sipCallId: callId,
      sipCseq: cseq,
    };
    const partHeader = req.headers.get('X-SMS-Part');
    if (partHeader !== undefined) {
      const part = parsePartHeader(partHeader);
      if (!part) return { status: 400, reason: 'Bad Request - Malformed X-SMS-Part' };
      await this.storePart({ ...base, status: 'partial', part });
    } else {
      const { created } = await this.store.insert(base);
      if (!created) this.logger.debug('SMS retransmitted in a new transaction, stored once', { sip_call_id: callId });
    }
    this.nudge();
    return ANSWER.accepted;
  }

  /**
   * One part of a concatenated message: stored, and when it completes its group the
   * whole text becomes one message (the parts point at it). A per-group transaction
   * lock keeps two parts arriving together from both missing the completion.
   */
  private async storePart(part: NewSms): Promise<void> {
    const p = part.part as NonNullable<NewSms['part']>;
    await this.inGroup({ from: part.from, to: part.to, ref: p.ref, total: p.total }, async (tx, load) => {
      const { created } = await this.store.insert(part, tx);
      if (!created) return false;
      const bySeq = bySequence(await load());
      if (bySeq.size < p.total) return false;
      const text = [...bySeq.keys()]
        .sort((x, y) => x - y)
        .map((k) => (bySeq.get(k) as SmsRow).body)
        .join('');
      return { ...part, body: text, lastError: null };
    });
  }

  /**
   * Groups of parts still incomplete after `timeoutSeconds` are delivered as they are,
   * each missing part marked in the text, so a lost part never holds a message back for
   * ever. Returns how many messages were assembled.
   */
  async flushExpiredParts(timeoutSeconds: number): Promise<number> {
    const groups = await sql<{ from_number: string; to_number: string; part_ref: number; part_total: number }>`
      SELECT from_number, to_number, part_ref, part_total FROM sms_messages
      WHERE status = 'partial' AND parent_id IS NULL
      GROUP BY from_number, to_number, part_ref, part_total
      HAVING min(created_at) < now() - ${timeoutSeconds} * interval '1 second'`.execute(this.db);
    let assembled = 0;
    for (const g of groups.rows) {
      const total = g.part_total;
      const done = await this.inGroup(
        { from: g.from_number, to: g.to_number, ref: g.part_ref, total },
        async (_tx, load) => {
          const parts = await load();
          const first = parts[0];
          if (!first) return false;
          const bySeq = bySequence(parts);
          const text = Array.from(
            { length: total },
            (_, i) => bySeq.get(i + 1)?.body ?? `[part ${i + 1} of ${total} missing]`,
          ).join('');
          return {
            messageId: '',
            direction: 'inbound',
            from: first.from_number,
            to: first.to_number,
            body: text,
            encoding: 'gsm7',
            segments: 1,
            status: 'received',
            source: first.source,
            destination: first.destination,
            targetUser: first.target_user,
            trunkId: first.trunk_id,
            senderUser: first.sender_user,
            lastError: `${total - bySeq.size} of ${total} parts never arrived`,
          };
        },
      );
      if (done) assembled++;
    }
    if (assembled > 0) this.nudge();
    return assembled;
  }

  /**
   * Runs `fn` on one group of parts under a per-group transaction lock (two parts
   * arriving together cannot both miss the completion). When `fn` returns a message,
   * it is stored as the whole (new id, encoding and segments from its text, at least one
   * segment a part) and the group's open parts point at it.
   */
  private async inGroup(
    g: { from: string; to: string; ref: number; total: number },
    fn: (tx: Kysely<Database>, load: () => Promise<SmsRow[]>) => Promise<NewSms | false>,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`sms-parts|${g.from}|${g.to}|${g.ref}`}))`.execute(tx);
      const load = (): Promise<SmsRow[]> =>
        tx
          .selectFrom('sms_messages')
          .selectAll()
          .where('status', '=', 'partial')
          .where('parent_id', 'is', null)
          .where('from_number', '=', g.from)
          .where('to_number', '=', g.to)
          .where('part_ref', '=', g.ref)
          .where('part_total', '=', g.total)
          .orderBy('part_seq')
          .orderBy('id')
          .execute();
      const whole = await fn(tx, load);
      if (!whole) return false;
      const parts = await load();
      const a = analyzeSms(whole.body);
      const stored = await this.store.insert(
        {
          ...whole,
          messageId: newMessageId(),
          encoding: a.encoding,
          segments: Math.max(a.segments, g.total),
          status: 'received',
          part: null,
          sipCallId: null,
          sipCseq: null,
        },
        tx,
      );
      await tx
        .updateTable('sms_messages')
        .set({ parent_id: stored.row.message_id })
        .where(
          'message_id',
          'in',
          parts.map((r) => r.message_id),
        )
        .execute();
      return true;
    });
  }

  private async deliveryReport(body: string): Promise<SmsSipAnswer> {
    const report = parseDeliveryReport(body);
    if (!report) return { status: 400, reason: 'Bad Request - Unreadable Delivery Report' };
    const known = await this.store.report(report.messageId, report.delivered, `delivery report: ${report.status}`);
    return known ? { status: 200, reason: 'OK' } : { status: 404, reason: 'Not Found - Unknown Message' };
  }

  /** The number routed to this user (their caller id for SMS), or null. */
  private async numberOfUser(user: string): Promise<string | null> {
    if (!user) return null;
    const row = await this.db
      .selectFrom('numbers')
      .select('number')
      .where('route_type', '=', 'sip_user')
      .where('target', '=', user)
      .where('enabled', '=', true)
      .orderBy('number')
      .executeTakeFirst();
    return row?.number ?? null;
  }
}
