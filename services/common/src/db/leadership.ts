import { Client } from 'pg';
import type { Logger } from '../logger';

/** Two-key advisory lock namespace of leader elections: pg_try_advisory_lock(LEADER_LOCK, job key). */
export const LEADER_LOCK = 0x4c454144; // 'LEAD'

/** Work only one replica may do at a time; started when this replica is elected, stopped when it is not any more. */
export interface LeaderJob {
  start(): void;
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  readonly databaseUrl: string;
  /** What is led (logs, application_name). */
  readonly name: string;
  /** The job's lock key, the same in every replica. */
  readonly key: number;
  /** How often a follower tries to take the lock and a leader checks it still holds its session. */
  readonly checkMs?: number;
  readonly logger: Logger;
  readonly onChange?: (leader: boolean) => void;
}

/**
 * Leader election over a PostgreSQL session advisory lock: the replica whose session
 * holds pg_try_advisory_lock(LEADER_LOCK, key) runs the job. The lock lives as long
 * as that session, so a leader that exits, crashes or loses its connection frees it
 * (for a host that vanishes: once PostgreSQL's TCP keepalive drops the session), and
 * a follower takes it on its next try, within `checkMs`.
 *
 *   follower ──lock taken──► leader ──session lost / close()──► follower
 *
 * A leader cut off from the database stops its job as soon as its own session reports
 * the failure or a check does not answer within `checkMs`; the jobs run this way must
 * be harmless if two replicas overlap for that long (reloads, idempotent sweeps).
 */
export class Leadership {
  private client: Client | undefined;
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private checking: Promise<void> = Promise.resolve();
  private jobStop: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: LeadershipOptions,
    private readonly job: LeaderJob,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  /** Starts trying; the first try happens now. */
  start(): void {
    this.tick();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    await this.checking;
    await this.stepDown('closing');
    await this.jobStop;
    // Ending the session frees the lock at once for the next leader.
    await this.drop();
  }

  private get checkMs(): number {
    return this.opts.checkMs ?? 1000;
  }

  private tick(): void {
    if (this.closed) return;
    this.checking = this.check().finally(() => {
      if (!this.closed) this.timer = setTimeout(() => this.tick(), this.checkMs);
    });
  }

  private async check(): Promise<void> {
    try {
      const client = this.client ?? (await this.connect());
      if (this.leader) {
        // A session that no longer answers may already be gone on the server side, and the lock with it.
        await withTimeout(client.query('SELECT 1'), this.checkMs, 'leader session check');
        return;
      }
      const res = await withTimeout(
        client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LEADER_LOCK, this.opts.key]),
        this.checkMs,
        'leader lock attempt',
      );
      if (res.rows[0]?.ok && !this.closed) this.elected();
    } catch (err) {
      await this.lost(err as Error);
    }
  }

  private async connect(): Promise<Client> {
    const client = new Client({
      connectionString: this.opts.databaseUrl,
      application_name: `leader ${this.opts.name}`,
      keepAlive: true,
      connectionTimeoutMillis: this.checkMs * 2,
    });
    client.on('error', (err) => {
      if (this.client === client) void this.lost(err);
    });
    this.client = client;
    try {
      await client.connect();
    } catch (err) {
      this.client = undefined;
      await client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  private elected(): void {
    this.leader = true;
    this.opts.logger.info('elected leader', { job: this.opts.name });
    this.opts.onChange?.(true);
    this.job.start();
  }

  private async stepDown(why: string): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    this.opts.logger.warn('no longer leader', { job: this.opts.name, reason: why });
    this.opts.onChange?.(false);
    this.jobStop = this.job.stop().catch((err: Error) => {
      this.opts.logger.warn('stopping the leader job failed', { job: this.opts.name, err: err.message });
    });
    await this.jobStop;
  }

  private async lost(err: Error): Promise<void> {
    await this.stepDown(`database session lost: ${err.message}`);
    await this.drop();
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    // end() waits for the server's goodbye, which a dead connection never sends.
    if (client) await withTimeout(client.end(), this.checkMs, 'closing the leader session').catch(() => undefined);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
