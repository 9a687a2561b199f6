import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Client } from 'pg';
import type { Database } from '../../../common/src/db/schema';
import { HEADER_BRIDGE_DELIVER, HEADER_BRIDGE_TRUNK } from '../../../common/src/kamailio/names';
import type { Logger } from '../../../common/src/logger';
import { e164Of } from '../../../common/src/sip-number';
import type { InboundSmsForAi } from '../../../common/src/ai-protocol/sms-session';
import type { AiSmsOutcome, AiSmsTarget } from './ai-delivery';
import { PgRateBudget, RateGate, type RateBudget } from './rate-gate';
import { analyzeSms, splitSms } from './segments';
import { smsBranch, type OutgoingSms, type SmsSendResult } from './sip-endpoint';
import type { NewSms, SmsOutcome, SmsRow, SmsStore } from './store';

/** Two-key advisory lock namespace of queue workers: pg_advisory_lock(SMS_WORKER_LOCK, worker id). */
export const SMS_WORKER_LOCK = 0x534d53; // 'SMS'

/**
 * Shortest time between two claims while nudges keep coming: each API group commit
 * nudges, and claiming after every one of them would claim a handful of rows per
 * statement. A message waits at most this long longer.
 */
const GATHER_MS = 10;

/** SIP answers worth another attempt (the rest of 4xx/6xx will not change by waiting). */
export function retryableSipStatus(status: number): boolean {
  return status === 408 || status === 480 || status === 482 || (status >= 500 && status < 600);
}

/** Exponential backoff with equal jitter: attempt 1 waits base/2..base, then doubling, capped. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** A trunk as the sender needs it. */
export interface SmsTrunk {
  readonly trunkId: string;
  readonly address: string;
  readonly port: number;
  readonly transport: 'UDP' | 'TCP' | 'TLS';
  readonly rateLimit: number;
  readonly splitSegments: boolean;
}

/** Where an AI number's messages go (the number's agent, or the default). */
export type AiTargetLookup = (number: string) => Promise<AiSmsTarget | null>;

export interface AiSmsDeliverer {
  deliver(sms: InboundSmsForAi, target: AiSmsTarget): Promise<AiSmsOutcome>;
}

export interface SmsSender {
  send(sms: OutgoingSms): Promise<SmsSendResult>;
}

export interface SmsWorkerOptions {
  readonly databaseUrl: string;
  readonly name: string;
  readonly domain: string;
  readonly batchSize: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly userOfflineRetrySeconds: number;
  readonly userHoldHours: number;
  /** How often the queue is polled when nothing nudges the worker (scheduled retries, other replicas' inserts). */
  readonly pollMs?: number;
  /** How often crashed workers' claims are looked for. */
  readonly reapMs?: number;
  /** Messages in flight at once. */
  readonly maxInFlight?: number;
}

export interface SmsWorkerDeps {
  readonly db: Kysely<Database>;
  readonly store: SmsStore;
  readonly sender: SmsSender;
  readonly ai: AiSmsDeliverer;
  readonly aiTarget: AiTargetLookup;
  readonly logger: Logger;
  readonly onOutcome?: (row: SmsRow, outcome: SmsOutcome) => void;
  /** Where per-trunk send budgets come from; default: the buckets in PostgreSQL every replica shares. */
  readonly rateBudget?: RateBudget;
}

/**
 * A queue worker: claims due messages (FOR UPDATE SKIP LOCKED), sends them as SIP
 * MESSAGE through Kamailio (to a trunk or a registered user) or hands them to the AI,
 * and writes each outcome back — in batches, one statement per batch.
 *
 * Exactly once across crashes: a worker holds a PostgreSQL session advisory lock for
 * its id while it lives. When another worker can take that lock, the holder is gone;
 * its claimed rows are taken over and re-sent with the same Call-ID, CSeq, From tag
 * and Via branch (all derived from the message id and attempt number), so Kamailio's
 * transaction layer recognises a retransmission and answers from the transaction it
 * already has (RFC 3261 §17.2.3) instead of relaying a second copy to the provider.
 */
export class SmsWorker {
  private lock: Client | undefined;
  private id = 0;
  private closing = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private nudged = false;
  private lastClaimAt = 0;
  private inFlight = 0;
  private readonly pending: Array<{ row: SmsRow; outcome: SmsOutcome }> = [];
  private flushing: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private reapTimer: NodeJS.Timeout | undefined;
  private trunks: { at: number; list: SmsTrunk[] } = { at: -1, list: [] };
  /** Claimed batches so far: the trunk list is read once per batch. */
  private batch = 0;
  private readonly gates = new Map<string, RateGate>();
  private readonly budget: RateBudget;

