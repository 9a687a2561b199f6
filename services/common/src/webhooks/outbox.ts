import { timingSafeEqual } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { webhookSignature } from '../ai-protocol/auth';
import type { Database } from '../db/schema';

/**
 * Call webhooks (docs/webhooks.md): the events a call's state changes produce, written
 * to the `webhook_outbox` table in the same transaction as the change, then POSTed by
 * the control-plane's deliverer (services/control-plane/src/webhooks/deliverer.ts),
 * signed, in order per call, at least once.
 */

export const CALL_WEBHOOK_EVENTS = ['initiated', 'ringing', 'answered', 'completed', 'failed'] as const;
export type CallWebhookEvent = (typeof CALL_WEBHOOK_EVENTS)[number];

/** `data` of a call event. */
export interface CallWebhookData {
  readonly from_number: string;
  readonly to_number: string;
  readonly direction: 'inbound' | 'outbound';
  /** final SIP status (failed, completed after an answer: 200) */
  readonly sip_status?: number;
  readonly reason?: string;
  readonly duration_seconds?: number;
  readonly billable_seconds?: number;
  /** who hung up: 'caller', 'callee', 'ai', 'api', 'system' */
  readonly ended_by?: string;
  readonly [key: string]: unknown;
}

/** The JSON object a receiver gets. `id` is stable across retries: deduplicate by it. */
export interface CallWebhookBody {
  readonly id: string;
  readonly event: CallWebhookEvent;
  readonly call_id: string;
  readonly sequence: number;
  readonly occurred_at: string;
  readonly data: CallWebhookData;
}

/** NOTIFY channel the deliverers LISTEN on; a notification is sent when an event commits. */
export const WEBHOOK_NOTIFY_CHANNEL = 'webhook_outbox';

/** Two-key advisory lock namespace of the per-call sequence: pg_advisory_xact_lock(WEBHOOK_SEQ_LOCK, hashtext(call_id)). */
export const WEBHOOK_SEQ_LOCK = 0x57484b; // 'WHK'

export interface NewCallWebhook {
  readonly callId: string;
  /** the call's webhook_url; null or empty: the call has none, nothing is stored */
  readonly url: string | null | undefined;
  readonly event: CallWebhookEvent;
  readonly data: CallWebhookData;
  /** default: now */
  readonly occurredAt?: Date;
}

/**
 * Stores a call event for delivery. Call it inside the transaction that changes the
 * call's state: the event then exists exactly when that change committed, and its
 * sequence number follows the order in which the call's transactions commit.
 *
 * Writers of the same call are serialised by a transaction-scoped advisory lock on the
 * call id, taken before the next number is read; the read then sees every earlier
 * writer's committed row (READ COMMITTED takes a snapshot per statement: do not call
 * this in a REPEATABLE READ or SERIALIZABLE transaction, where the snapshot is older
 * than the lock). The lock is held until commit, so a later event of a call never
 * becomes visible before an earlier one.
 *
 * Returns the event id and sequence, or null when the call has no webhook URL.
 */
export async function enqueueCallWebhook(
  trx: Kysely<Database>,
  event: NewCallWebhook,
): Promise<{ readonly id: string; readonly sequence: number } | null> {
  if (!trx.isTransaction)
    throw new TypeError('enqueueCallWebhook must run inside the transaction that changes the call');
  if (!event.url) return null;
  if (!(CALL_WEBHOOK_EVENTS as readonly string[]).includes(event.event))
    throw new TypeError(`unknown call webhook event '${event.event}'`);
  await sql`SELECT pg_advisory_xact_lock(${WEBHOOK_SEQ_LOCK}::int, hashtext(${event.callId}))`.execute(trx);
  // The notification goes out at commit (and not at all on rollback).
  const next = await sql<{ seq: number }>`
    SELECT coalesce(max(seq), 0) + 1 AS seq, pg_notify(${WEBHOOK_NOTIFY_CHANNEL}, '') AS notified
    FROM webhook_outbox WHERE call_id = ${event.callId}`.execute(trx);
  const sequence = Number(next.rows[0]?.seq ?? 1);
  const body: CallWebhookBody = {
    id: webhookEventId(event.callId, sequence),
    event: event.event,
    call_id: event.callId,
    sequence,
    occurred_at: (event.occurredAt ?? new Date()).toISOString(),
    data: event.data,
  };
  await trx
    .insertInto('webhook_outbox')
    .values({ call_id: event.callId, seq: sequence, url: event.url, event: event.event, body: JSON.stringify(body) })
    .execute();
  return { id: body.id, sequence };
}

