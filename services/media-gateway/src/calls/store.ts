import type { Kysely } from 'kysely';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import { isTransientDbError } from '../../../common/src/db/connect';
import type { Database } from '../../../common/src/db/schema';
import { endPlacedCalls } from './outbound-events';

/** What a call remembers in PostgreSQL (tables calls and call_events, db/migrations/0010). */
export interface CallRecordStart {
  readonly callId: string;
  readonly sipCallId: string;
  readonly from: string;
  readonly to: string;
  readonly route: string;
  /** Null for a call answered without an AI (a menu, a queue): an `ai_connected` event fills them in. */
  readonly aiDialect: string | null;
  readonly aiUrl: string | null;
  readonly codec: string;
  readonly gateway: string;
  readonly recordingPath: string | null;
}

export interface CallRecordEnd {
  readonly reason: string;
  readonly by: string;
  readonly recordingBytes: number | null;
  readonly stats: Record<string, unknown>;
}

export interface AiNumberSettings {
  readonly dialect: Dialect | null;
  readonly agentUrl: string | null;
  readonly options: Record<string, unknown> | null;
  readonly recordingEnabled: boolean;
  /** numbers.hold_music: the number's music on hold, a file under HOLD_MUSIC_DIR; null: the default tune. */
  readonly holdMusic?: string | null;
}

/** The slice of storage a call needs; PostgreSQL in production, a fake in unit tests. */
export interface CallStore {
  numberSettings(digits: string): Promise<AiNumberSettings | null>;
  started(r: CallRecordStart): Promise<void>;
  event(callId: string, type: string, data: Record<string, unknown>): Promise<void>;
  ended(callId: string, r: CallRecordEnd): Promise<void>;
}

export class PgCallStore implements CallStore {
  constructor(private readonly db: Kysely<Database>) {}

  async numberSettings(digits: string): Promise<AiNumberSettings | null> {
    const row = await this.db
      .selectFrom('numbers')
      .select(['ai_dialect', 'ai_agent_url', 'ai_options', 'recording_enabled', 'hold_music'])
      .where('number', '=', `+${digits}`)
      .executeTakeFirst();
    if (!row) return null;
    return {
      dialect: row.ai_dialect,
      agentUrl: row.ai_agent_url,
      options: row.ai_options,
      recordingEnabled: row.recording_enabled,
      holdMusic: row.hold_music,
    };
  }

  async started(r: CallRecordStart): Promise<void> {
    await this.db
      .insertInto('calls')
      .values({
        call_id: r.callId,
        sip_call_id: r.sipCallId,
        from_number: r.from,
        to_number: r.to,
        route: r.route,
        ai_dialect: r.aiDialect,
        ai_url: r.aiUrl,
        codec: r.codec,
        gateway: r.gateway,
        recording_path: r.recordingPath,
      })
      .execute();
  }

  async event(callId: string, type: string, data: Record<string, unknown>): Promise<void> {
    await this.db
      .insertInto('call_events')
      .values({ call_id: callId, type, data: JSON.stringify(data) })
      .execute();
    // The live hold state for GET /api/calls/active (calls.on_hold, db/migrations/0047).
    if (type === 'hold' || type === 'resume')
      await this.db
        .updateTable('calls')
        .set({ on_hold: type === 'hold' })
        .where('call_id', '=', callId)
        .execute();
    // A call answered for a menu or a queue that an AI took later (CallHandle.connectAi).
    if (type === 'ai_connected' && typeof data.url === 'string' && typeof data.dialect === 'string')
      await this.db
        .updateTable('calls')
        .set({ ai_url: data.url, ai_dialect: data.dialect })
        .where('call_id', '=', callId)
        .execute();
  }

  async ended(callId: string, r: CallRecordEnd): Promise<void> {
    await this.db
      .updateTable('calls')
      .set({
        state: 'ended',
        ended_at: new Date(),
        end_reason: r.reason,
        ended_by: r.by,
        recording_bytes: r.recordingBytes,
        stats: JSON.stringify(r.stats),
        // An ended call is on hold no more, whoever held it.
        on_hold: false,
      })
      .where('call_id', '=', callId)
      .execute();
  }