  constructor(
    private readonly opts: SmsWorkerOptions,
    private readonly deps: SmsWorkerDeps,
  ) {
    this.budget = deps.rateBudget ?? new PgRateBudget(deps.db);
  }

  get workerId(): number {
    return this.id;
  }

  async start(): Promise<void> {
    await this.openSession();
    this.deps.logger.info('SMS worker started', { worker: this.id });
    await this.reap();
    this.reapTimer = setInterval(() => void this.reap(), this.opts.reapMs ?? 1000);
    this.loop = this.run();
  }

  /**
   * The session that holds this worker's advisory lock (its proof of life for the
   * other workers). Registers the worker anew when its row is gone: another worker
   * took its claims over while this one was cut off from the database.
   */
  private async openSession(): Promise<void> {
    const lock = new Client({
      connectionString: this.opts.databaseUrl,
      application_name: `sms-worker ${this.opts.name}`,
    });
    lock.on('error', (err) => this.sessionLost(lock, err));
    try {
      await lock.connect();
      const known =
        this.id > 0 ? await lock.query('SELECT 1 FROM sms_workers WHERE id = $1', [this.id]) : { rowCount: 0 };
      if (!known.rowCount) {
        const res = await lock.query<{ id: number }>('INSERT INTO sms_workers (name) VALUES ($1) RETURNING id', [
          this.opts.name,
        ]);
        this.id = (res.rows[0] as { id: number }).id;
      }
      await lock.query('SELECT pg_advisory_lock($1, $2)', [SMS_WORKER_LOCK, this.id]);
    } catch (err) {
      await lock.end().catch(() => undefined);
      throw err;
    }
    this.lock = lock;
  }

  /** PostgreSQL restarted or the connection broke: stop claiming until the lock is held again. */
  private sessionLost(lock: Client, err: Error): void {
    if (this.lock !== lock) return;
    this.lock = undefined;
    void lock.end().catch(() => undefined);
    if (this.closing) return;
    this.deps.logger.error('SMS worker lost its database session; reconnecting', { worker: this.id, err: err.message });
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    let delay = 250;
    while (!this.closing && !this.lock) {
      await new Promise((r) => setTimeout(r, delay));
      if (this.closing) return;
      try {
        await this.openSession();
        this.deps.logger.warn('SMS worker reconnected to the database', { worker: this.id });
        this.nudge();
      } catch (err) {
        delay = Math.min(delay * 2, 5000);
        this.deps.logger.warn('SMS worker still cannot reach the database', {
          worker: this.id,
          err: (err as Error).message,
        });
      }
    }
  }

