import { sql, type Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';

/** What one draw from a shared bucket gave. */
export interface RateDraw {
  /** Tokens granted (0..want). */
  readonly granted: number;
  /** Tokens left in the bucket after the draw (fractional). */
  readonly tokens: number;
}

/**
 * A token bucket shared by every process that sends through one trunk (PostgreSQL in
 * production): `draw` takes up to `want` whole tokens atomically.
 */
export interface RateBudget {
  draw(key: string, rate: number, burst: number, want: number): Promise<RateDraw>;
}

/** The burst of a rate: a tenth of a second's worth, at least one. */
export function burstOf(rate: number): number {
  return Math.max(1, Math.floor(rate / 10));
}

/**
 * Makes callers wait until one more send fits under `rate` per second for the whole
 * deployment, not per process: the tokens come from a {@link RateBudget} every
 * replica draws from. Waiters are served in order; one draw serves up to a burst of
 * them, and the next draw is timed for when the bucket should hold that many again,
 * so a replica asks the database about rate/burst = 10 times a second while it has
 * messages waiting, and not at all otherwise. Rate 0 means no limit.
 */
export class RateGate {
  readonly burst: number;
  private readonly waiters: Array<() => void> = [];
  private drawing = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly key: string,
    readonly rate: number,
    private readonly budget: RateBudget,
    private readonly onError: (err: Error) => void = () => undefined,
    private readonly retryMs = 500,
  ) {
    this.burst = burstOf(rate);
  }

  take(): Promise<void> {
    if (this.rate <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.pump();
    });
  }

  /** Lets every waiter through (shutting down: the worker waits for its sends to finish). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w();
  }

  private pump(): void {
    if (this.drawing || this.timer || this.closed || this.waiters.length === 0) return;
    this.drawing = true;
    void this.drawOnce().then((waitMs) => {
      this.drawing = false;
      if (this.closed || this.waiters.length === 0) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, waitMs);
    });
  }

  /** One draw for the waiters at the head of the queue; resolves with the time to the next one. */
  private async drawOnce(): Promise<number> {
    const want = Math.min(this.waiters.length, this.burst);
    let drawn: RateDraw;
    try {
      drawn = await this.budget.draw(this.key, this.rate, this.burst, want);
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      return this.retryMs;
    }
    for (let i = 0; i < drawn.granted && this.waiters.length > 0; i++) (this.waiters.shift() as () => void)();
    const next = Math.min(this.waiters.length, this.burst);
    return Math.max(1, Math.ceil(((next - drawn.tokens) * 1000) / this.rate));
  }
}

// The bucket's content now: refilled for the time since the last draw, capped at the
// burst. GREATEST(…, 0): a draw that waited for another's row lock may carry an
// earlier clock than the one that committed first.
const AVAILABLE = sql`least(${sql.ref('burst_arg')}, tokens + greatest(0, extract(epoch FROM c.now - refilled_at)::float8) * ${sql.ref('rate_arg')})`;

/**
 * The SMS rate buckets in PostgreSQL (table sms_rate_buckets, one row a trunk): a
 * draw is one UPDATE, which the row lock serialises across replicas.
 */
export class PgRateBudget implements RateBudget {
  private readonly known = new Set<string>();

  constructor(private readonly db: Kysely<Database>) {}

  async draw(trunkId: string, rate: number, burst: number, want: number): Promise<RateDraw> {
    if (!this.known.has(trunkId)) {
      await this.db
        .insertInto('sms_rate_buckets')
        .values({ trunk_id: trunkId, tokens: burst })
        .onConflict((oc) => oc.column('trunk_id').doNothing())
        .execute();
      this.known.add(trunkId);
    }
    const res = await sql<{ granted: number; tokens: number }>`
      UPDATE sms_rate_buckets SET
        tokens = ${AVAILABLE} - least(floor(${AVAILABLE}), ${sql.ref('want_arg')}),
        granted = least(floor(${AVAILABLE}), ${sql.ref('want_arg')})::integer,
        refilled_at = greatest(refilled_at, c.now)
      FROM (SELECT clock_timestamp() AS now, ${rate}::float8 AS rate_arg, ${burst}::float8 AS burst_arg,
                   ${want}::float8 AS want_arg) c
      WHERE trunk_id = ${trunkId}
      RETURNING granted, tokens`.execute(this.db);
    const row = res.rows[0];
    // The row is gone: the trunk was deleted while messages waited for it. Let them
    // through; the send finds no trunk and is failed over like any other.
    if (!row) {
      this.known.delete(trunkId);
      return { granted: want, tokens: 0 };
    }
    return { granted: row.granted, tokens: row.tokens };
  }
}
