import type { Kysely } from 'kysely';
import { Client, type Notification } from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Database } from '../../../common/src/db/schema';
import type { Logger } from '../../../common/src/logger';
import { urlOrigin } from '../../../common/src/webhooks/destination';
import {
  serializeWebhookBody,
  signWebhook,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_NOTIFY_CHANNEL,
  WEBHOOK_SIGNATURE_HEADER,
  webhookEventId,
} from '../../../common/src/webhooks/outbox';
import { backoffMs } from '../sms/worker';
import { HttpWebhookSender, type WebhookSender, type WebhookSendResult } from './http-sender';
import { WebhookOutboxStore, type ClaimedWebhook, type WebhookResult } from './store';

export const WEBHOOK_USER_AGENT = 'sip-ai-bridge-webhooks/1';
/** Longest wait between two attempts, whatever the backoff or a Retry-After say. */
export const WEBHOOK_RETRY_MAX_MS = 3_600_000;
/** Added to the request timeout for a claim's lease: time to write the outcome back. */
const LEASE_MARGIN_MS = 3000;

/**
 * What an HTTP answer means for an event (docs/webhooks.md, "Retries"):
 * 2xx delivered; 408 and 429 (RFC 9110 §15.5.9, RFC 6585 §4) and 5xx retried; other
 * 4xx failed for good (the receiver refuses this event: retrying repeats the refusal);
 * 3xx failed for good too (redirects are not followed, and retrying cannot change that).
 */
export function classifyStatus(status: number): 'delivered' | 'retry' | 'failed' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500 || status < 100) return 'retry';
  return 'failed';
}

/** Delay before attempt `attempt + 1`: exponential from `baseMs` with jitter, a Retry-After if longer, at most an hour. */
export function retryDelayMs(
  attempt: number,
  baseMs: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const backoff = backoffMs(attempt, baseMs, WEBHOOK_RETRY_MAX_MS, random);
  return Math.min(WEBHOOK_RETRY_MAX_MS, Math.max(backoff, retryAfterMs ?? 0));
}

export interface WebhookDelivererOptions {
  readonly databaseUrl: string;
  /** WEBHOOK_SIGNING_SECRET; empty: the deliverer does not run (and says so). */
  readonly signingSecret: string;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly allowPrivateAddresses: boolean;
  /** Longest sleep when nothing notifies (other replicas' retries, a missed NOTIFY). Default 1000. */
  readonly pollMs?: number;
  /** Events in flight at once in this replica. Default 64. */
  readonly maxInFlight?: number;
}

export interface WebhookDelivererDeps {
  readonly db: Kysely<Database>;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Default: HTTP(S) with the SSRF check. */
  readonly sender?: WebhookSender;
}

/**
 * Delivers call webhooks from the outbox. Runs in every control-plane replica:
 *
 *     wake (NOTIFY webhook_outbox, a finished event, the next due retry, the poll)
 *       └► claim due heads (SKIP LOCKED) ─► POST each, signed ─► write the outcome
 *              2xx: delivered │ 408/429/5xx/timeout/network: retry later, or failed after
 *              WEBHOOK_MAX_ATTEMPTS │ other 3xx/4xx, refused address: failed
 *
 * At least once: an event is marked delivered after its 2xx, so a replica that dies
 * between the two leaves it to be sent again when its claim ends (timeout + 3 s), with
 * the same body and X-Bridge-Event-Id. Receivers deduplicate by that id.
 */
export class WebhookDeliverer {
  private readonly store: WebhookOutboxStore;
  private readonly sender: WebhookSender;
  private listener: Client | undefined;
  private closing = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private nudged = false;
  private inFlight = 0;
  private readonly settled = new Set<Promise<void>>();
  private readonly delivered: Counter;
  private readonly failed: Counter;
  private readonly retried: Counter;
  private readonly refused: Counter;
  private readonly latency: Histogram;

