import { sql, type Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';

/** An event claimed for one attempt. `attempts` counts this attempt; it is the claim's token. */
export interface ClaimedWebhook {
  readonly id: number;
  readonly callId: string;
  readonly seq: number;
  readonly url: string;
  readonly event: string;
  readonly body: Readonly<Record<string, unknown>>;
  readonly attempts: number;
  readonly createdAt: Date;
}

/** How an attempt ended, as written back. */
export type WebhookResult =
  | { readonly state: 'delivered'; readonly status: number }
  | { readonly state: 'failed'; readonly status: number | null; readonly error: string }
  | { readonly state: 'retry'; readonly status: number | null; readonly error: string; readonly inMs: number };

/**
 * The outbox as the deliverers see it (db/migrations/0048_webhooks.sql).
 *
 * Order per call: only a call's head — its pending event with the lowest sequence — is
 * ever claimed. A claim moves the head's next_attempt_at to the end of the claim, so
 * while it is in flight or waiting for a retry the head is pending but not due, and the
 * call's later events are not heads: nothing overtakes it. Claims use FOR UPDATE SKIP
 * LOCKED, so replicas claiming at once take different heads and never wait for each other.
 */
export class WebhookOutboxStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Claims up to `limit` due heads for `leaseMs`; each claim counts one attempt. */
  async claim(limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
    const res = await sql<{
      id: number;
      call_id: string;
      seq: number;
      url: string;
      event: string;
      body: Record<string, unknown>;
      attempts: number;
      created_at: Date;
    }>`
      UPDATE webhook_outbox o
      SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
      FROM (
        SELECT h.id FROM webhook_outbox h
        WHERE h.state = 'pending' AND h.next_attempt_at <= now()
          AND NOT EXISTS (
            SELECT 1 FROM webhook_outbox e WHERE e.call_id = h.call_id AND e.state = 'pending' AND e.seq < h.seq)
        ORDER BY h.next_attempt_at, h.id
        LIMIT ${limit}
        FOR UPDATE OF h SKIP LOCKED
      ) due
      WHERE o.id = due.id
      RETURNING o.id, o.call_id, o.seq, o.url, o.event, o.body, o.attempts, o.created_at`.execute(this.db);
    return res.rows.map((r) => ({
      id: Number(r.id),
      callId: r.call_id,
      seq: r.seq,
      url: r.url,
      event: r.event,
      body: r.body,
      attempts: r.attempts,
      createdAt: r.created_at,
    }));
  }

  /**
   * Writes an attempt's outcome. False when the claim was lost meanwhile (it outlived its
   * lease and another replica claimed the event again): that replica's outcome counts.
   */
  async finish(event: ClaimedWebhook, result: WebhookResult): Promise<boolean> {
    const base = this.db
      .updateTable('webhook_outbox')
      .where('id', '=', event.id)
      .where('attempts', '=', event.attempts)
      .where('state', '=', 'pending');
    const res =
      result.state === 'delivered'
        ? await base
            .set({ state: 'delivered', delivered_at: sql<Date>`now()`, last_status: result.status, last_error: null })
            .executeTakeFirst()
        : result.state === 'failed'
          ? await base
              .set({ state: 'failed', last_status: result.status, last_error: result.error.slice(0, 512) })
              .executeTakeFirst()
          : await base
              .set({
                next_attempt_at: sql<Date>`now() + make_interval(secs => ${result.inMs / 1000})`,
                last_status: result.status,
                last_error: result.error.slice(0, 512),
              })
              .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Milliseconds until the earliest head becomes due (0: one is due now), or null when nothing is pending. */
  async nextDueInMs(): Promise<number | null> {
    const res = await sql<{ ms: number | null }>`
      SELECT greatest(0, extract(epoch FROM min(h.next_attempt_at) - now()) * 1000)::float8 AS ms
      FROM webhook_outbox h
      WHERE h.state = 'pending'
        AND NOT EXISTS (
          SELECT 1 FROM webhook_outbox e WHERE e.call_id = h.call_id AND e.state = 'pending' AND e.seq < h.seq)`.execute(
      this.db,
    );
    const ms = res.rows[0]?.ms;
    return ms === null || ms === undefined ? null : Number(ms);
  }

  /** Pending events (waiting, retrying or in flight) and the age of the oldest. */
  async depth(): Promise<{ pending: number; oldestAgeSeconds: number }> {
    const res = await sql<{ pending: number; oldest: number | null }>`
      SELECT count(*)::int AS pending, extract(epoch FROM now() - min(created_at))::float8 AS oldest
      FROM webhook_outbox WHERE state = 'pending'`.execute(this.db);
    const row = res.rows[0];
    return { pending: Number(row?.pending ?? 0), oldestAgeSeconds: Number(row?.oldest ?? 0) };
  }
}