/** `<call_id>:<sequence>`: the body's `id` and the X-Bridge-Event-Id header. */
export function webhookEventId(callId: string, sequence: number): string {
  return `${callId}:${sequence}`;
}

/**
 * The exact bytes sent for a stored body: the fields in the documented order
 * (PostgreSQL's JSONB keeps its own key order), the same for every attempt.
 */
export function serializeWebhookBody(body: Readonly<Record<string, unknown>>): string {
  const { id, event, call_id, sequence, occurred_at, data, ...rest } = body;
  return JSON.stringify({ id, event, call_id, sequence, occurred_at, data, ...rest });
}

// ─── signatures ──────────────────────────────────────────────────────────────────
//
// X-Bridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(WEBHOOK_SIGNING_SECRET, "<t>.<raw body>")>
// The timestamp is inside the MAC, so a captured request cannot be replayed later than
// the receiver's tolerance (the Stripe construction). A receiver may see more than one
// v1 (during a secret rotation); one valid v1 is enough.

export const WEBHOOK_SIGNATURE_HEADER = 'x-bridge-signature';
export const WEBHOOK_EVENT_ID_HEADER = 'x-bridge-event-id';
/** How far a signature's timestamp may be from the receiver's clock by default, seconds. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The X-Bridge-Signature value for a body sent at `nowMs`. */
export function signWebhook(secret: string, body: string | Uint8Array, nowMs: number = Date.now()): string {
  if (!secret) throw new TypeError('signWebhook needs a secret');
  const t = String(Math.floor(nowMs / 1000));
  return `t=${t},v1=${webhookSignature(secret, t, body)}`;
}

export type WebhookVerdict =
  | { readonly ok: true; readonly timestamp: number }
  | { readonly ok: false; readonly reason: 'malformed' | 'stale' | 'mismatch' };

/**
 * Checks an X-Bridge-Signature header against the raw request body (the bytes as
 * received, before any JSON parsing) — for receivers and tests:
 *
 *     const verdict = verifyWebhookSignature(secret, req.headers['x-bridge-signature'], rawBody);
 *     if (!verdict.ok) return res.status(401).end();
 *
 * `stale`: the timestamp is more than `toleranceSeconds` (default 300) from `nowMs`.
 * Comparison is constant-time. Deduplicate accepted events by X-Bridge-Event-Id.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | readonly string[] | null | undefined,
  body: string | Uint8Array,
  options: { readonly toleranceSeconds?: number; readonly nowMs?: number } = {},
): WebhookVerdict {
  if (!secret) throw new TypeError('verifyWebhookSignature needs a secret');
  const value = Array.isArray(header) ? header.join(',') : (header as string | null | undefined);
  if (typeof value !== 'string' || value.length > 4096) return { ok: false, reason: 'malformed' };
  let t: string | undefined;
  const given: Buffer[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return { ok: false, reason: 'malformed' };
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !/^[0-9]{1,12}$/.test(v)) return { ok: false, reason: 'malformed' };
      t = v;
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(v)) return { ok: false, reason: 'malformed' };
      given.push(Buffer.from(v, 'hex'));
    }
    // Other schemes (v0, a future v2) are ignored, as receivers of versioned signatures do.
  }
  if (t === undefined || given.length === 0) return { ok: false, reason: 'malformed' };
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - Number(t)) > tolerance) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(webhookSignature(secret, t, body), 'hex');
  // Every candidate is compared, matched or not: the time taken says nothing about which.
  let match = false;
  for (const g of given) if (timingSafeEqual(g, expected)) match = true;
  return match ? { ok: true, timestamp: Number(t) } : { ok: false, reason: 'mismatch' };
}
