import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { commandFailure, DONE_CHANNEL } from '../../../common/src/calls/commands';
import type { Database } from '../../../common/src/db/schema';
import { GATEWAY_SET } from '../../../common/src/kamailio/names';
import { QUEUE_CHANNEL } from '../../../common/src/queues/events';
import { endPlacedCalls } from '../calls/outbound-events';

/** Why the calls of a gateway found gone were closed (calls.end_reason). */
export const GATEWAY_LOST = 'gateway_lost';

/** What one sweep found: the gateways whose lease expired, how many calls of theirs it closed and commands it failed. */
export interface SweepResult {
  readonly gateways: string[];
  readonly calls: number;
  readonly commands?: number;
}

/** Where the leases live: PostgreSQL in production, a fake in unit tests. */
export interface LeaseStore {
  /** Creates or extends `gateway`'s lease to `ttlMs` from the database's now. */
  renew(gateway: string, instance: string, ttlMs: number): Promise<void>;
  /** Drops the lease if this instance still holds it (a clean stop). */
  release(gateway: string, instance: string): Promise<void>;
  /** Closes the live calls (and queue entries, seats) of every gateway whose lease expired, fails their open commands, and forgets those gateways. */
  sweep(): Promise<SweepResult>;
}

/**
 * The leases in PostgreSQL (db/migrations/0046_gateway_leases.sql). Every time
 * comparison uses the database's clock, so gateways on machines whose clocks disagree
 * still agree on which leases expired.
 */
export class PgLeaseStore implements LeaseStore {
  constructor(private readonly db: Kysely<Database>) {}

  async renew(gateway: string, instance: string, ttlMs: number): Promise<void> {
    const expires = sql<Date>`now() + make_interval(secs => ${ttlMs / 1000})`;
    await this.db
      .insertInto('gateway_leases')
      .values({ gateway, instance, expires_at: expires })
      .onConflict((oc) =>
        oc.column('gateway').doUpdateSet({
          instance,
          renewed_at: sql<Date>`now()`,
          expires_at: expires,
          // A new run under the same name starts a new lease.
          started_at: sql<Date>`CASE WHEN gateway_leases.instance = ${instance} THEN gateway_leases.started_at ELSE now() END`,
        }),
      )
      .execute();
  }

  async release(gateway: string, instance: string): Promise<void> {
    await this.db
      .deleteFrom('gateway_leases')
      .where('gateway', '=', gateway)
      .where('instance', '=', instance)
      .execute();
  }