  /** Something became due (an API insert, an inbound MESSAGE, a registration): look now. */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.reapTimer);
    this.wake?.();
    await this.loop;
    // In-flight sends end by themselves (Timer F at most); wait for them and write their outcomes.
    const deadline = Date.now() + 40_000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.flush();
    for (const gate of this.gates.values()) gate.close();
    if (this.lock) {
      await this.lock.query('DELETE FROM sms_workers WHERE id = $1', [this.id]).catch(() => undefined);
      await this.lock.end().catch(() => undefined);
    }
  }

  private async run(): Promise<void> {
    const max = this.opts.maxInFlight ?? 4000;
    while (!this.closing) {
      let full = false;
      if (this.inFlight < max && this.lock) {
        const want = Math.min(this.opts.batchSize, max - this.inFlight);
        // This claim sees every row committed before it: nudges from here on are for later rows.
        this.nudged = false;
        this.lastClaimAt = Date.now();
        try {
          const rows = await this.deps.store.claimDue(this.id, want);
          full = rows.length >= want;
          if (rows.length > 0) this.batch++;
          for (const row of rows) this.process(row);
        } catch (err) {
          this.deps.logger.error('SMS queue claim failed', { err: (err as Error).message });
        }
      }
      // A full batch: more are likely due. Otherwise the queue is drained; wait for a nudge or the poll.
      if (full && this.inFlight < max) continue;
      await new Promise<void>((resolve) => {
        const gathered = (): void => {
          clearTimeout(poll);
          // Claim no more often than every GATHER_MS while nudged: a burst of inserts goes out in one claim.
          const rest = GATHER_MS - (Date.now() - this.lastClaimAt);
          if (rest > 0) setTimeout(resolve, rest);
          else resolve();
        };
        const poll = setTimeout(resolve, this.opts.pollMs ?? 250);
        this.wake = gathered;
        if (this.nudged && this.inFlight < max) gathered();
      });
      this.wake = undefined;
    }
  }

  /** Finds workers that died holding claims and takes their messages over. */
  private async reap(): Promise<void> {
    const lock = this.lock;
    if (!lock || this.closing) return;
    try {
      for (const other of await this.deps.store.claimants(this.id)) {
        const got = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
          SMS_WORKER_LOCK,
          other,
        ]);
        if (!got.rows[0]?.ok) continue; // alive
        try {
          const rows = await this.deps.store.takeOver(other, this.id);
          await lock.query('DELETE FROM sms_workers WHERE id = $1', [other]);
          if (rows.length > 0)
            this.deps.logger.warn('took over the messages of a stopped SMS worker', {
              worker: other,
              messages: rows.length,
            });
          this.batch++;
          for (const row of rows) this.process(row);
        } finally {
          await lock.query('SELECT pg_advisory_unlock($1, $2)', [SMS_WORKER_LOCK, other]);
        }
      }
    } catch (err) {
      this.deps.logger.error('SMS worker reaping failed', { err: (err as Error).message });
    }
  }

  private process(row: SmsRow): void {
    this.inFlight++;
    void this.attempt(row)
      .catch((err: unknown): SmsOutcome => {
        this.deps.logger.error('SMS attempt failed unexpectedly', {
          message_id: row.message_id,
          err: (err as Error).message,
        });
        return this.retryOrFail(row, null, `internal error: ${(err as Error).message}`, row.trunk_id, row.parts_sent);
      })
      .then((outcome) => {
        this.inFlight--;
        this.deps.onOutcome?.(row, outcome);
        this.pending.push({ row, outcome });
        if (this.pending.length >= 200) void this.flush();
        else this.flushTimer ??= setTimeout(() => void this.flush(), 15);
      });
  }

  private flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing
      .then(() =>
        this.deps.store.recordOutcomes(
          this.id,
          batch.map((b) => b.outcome),
        ),
      )
      .catch((err: unknown) => {
        // The rows stay claimed by us: the next reaper after a restart re-sends them identically.
        this.deps.logger.error('SMS outcomes could not be written', {
          count: batch.length,
          err: (err as Error).message,
        });
      });
    return this.flushing;
  }

  private async attempt(row: SmsRow): Promise<SmsOutcome> {
    switch (row.destination) {
      case 'ai':
        return this.toAi(row);
      case 'user':
        return this.toUser(row);
      case 'trunk':
        return this.toTrunk(row);
    }
  }

  // ---- destinations ----

  private async toTrunk(row: SmsRow): Promise<SmsOutcome> {
    const trunk = await this.pickTrunk(row);
    if (!trunk) return this.retryOrFail(row, 503, 'no active outbound trunk', null, row.parts_sent);
    if (trunk.transport === 'TLS')
      return this.final(
        row,
        'failed',
        null,
        `trunk ${trunk.trunkId} uses TLS, which the SIP edge does not serve`,
        trunk.trunkId,
        row.parts_sent,
      );
    const parts = trunk.splitSegments ? splitSms(row.body) : [row.body];
    const ref =
      parts.length > 1
        ? (parseInt(createHash('sha256').update(row.message_id).digest('hex').slice(0, 8), 16) % 65535) + 1
        : 0;
    const host = trunk.address.includes(':') ? `[${trunk.address}]` : trunk.address;
    const transport = trunk.transport === 'TCP' ? ';transport=tcp' : '';
    let sent = Math.min(row.parts_sent, parts.length);
    let last: SmsSendResult | undefined;
    for (; sent < parts.length; sent++) {
      await this.gate(trunk).take();
      const partHeaders: Array<readonly [string, string]> =
        parts.length > 1 ? [['X-SMS-Part', `ref=${ref}; seq=${sent + 1}; total=${parts.length}`]] : [];
      last = await this.deps.sender.send({
        requestUri: `sip:${row.to_number}@${host}:${trunk.port}${transport}`,
        from: `sip:${row.from_number}@${this.opts.domain}`,
        fromTag: this.fromTag(row),
        to: `sip:${row.to_number}@${host}`,
        callId: `${row.message_id}${parts.length > 1 ? `-${sent + 1}` : ''}@${this.opts.domain}`,
        cseq: row.attempts,
        branch: smsBranch(row.message_id, sent, row.attempts),
        body: parts[sent] as string,
        headers: [
          [HEADER_BRIDGE_TRUNK, trunk.trunkId],
          [HEADER_BRIDGE_DELIVER, 'trunk'],
          ['X-SMS-Id', row.message_id],
          ...partHeaders,
        ],
      });
      if (last.status < 200 || last.status >= 300) break;
    }
    if (sent >= parts.length) return this.final(row, 'sent', last?.status ?? 200, null, trunk.trunkId, sent);
    const status = last?.status ?? 500;
    const why = `${status} ${last?.reason ?? ''}`.trim();
    if (retryableSipStatus(status)) return this.retryOrFail(row, status, why, trunk.trunkId, sent);
    return this.final(row, 'failed', status, why, trunk.trunkId, sent);
  }

  private async toUser(row: SmsRow): Promise<SmsOutcome> {
    const user = row.target_user ?? row.to_number;
    const res = await this.deps.sender.send({
      requestUri: `sip:${user}@${this.opts.domain}`,
      from: `sip:${row.from_number}@${this.opts.domain}`,
      fromTag: this.fromTag(row),
      to: `sip:${user}@${this.opts.domain}`,
      callId: `${row.message_id}@${this.opts.domain}`,
      cseq: row.attempts,
      branch: smsBranch(row.message_id, 'user', row.attempts),
      body: row.body,
      headers: [
        [HEADER_BRIDGE_DELIVER, 'user'],
        ['X-SMS-Id', row.message_id],
      ],
    });
    const done = row.direction === 'inbound' ? 'delivered' : 'sent';
    if (res.status >= 200 && res.status < 300) return this.final(row, done, res.status, null, null, 1);
    const why = `${res.status} ${res.reason}`.trim();
    // Not registered (404 from the location lookup, 480/408 from a phone that went away): store and forward.
    if (res.status === 404 || res.status === 480 || res.status === 408) {
      const ageHours = (Date.now() - row.created_at.getTime()) / 3_600_000;
      if (ageHours >= this.opts.userHoldHours)
        return this.final(
          row,
          'failed',
          res.status,
          `user ${user} did not come online within ${this.opts.userHoldHours} h`,
          null,
          0,
        );
      return {
        ...this.base(row),
        status: row.direction === 'inbound' ? 'received' : 'queued',
        retryInMs: this.opts.userOfflineRetrySeconds * 1000,
        sipStatus: res.status,
        error: `${user} is not reachable (${why}); kept until the user registers`,
        refundAttempt: true,
        detail: 'waiting for the user to register',
      };
    }
    if (retryableSipStatus(res.status)) return this.retryOrFail(row, res.status, why, null, 0);
    return this.final(row, 'failed', res.status, why, null, 0);
  }

  private async toAi(row: SmsRow): Promise<SmsOutcome> {
    const target = await this.deps.aiTarget(row.to_number);
    if (!target) return this.final(row, 'failed', null, `${row.to_number} is not an AI number any more`, null, 0);
    const outcome = await this.deps.ai.deliver(
      {
        messageId: row.message_id,
        from: row.from_number,
        to: row.to_number,
        text: row.body,
        segments: row.segments,
        receivedAt: row.created_at,
      },
      target,
    );
    if (!outcome.ok) {
      if (outcome.retryable) return this.retryOrFail(row, null, `AI platform: ${outcome.reason}`, null, 0);
      return this.final(row, 'failed', null, `AI platform refused: ${outcome.reason}`, null, 0);
    }
    // Replies get ids derived from the message, so a re-delivery after a crash adds no second copy.
    let i = 0;
    for (const reply of outcome.replies) {
      i++;
      const to = reply.to ?? row.from_number;
      // Back to a registered user (by name, or the sender's own number) over the location service; else out through a trunk.
      const toUser =
        e164Of(to) === null || (row.source === 'user' && row.sender_user !== null && to === row.from_number);
      const targetUser = e164Of(to) === null ? to : row.sender_user;
      const a = analyzeSms(reply.text);
      const reply_: NewSms = {
        messageId: `${row.message_id}-r${i}`,
        direction: 'outbound',
        from: row.to_number,
        to,
        body: reply.text,
        encoding: a.encoding,
        segments: a.segments,
        status: 'queued',
        source: 'ai',
        destination: toUser ? 'user' : 'trunk',
        targetUser: toUser ? targetUser : null,
        trunkId: toUser ? null : row.trunk_id,
        inReplyTo: row.message_id,
      };
      await this.deps.store.insert(reply_);
    }
    if (i > 0) this.nudge();
    return this.final(row, 'delivered', null, null, null, 0);
  }

  // ---- helpers ----

  private base(row: SmsRow): Pick<SmsOutcome, 'id' | 'messageId' | 'trunkId' | 'partsSent'> {
    return { id: row.id, messageId: row.message_id, trunkId: null, partsSent: row.parts_sent };
  }

  private final(
    row: SmsRow,
    status: SmsOutcome['status'],
    sipStatus: number | null,
    error: string | null,
    trunkId: string | null,
    partsSent: number,
  ): SmsOutcome {
    return {
      id: row.id,
      messageId: row.message_id,
      status,
      retryInMs: null,
      sipStatus,
      error,
      trunkId,
      partsSent,
      refundAttempt: false,
      detail: error,
    };
  }

  private retryOrFail(
    row: SmsRow,
    sipStatus: number | null,
    error: string,
    trunkId: string | null,
    partsSent: number,
  ): SmsOutcome {
    if (row.attempts >= this.opts.maxAttempts) {
      return this.final(row, 'failed', sipStatus, `${error} (after ${row.attempts} attempts)`, trunkId, partsSent);
    }
    const wait = backoffMs(row.attempts, this.opts.retryBaseMs, this.opts.retryMaxMs);
    return {
      id: row.id,
      messageId: row.message_id,
      status: row.status === 'delivering' ? 'received' : 'queued',
      retryInMs: wait,
      sipStatus,
      error,
      trunkId,
      partsSent,
      refundAttempt: false,
      detail: `${error}; retry in ${wait} ms`,
    };
  }

  private fromTag(row: SmsRow): string {
    return createHash('sha256').update(`tag|${row.message_id}`).digest('hex').slice(0, 16);
  }

  private gate(trunk: SmsTrunk): RateGate {
    let gate = this.gates.get(trunk.trunkId);
    if (!gate || gate.rate !== trunk.rateLimit) {
      gate?.close();
      gate = new RateGate(trunk.trunkId, trunk.rateLimit, this.budget, (err) =>
        this.deps.logger.warn('SMS rate budget unavailable; waiting', { trunk_id: trunk.trunkId, err: err.message }),
      );
      this.gates.set(trunk.trunkId, gate);
    }
    return gate;
  }

  /**
   * The message's trunk (its number's) while it is active, else the active outbound
   * trunks in priority order; each further attempt moves one trunk down the list, so a
   * provider answering 5xx or nothing is failed over like a call.
   */
  private async pickTrunk(row: SmsRow): Promise<SmsTrunk | undefined> {
    // Read again for every batch (a trunk just created, deactivated or moved counts at once).
    if (this.trunks.at !== this.batch) {
      const rows = await this.deps.db
        .selectFrom('trunks')
        .select(['trunk_id', 'proxy_address', 'proxy_port', 'transport', 'sms_rate_limit', 'sms_split_segments'])
        .where('status', '=', 'active')
        .where('supports_outbound', '=', true)
        .orderBy('priority')
        .orderBy('trunk_id')
        .execute();
      this.trunks = {
        at: this.batch,
        list: rows.map((t) => ({
          trunkId: t.trunk_id,
          address: t.proxy_address,
          port: t.proxy_port,
          transport: t.transport,
          rateLimit: t.sms_rate_limit,
          splitSegments: t.sms_split_segments,
        })),
      };
    }
    const list = this.trunks.list;
    if (list.length === 0) return undefined;
    // trunk_id: the number's trunk before the first attempt, then the trunk the last attempt used.
    const known = list.findIndex((t) => t.trunkId === row.trunk_id);
    // The first attempt, and a split message that resumes, stay on that trunk; a retry moves one down.
    if (known < 0) return list[0];
    if (row.attempts <= 1 || row.parts_sent > 0) return list[known];
    return list[(known + 1) % list.length];
  }
}
