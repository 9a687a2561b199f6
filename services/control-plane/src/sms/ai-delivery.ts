import { createAuthMaterial, webhookAuthHeaders, type AuthSecrets } from '../../../common/src/ai-protocol/auth';
import { CLOSE_CODES } from '../../../common/src/ai-protocol/close-codes';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import {
  parseSmsSessionAiFrame,
  parseSmsWebhookResponse,
  smsDeliveryFrame,
  type InboundSmsForAi,
  type OlibSmsSessionAuth,
} from '../../../common/src/ai-protocol/sms-session';
import { createWsSocket, messageBytes, type WebSocketLike } from '../../../common/src/ai-protocol/socket';
import type { Logger } from '../../../common/src/logger';

/**
 * Delivery of inbound SMS to the AI platform (docs/ai-protocol.md, "SMS").
 *
 * Two transports, chosen per number:
 *
 * - **WebSocket `sms` session** (olib and binary dialects): one short connection per
 *   message to the number's agent URL. First frame `auth` exactly as for a call, with the
 *   message id where the call id goes, `"session":"sms"` and `"call":null` (a call-only
 *   agent that validates `call` refuses instead of greeting nobody); then the olib `sms`
 *   frame. The agent answers with any number of `sms` replies, then `sms_ack`; we close
 *   with 1000.
 *
 *       connecting ──open: auth + sms──► sent ──sms*, sms_ack──► acknowledged (close 1000)
 *            │                            ├── error frame, close 4401/4403/4xxx/1000 ──► refused
 *            └── refused / 5xx / timeout ─┴── close 1001/1006/1011…, timeout ─────────► retryable
 *
 *   One connection per message rather than batches: SMS arrive at human rates, so a
 *   connection's cost (one round trip, a TLS handshake) is noise; the JWT's `sub` names
 *   exactly one message; and one slow or refused message cannot hold back or fail others.
 *   Frames are pipelined (auth and sms go out together, `auth_ok` is not awaited): an
 *   agent reads in order and answers a refusal before it looks at the `sms`.
 *
 * - **Signed webhook**: `POST <webhookUrl>`, body `{"type":"sms","data":{…}}`, the JWT in
 *   `Authorization`, HMAC-SHA256 over `<timestamp>.<raw body>` in `X-Bridge-Signature`.
 *   2xx acknowledges (its body may carry `replies`); 4xx refuses except 408 and 429.
 *
 * The `twilio` dialect has no SMS (Twilio Media Streams has none): such numbers need a webhook.
 */

export interface AiSmsTarget {
  /** the number's agent WebSocket URL (ws:// or wss://), or the default */
  readonly url: string;
  readonly dialect: Dialect;
  /** http(s)://… — when set, the webhook is used instead of the WebSocket */
  readonly webhookUrl?: string;
  /** the number's ai_options; scalar values reach the agent as strings in `custom`, like calls' */
  readonly custom?: Readonly<Record<string, unknown>>;
}

export interface AiSmsReply {
  readonly text: string;
  /** the agent's `to_number`; the sender when the agent named none */
  readonly to?: string;
}

export type AiSmsOutcome =
  | { readonly ok: true; readonly replies: readonly AiSmsReply[] }
  | {
      readonly ok: false;
      readonly retryable: boolean;
      /** stable prefix (see SMS_FAILURE_REASONS) and details */
      readonly reason: string;
      /** a webhook's Retry-After (408, 429, 5xx), in ms; also written in `reason` */
      readonly retryAfterMs?: number;
    };