  constructor(
    private readonly opts: WebhookDelivererOptions,
    private readonly deps: WebhookDelivererDeps,
  ) {
    this.store = new WebhookOutboxStore(deps.db);
    this.sender =
      deps.sender ?? new HttpWebhookSender({ timeoutMs: opts.timeoutMs, allowPrivate: opts.allowPrivateAddresses });
    const registers = [deps.registry];
    this.delivered = new Counter({
      name: 'webhook_delivered_total',
      help: 'Call webhook events delivered (a 2xx answer).',
      registers,
    });
    this.failed = new Counter({
      name: 'webhook_failed_total',
      help: 'Call webhook events failed for good, by reason: http_4xx, redirect, attempts_exhausted, private_address, invalid_url.',
      labelNames: ['reason'],
      registers,
    });
    this.retried = new Counter({
      name: 'webhook_retries_total',
      help: 'Call webhook attempts that failed and were scheduled again, by reason: http_status, timeout, network.',
      labelNames: ['reason'],
      registers,
    });
    this.refused = new Counter({
      name: 'webhook_refused_total',
      help: 'Call webhook deliveries refused before sending (SSRF defence): private_address (after DNS resolution), invalid_url.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['private_address', 'invalid_url']) this.refused.inc({ reason }, 0);
    this.latency = new Histogram({
      name: 'webhook_delivery_latency_seconds',
      help: 'From an event being stored to its 2xx answer, retries included.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    });
    // Both queue gauges come from one query per scrape.
    let depth: { at: number; value: ReturnType<WebhookOutboxStore['depth']> } | undefined;
    const readDepth = (): ReturnType<WebhookOutboxStore['depth']> => {
      if (!depth || Date.now() - depth.at > 1000) depth = { at: Date.now(), value: this.store.depth() };
      return depth.value;
    };
    new Gauge({
      name: 'webhook_queue_depth',
      help: 'Call webhook events not yet delivered or failed (waiting, retrying or in flight), all replicas together.',
      registers,
      async collect() {
        const d = await readDepth().catch(() => null);
        if (d) this.set(d.pending);
      },
    });
    new Gauge({
      name: 'webhook_queue_oldest_age_seconds',
      help: 'Age of the oldest call webhook event not yet delivered or failed.',
      registers,
      async collect() {
        const d = await readDepth().catch(() => null);
        if (d) this.set(d.oldestAgeSeconds);
      },
    });
  }

  /** Starts listening and delivering; without a signing secret, says why it does not. */
  async start(): Promise<void> {
    if (!this.opts.signingSecret) {
      this.deps.logger.error(
        'call webhooks are not delivered: WEBHOOK_SIGNING_SECRET is not set (events wait in the outbox until it is)',
      );
      return;
    }
    await this.listen().catch((err: Error) => {
      // Polling delivers without notifications; the listener keeps trying to come back.
      this.deps.logger.warn('webhook deliverer cannot LISTEN; polling only until it can', { err: err.message });
      this.relisten();
    });
    this.loop = this.run();
    this.deps.logger.info('webhook deliverer started', {
      max_attempts: this.opts.maxAttempts,
      allow_private_addresses: this.opts.allowPrivateAddresses,
    });
  }

  /** Something may be due now (an event stored in this process, a finished one). */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Stops claiming, lets the attempts in flight finish (the request timeout at most) and writes their outcomes. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.settled]);
    this.sender.close();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.opts.databaseUrl, application_name: 'webhook-deliverer' });
    client.on('error', (err) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      void client.end().catch(() => undefined);
      if (this.closing) return;
      this.deps.logger.warn('webhook deliverer lost its LISTEN connection; reconnecting', { err: err.message });
      this.relisten();
    });
    client.on('notification', (n: Notification) => {
      if (n.channel === WEBHOOK_NOTIFY_CHANNEL) this.nudge();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${WEBHOOK_NOTIFY_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closing) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    // Events stored while nobody listened are found by this claim.
    this.nudge();
  }

  private relisten(): void {
    void (async () => {
      let delay = 250;
      while (!this.closing && !this.listener) {
        await new Promise((r) => setTimeout(r, delay));
        if (this.closing) return;
        try {
          await this.listen();
        } catch {
          delay = Math.min(delay * 2, 5000);
        }
      }
    })();
  }

  private async run(): Promise<void> {
    const max = this.opts.maxInFlight ?? 64;
    const leaseMs = this.opts.timeoutMs + LEASE_MARGIN_MS;
    let failures = 0;
    while (!this.closing) {
      let full = false;
      let nextDue: number | null = null;
      if (this.inFlight < max) {
        const want = Math.min(32, max - this.inFlight);
        // This claim sees every event committed before it: notifications from here on are for later ones.
        this.nudged = false;
        try {
          const claimed = await this.store.claim(want, leaseMs);
          full = claimed.length >= want;
          for (const event of claimed) this.process(event);
          if (!full) nextDue = await this.store.nextDueInMs();
          failures = 0;
        } catch (err) {
          failures++;
          if (failures === 1 || failures % 60 === 0)
            this.deps.logger.error('webhook outbox claim failed', { err: (err as Error).message, failures });
        }
      }
      if (full && this.inFlight < max) continue;
      const pollMs = this.opts.pollMs ?? 1000;
      const sleep = nextDue === null ? pollMs : Math.max(10, Math.min(pollMs, nextDue));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, sleep);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (this.nudged || this.closing) this.wake();
      });
      this.wake = undefined;
    }
  }

  private process(event: ClaimedWebhook): void {
    this.inFlight++;
    const done = this.attempt(event)
      .then(async (result) => {
        const written = await this.store.finish(event, result).catch((err: Error) => {
          // The claim ends by itself and the event goes out again: at least once.
          this.deps.logger.error('webhook outcome could not be written; the event will be sent again', {
            event_id: webhookEventId(event.callId, event.seq),
            err: err.message,
          });
          return null;
        });
        if (written === false)
          this.deps.logger.warn('webhook claim expired before its outcome was written; another attempt counts', {
            event_id: webhookEventId(event.callId, event.seq),
            attempt: event.attempts,
          });
        this.count(event, result);
      })
      .catch((err: unknown) => {
        this.deps.logger.error('webhook attempt failed unexpectedly', {
          event_id: webhookEventId(event.callId, event.seq),
          err: (err as Error).message,
        });
      })
      .finally(() => {
        this.inFlight--;
        this.settled.delete(done);
        // The call's next event may be its head now.
        this.nudge();
      });
    this.settled.add(done);
  }

  private async attempt(event: ClaimedWebhook): Promise<WebhookResult> {
    const body = serializeWebhookBody(event.body);
    const eventId = webhookEventId(event.callId, event.seq);
    const sent = await this.sender.post(event.url, body, {
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      [WEBHOOK_EVENT_ID_HEADER]: eventId,
      [WEBHOOK_SIGNATURE_HEADER]: signWebhook(this.opts.signingSecret, body),
    });
    const meta = {
      event_id: eventId,
      event: event.event,
      attempt: event.attempts,
      target: urlOrigin(event.url),
    };
    const result = this.outcome(event, sent);
    if (sent.kind === 'refused') {
      this.refused.inc({ reason: sent.reason });
      this.deps.logger.warn('webhook refused: destination not allowed', { ...meta, reason: sent.detail });
    } else if (result.state === 'delivered') {
      this.deps.logger.debug('webhook delivered', { ...meta, status: result.status });
    } else if (result.state === 'failed') {
      this.deps.logger.warn('webhook failed for good', { ...meta, status: result.status, reason: result.error });
    } else {
      this.deps.logger.info('webhook attempt failed; retrying', {
        ...meta,
        status: result.status,
        reason: result.error,
        retry_in_ms: result.inMs,
      });
    }
    return result;
  }

  private outcome(event: ClaimedWebhook, sent: WebhookSendResult): WebhookResult {
    if (sent.kind === 'refused') return { state: 'failed', status: null, error: sent.detail };
    let why: string;
    let status: number | null = null;
    let retryAfterMs: number | undefined;
    if (sent.kind === 'response') {
      status = sent.status;
      const verdict = classifyStatus(sent.status);
      if (verdict === 'delivered') return { state: 'delivered', status };
      if (verdict === 'failed')
        return {
          state: 'failed',
          status,
          error: `http ${status}${status < 400 ? ' (redirects are not followed)' : ''}`,
        };
      why = `http ${status}`;
      retryAfterMs = sent.retryAfterMs;
    } else {
      why = `${sent.reason}: ${sent.detail}`;
    }
    if (event.attempts >= this.opts.maxAttempts)
      return { state: 'failed', status, error: `${why} (after ${event.attempts} attempts)` };
    return {
      state: 'retry',
      status,
      error: why,
      inMs: retryDelayMs(event.attempts, this.opts.retryBaseMs, retryAfterMs),
    };
  }

  private count(event: ClaimedWebhook, result: WebhookResult): void {
    if (result.state === 'delivered') {
      this.delivered.inc();
      this.latency.observe((Date.now() - event.createdAt.getTime()) / 1000);
    } else if (result.state === 'retry') {
      this.retried.inc({ reason: result.status !== null ? 'http_status' : (result.error.split(':')[0] ?? 'network') });
    } else {
      this.failed.inc({ reason: failureReason(result) });
    }
  }
}

function failureReason(result: Extract<WebhookResult, { state: 'failed' }>): string {
  if (/after \d+ attempts\)$/.test(result.error)) return 'attempts_exhausted';
  if (result.status !== null) return result.status < 400 ? 'redirect' : 'http_4xx';
  if (/non-public|localhost/.test(result.error)) return 'private_address';
  return 'invalid_url';
}