  /**
   * One transaction: lock the expired leases no other sweeper holds (SKIP LOCKED, so
   * sweepers running at once split the work instead of waiting on each other), close
   * their gateways' live calls (active, and outbound ones still being placed), fail
   * the commands still waiting for those gateways (ERR_CALL_GATEWAY_LOST, waiters
   * told by NOTIFY on commit), end their queue entries (outcome lost) and free their
   * seats (the queues concerned kicked), drop those gateways' rows from Kamailio's gateway set,
   * and delete the leases. Idempotent: a second sweep finds nothing; a call already
   * ended keeps its own end.
   */
  async sweep(): Promise<SweepResult> {
    return this.db.transaction().execute(async (tx) => {
      const lost = await tx
        .selectFrom('gateway_leases')
        .select('gateway')
        .where('expires_at', '<', sql<Date>`now()`)
        .forUpdate()
        .skipLocked()
        .execute();
      const gateways = lost.map((l) => l.gateway);
      if (gateways.length === 0) return { gateways, calls: 0 };
      // Calls they were placing or had placed first: those owe their webhook's last event.
      const placed = await endPlacedCalls(tx, gateways, GATEWAY_LOST);
      const closed = await tx
        .updateTable('calls')
        .set({ state: 'ended', ended_at: sql<Date>`now()`, end_reason: GATEWAY_LOST, ended_by: 'gateway' })
        .where('state', 'in', ['initiated', 'ringing', 'active'])
        .where('gateway', 'in', gateways)
        .executeTakeFirst();
      const failed = await tx
        .updateTable('call_commands')
        .set({
          state: 'failed',
          result: JSON.stringify(commandFailure('ERR_CALL_GATEWAY_LOST')),
          completed_at: sql<Date>`now()`,
        })
        .where((eb) =>
          eb.or([
            eb.and([eb('state', '=', 'pending'), eb('gateway', 'in', gateways)]),
            eb.and([eb('state', '=', 'claimed'), eb('claimed_by', 'in', gateways)]),
          ]),
        )
        .returning('id')
        .execute();
      for (const { id } of failed) await sql`SELECT pg_notify(${DONE_CHANNEL}, ${String(id)})`.execute(tx);
      // Their waiting callers died with them (outcome lost), and the seats their calls held are free again:
      // each queue concerned is kicked so another gateway's callers get those agents and seats.
      const entries = await tx
        .updateTable('queue_entries')
        .set({ state: 'done', outcome: 'lost', ended_at: sql<Date>`now()` })
        .where('gateway', 'in', gateways)
        .where('state', '<>', 'done')
        .returning('queue')
        .execute();
      await tx.deleteFrom('call_seats').where('gateway', 'in', gateways).execute();
      for (const queue of new Set(entries.map((e) => e.queue)))
        await sql`SELECT pg_notify(${QUEUE_CHANNEL}, ${JSON.stringify({ kind: 'kick', queue })})`.execute(tx);
      await tx.deleteFrom('dispatcher').where('setid', '=', GATEWAY_SET).where('description', 'in', gateways).execute();
      await tx.deleteFrom('gateway_leases').where('gateway', 'in', gateways).execute();
      return { gateways, calls: placed + Number(closed.numUpdatedRows), commands: failed.length };
    });
  }
}

export interface GatewayLeaseOptions {
  readonly gateway: string;
  readonly store: LeaseStore;
  /** How long the lease lasts without a renewal; it is renewed every third of it. */
  readonly ttlMs: number;
  /** After a sweep that removed gateways from Kamailio's set: `dispatcher.reload`. */
  readonly onLost: (result: SweepResult) => Promise<void> | void;
  readonly logger: { warn(message: string, meta?: object): unknown };
  /** This run's identity (default: a fresh UUID). */
  readonly instance?: string;
}

/**
 * This gateway's lease, and its share of watching the others: every ttl/3 it renews
 * its own lease and sweeps the expired ones, so as long as one gateway runs, the calls
 * of a gateway that was killed are closed within about 4/3 of the lease.
 */
export class GatewayLease {
  readonly instance: string;
  private timer: NodeJS.Timeout | null = null;
  private tick: Promise<void> = Promise.resolve();

  constructor(private readonly options: GatewayLeaseOptions) {
    this.instance = options.instance ?? randomUUID();
  }

  /** Takes the lease (throws if the database is unreachable), sweeps once, then keeps both going. */
  async start(): Promise<void> {
    await this.options.store.renew(this.options.gateway, this.instance, this.options.ttlMs);
    await this.sweep();
    this.timer = setInterval(
      () => {
        this.tick = this.tick.then(() => this.beat());
      },
      Math.max(1000, Math.floor(this.options.ttlMs / 3)),
    );
  }

  /** Stops renewing and gives the lease up (a clean stop: nothing of ours is left to close). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.tick;
    await this.options.store.release(this.options.gateway, this.instance);
  }

  private async beat(): Promise<void> {
    try {
      await this.options.store.renew(this.options.gateway, this.instance, this.options.ttlMs);
    } catch (err) {
      this.options.logger.warn('gateway lease not renewed', { error: (err as Error).message });
    }
    await this.sweep();
  }

  private async sweep(): Promise<void> {
    try {
      const result = await this.options.store.sweep();
      if (result.gateways.length > 0) await this.options.onLost(result);
    } catch (err) {
      this.options.logger.warn('lost-gateway sweep failed', { error: (err as Error).message });
    }
  }
}