export interface AiSmsDeliveryOptions {
  /** JWT_SECRET_KEY */
  readonly jwtSecret: string;
  /** SIP_SHARED_SECRET */
  readonly sharedSecret: string;
  /** whole delivery deadline, default 10_000 */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

/** How an undelivered SMS's `reason` starts, and whether a retry can help. */
export const SMS_FAILURE_REASONS = {
  sms_not_supported_by_dialect: false,
  invalid_target: false,
  refused: false,
  closed_without_ack: false,
  http: 'by status',
  upgrade_failed: 'by status',
  connect_failed: true,
  connection_lost: true,
  timeout: true,
  delivery_closed: true,
  internal: true,
} as const;

export const DEFAULT_SMS_DELIVERY_TIMEOUT_MS = 10_000;
/** Replies beyond this many per message are dropped (and logged). */
export const MAX_SMS_REPLIES = 10;
const MAX_PAYLOAD_BYTES = 256 * 1024;
const MAX_WEBHOOK_RESPONSE_BYTES = 64 * 1024;

// ─── the client ──────────────────────────────────────────────────────────────────

type Failure = Extract<AiSmsOutcome, { ok: false }>;

const refused = (reason: string): Failure => ({ ok: false, retryable: false, reason });
const retry = (reason: string, retryAfterMs?: number): Failure =>
  retryAfterMs === undefined
    ? { ok: false, retryable: true, reason }
    : { ok: false, retryable: true, reason, retryAfterMs };

/** Why an in-flight delivery was cut short (the AbortSignal's reason). */
class Cut {
  constructor(readonly outcome: Failure) {}
}

/** HTTP statuses worth retrying: RFC 9110 §15.5.9 (408), RFC 6585 §4 (429), and every 5xx. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Delivers inbound SMS to the AI platform, over the number's agent WebSocket or its
 * webhook. `deliver()` never throws: every failure is an outcome saying whether a retry
 * can help. Owns its sockets and timers; `close()` cuts everything in flight.
 */
export class AiSmsDelivery {
  private readonly secrets: AuthSecrets;
  private readonly timeoutMs: number;
  private readonly inFlight = new Set<AbortController>();
  private readonly sockets = new Set<WebSocketLike>();
  private readonly settling = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly opts: AiSmsDeliveryOptions) {
    if (!opts.jwtSecret || !opts.sharedSecret) throw new TypeError('AiSmsDelivery needs jwtSecret and sharedSecret');
    this.secrets = { jwtSecretKey: opts.jwtSecret, sipSharedSecret: opts.sharedSecret };
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_SMS_DELIVERY_TIMEOUT_MS;
  }

  deliver(sms: InboundSmsForAi, target: AiSmsTarget): Promise<AiSmsOutcome> {
    const run = this.run(sms, target);
    this.settling.add(run);
    void run.finally(() => this.settling.delete(run));
    return run;
  }