  /**
   * Closes the rows a gateway of this id left active: it stopped (crashed, was
   * killed) with those calls up, so they are over. Returns how many.
   */
  async closeOrphans(gatewayId: string, reason: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      // Calls it placed first: those owe their webhook's last event.
      const placed = await endPlacedCalls(trx, [gatewayId], reason);
      const res = await trx
        .updateTable('calls')
        .set({ state: 'ended', ended_at: new Date(), end_reason: reason, ended_by: 'gateway' })
        .where('gateway', '=', gatewayId)
        .where('state', 'in', ['initiated', 'ringing', 'active'])
        .executeTakeFirst();
      return placed + Number(res.numUpdatedRows);
    });
  }
}

export interface OrderedCallStoreOptions {
  readonly logger: {
    warn(message: string, meta?: Record<string, unknown>): void;
    error(message: string, meta?: Record<string, unknown>): void;
  };
  /** How long a write waits for the database to come back before it is given up (logged). */
  readonly retryForMs?: number;
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Called for each retry (a metric). */
  readonly onRetry?: () => void;
}

/**
 * Writes of one call go to the database one after the other, in the order the call
 * made them, so a call that ends in the same moment it starts can never leave its
 * row active (an UPDATE overtaking its own INSERT on another pooled connection).
 * A write that meets a lost database (a restart, a cut) is retried with backoff
 * until it lands or `retryForMs` passes; the call itself never waits for it.
 */
export class OrderedCallStore implements CallStore {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    private readonly inner: CallStore,
    private readonly opts: OrderedCallStoreOptions,
  ) {}

  numberSettings(digits: string): Promise<AiNumberSettings | null> {
    return this.inner.numberSettings(digits);
  }

  started(r: CallRecordStart): Promise<void> {
    this.enqueue(r.callId, 'started', () => this.inner.started(r));
    return Promise.resolve();
  }

  event(callId: string, type: string, data: Record<string, unknown>): Promise<void> {
    this.enqueue(callId, `event ${type}`, () => this.inner.event(callId, type, data));
    return Promise.resolve();
  }

  ended(callId: string, r: CallRecordEnd): Promise<void> {
    this.enqueue(callId, 'ended', () => this.inner.ended(callId, r));
    return Promise.resolve();
  }

  /** Queues any other write of a call (a placed call's ringing or failure) behind its earlier ones. */
  run(callId: string, what: string, write: () => Promise<void>): void {
    this.enqueue(callId, what, write);
  }

  /** Calls with writes still queued. */
  get pendingCalls(): number {
    return this.tails.size;
  }

  /** Resolves when every queued write has landed or was given up (at shutdown), or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const all = Promise.all([...this.tails.values()]).then(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([all, timeout]);
    clearTimeout(timer);
  }

  private enqueue(callId: string, what: string, write: () => Promise<void>): void {
    const previous = this.tails.get(callId) ?? Promise.resolve();
    const tail = previous.then(() => this.withRetry(callId, what, write));
    this.tails.set(callId, tail);
    void tail.then(() => {
      if (this.tails.get(callId) === tail) this.tails.delete(callId);
    });
  }

  private async withRetry(callId: string, what: string, write: () => Promise<void>): Promise<void> {
    const giveUpAt = Date.now() + (this.opts.retryForMs ?? 600_000);
    let delay = this.opts.firstDelayMs ?? 100;
    for (let attempt = 1; ; attempt++) {
      try {
        await write();
        if (attempt > 1)
          this.opts.logger.warn('call record written after the database came back', {
            callId,
            what,
            attempts: attempt,
          });
        return;
      } catch (err) {
        if (!isTransientDbError(err) || Date.now() + delay > giveUpAt) {
          this.opts.logger.error('call record not written', {
            callId,
            what,
            attempts: attempt,
            error: (err as Error).message,
          });
          return;
        }
        if (attempt === 1)
          this.opts.logger.warn('database unavailable; call record will be retried', {
            callId,
            what,
            error: (err as Error).message,
          });
        this.opts.onRetry?.();
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.opts.maxDelayMs ?? 5000);
      }
    }
  }
}