  /** Aborts every delivery in flight (they resolve retryable, `delivery_closed`). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.inFlight) controller.abort(new Cut(retry('delivery_closed')));
    for (const socket of this.sockets) socket.terminate();
    await Promise.allSettled([...this.settling]);
  }

  private async run(sms: InboundSmsForAi, target: AiSmsTarget): Promise<AiSmsOutcome> {
    if (this.closed) return retry('delivery_closed');
    const transport = target.webhookUrl !== undefined ? 'webhook' : 'websocket';
    const controller = new AbortController();
    const deadline = setTimeout(
      () => controller.abort(new Cut(retry(`timeout: no acknowledgement within ${this.timeoutMs} ms`))),
      this.timeoutMs,
    );
    this.inFlight.add(controller);
    let outcome: AiSmsOutcome;
    try {
      if (transport === 'webhook')
        outcome = await this.viaWebhook(sms, target, target.webhookUrl as string, controller.signal);
      else if (target.dialect === 'twilio') outcome = refused('sms_not_supported_by_dialect');
      else outcome = await this.viaWebSocket(sms, target, controller.signal);
    } catch (err) {
      outcome = retry(`internal: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      clearTimeout(deadline);
      this.inFlight.delete(controller);
    }
    const meta = {
      messageId: sms.messageId,
      transport,
      dialect: target.dialect,
      target: origin(transport === 'webhook' ? target.webhookUrl : target.url),
    };
    if (outcome.ok) this.opts.logger?.info('sms: delivered to the AI', { ...meta, replies: outcome.replies.length });
    else
      this.opts.logger?.warn('sms: not delivered to the AI', {
        ...meta,
        retryable: outcome.retryable,
        reason: outcome.reason,
      });
    return outcome;
  }

  // ─── WebSocket `sms` session ───────────────────────────────────────────────────

  private async viaWebSocket(sms: InboundSmsForAi, target: AiSmsTarget, signal: AbortSignal): Promise<AiSmsOutcome> {
    if (!/^wss?:\/\//i.test(target.url) || !URL.canParse(target.url))
      return refused('invalid_target: the agent URL is not ws:// or wss://');
    const auth = await createAuthMaterial(this.secrets, sms.messageId, false);
    if (signal.aborted) return (signal.reason as Cut).outcome;
    const opening: OlibSmsSessionAuth = {
      type: 'auth',
      session: 'sms',
      auth: {
        token: `Bearer ${auth.jwt}`,
        signature: auth.signature,
        timestamp: auth.timestamp,
        call_id: sms.messageId,
        reconnected: false,
      },
      call: null,
    };
    const frames = [JSON.stringify(opening), JSON.stringify(smsDeliveryFrame(sms, target.custom))];

    return new Promise<AiSmsOutcome>((resolve) => {
      let settled = false;
      const replies: AiSmsReply[] = [];
      let socket: WebSocketLike;
      const settle = (outcome: AiSmsOutcome, closeCode?: number): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (closeCode === undefined) socket.terminate();
        else if (socket.readyState === 1) socket.close(closeCode);
        resolve(outcome);
      };
      const onAbort = (): void => settle((signal.reason as Cut).outcome);
      try {
        socket = createWsSocket(target.url, [], {
          headers: {},
          handshakeTimeoutMs: this.timeoutMs,
          maxPayloadBytes: MAX_PAYLOAD_BYTES,
        });
      } catch (err) {
        resolve(refused(`invalid_target: ${(err as Error).message}`));
        return;
      }
      this.sockets.add(socket);
      signal.addEventListener('abort', onAbort);
      socket.on('open', () => {
        for (const frame of frames) socket.send(frame);
      });
      socket.on('unexpected-response', (_req, res) => {
        res.resume?.();
        const status = res.statusCode ?? 0;
        settle(
          retryableStatus(status) ? retry(`upgrade_failed: http ${status}`) : refused(`upgrade_failed: http ${status}`),
        );
      });
      socket.on('message', (data, isBinary) => {
        if (settled) return;
        if (isBinary) {
          this.opts.logger?.debug('sms: binary frame in an SMS session ignored', { messageId: sms.messageId });
          return;
        }
        const parsed = parseSmsSessionAiFrame(messageBytes(data).toString('utf8'));
        if (!parsed.ok) {
          this.opts.logger?.warn('sms: bad frame from the agent ignored', {
            messageId: sms.messageId,
            reason: parsed.reason,
          });
          return;
        }
        const frame = parsed.frame;
        switch (frame.type) {
          case 'sms':
            if (replies.length < MAX_SMS_REPLIES)
              replies.push({ text: frame.data.text, to: frame.data.to_number ?? sms.from });
            else
              this.opts.logger?.warn('sms: too many replies, the rest dropped', {
                messageId: sms.messageId,
                max: MAX_SMS_REPLIES,
              });
            return;
          case 'sms_ack':
            if (frame.data.message_id === sms.messageId) settle({ ok: true, replies }, CLOSE_CODES.NORMAL);
            else
              this.opts.logger?.warn('sms: sms_ack for another message ignored', {
                messageId: sms.messageId,
                acked: frame.data.message_id,
              });
            return;
          case 'error':
            settle(
              refused(
                `refused: ${frame.data.code}${frame.data.message ? `: ${frame.data.message.slice(0, 200)}` : ''}`,
              ),
              CLOSE_CODES.NORMAL,
            );
            return;
          case 'ping':
            socket.send(JSON.stringify({ type: 'pong', data: { id: frame.data.id } }));
            return;
          default:
            // auth_ok, pong, and call frames (audio, mark, …) mean nothing here.
            return;
        }
      });
      socket.on('error', (err) => {
        // 'close' follows; before the upgrade there is nothing more to learn than this.
        const code = (err as NodeJS.ErrnoException).code;
        settle(retry(`connect_failed: ${code ?? err.message}`));
      });
      socket.on('close', (code, reason) => {
        this.sockets.delete(socket);
        const why = `close ${code}${reason.length > 0 ? ` ${reason.toString('utf8').slice(0, 120)}` : ''}`;
        if (code === CLOSE_CODES.AUTH_FAILED || code === CLOSE_CODES.FORBIDDEN) settle(refused(`refused: ${why}`));
        // 1000 and the application's 4000–4999 are deliberate, as for calls: retrying would repeat the refusal.
        else if (code === CLOSE_CODES.NORMAL || (code >= 4000 && code <= 4999))
          settle(refused(`closed_without_ack: ${why}`));
        else settle(retry(`connection_lost: ${why}`));
      });
    });
  }

  // ─── webhook ───────────────────────────────────────────────────────────────────

  private async viaWebhook(
    sms: InboundSmsForAi,
    target: AiSmsTarget,
    url: string,
    signal: AbortSignal,
  ): Promise<AiSmsOutcome> {
    if (!/^https?:\/\//i.test(url) || !URL.canParse(url))
      return refused('invalid_target: the webhook URL is not http:// or https://');
    const body = JSON.stringify(smsDeliveryFrame(sms, target.custom));
    const headers = {
      'content-type': 'application/json',
      ...(await webhookAuthHeaders(this.secrets, sms.messageId, body)),
    };
    let response: Response;
    try {
      // A signed request goes where it was configured to, not where a 3xx points.
      response = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'manual' });
    } catch (err) {
      if (signal.aborted) return (signal.reason as Cut).outcome;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return retry(`connect_failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const status = response.status;
    if (status < 200 || status >= 300) {
      void response.body?.cancel().catch(() => undefined);
      if (!retryableStatus(status))
        return refused(`http ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`);
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      return retryAfterMs === undefined
        ? retry(`http ${status}`)
        : retry(`http ${status} (retry after ${Math.ceil(retryAfterMs / 1000)} s)`, retryAfterMs);
    }
    // Acknowledged: the status says so. A body we cannot read costs the replies, not the delivery.
    const text = await readBounded(response, MAX_WEBHOOK_RESPONSE_BYTES).catch(() => null);
    if (text === null) {
      this.opts.logger?.warn('sms: webhook reply body unreadable or too large, replies ignored', {
        messageId: sms.messageId,
      });
      return { ok: true, replies: [] };
    }
    if (text.trim() === '') return { ok: true, replies: [] };
    const parsed = parseSmsWebhookResponse(text);
    if (!parsed.ok) {
      this.opts.logger?.warn('sms: webhook reply body is not {"replies":[…]}, replies ignored', {
        messageId: sms.messageId,
        reason: parsed.reason,
      });
      return { ok: true, replies: [] };
    }
    const all = parsed.frame.replies ?? [];
    if (all.length > MAX_SMS_REPLIES)
      this.opts.logger?.warn('sms: too many replies, the rest dropped', {
        messageId: sms.messageId,
        max: MAX_SMS_REPLIES,
      });
    return {
      ok: true,
      replies: all.slice(0, MAX_SMS_REPLIES).map((r) => ({ text: r.text, to: r.to_number ?? sms.from })),
    };
  }
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

async function readBounded(response: Response, maxBytes: number): Promise<string | null> {
  if (!response.body) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Where a delivery went, for logs: scheme, host and port only (paths and queries may hold secrets). */
function origin(url: string | undefined): string {
  try {
    return new URL(url ?? '').origin;
  } catch {
    return 'invalid';
  }
}
