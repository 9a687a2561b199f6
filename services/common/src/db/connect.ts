import { Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import type { Database } from './schema';

// int8 (COUNT(*), SUM over integers) as number: counts here never approach 2^53.
types.setTypeParser(20, (v) => Number(v));

export interface DbHandle {
  readonly pool: Pool;
  readonly db: Kysely<Database>;
  close(): Promise<void>;
}

export interface DbOptions {
  /** Pool size. */
  readonly max?: number;
  /** How long acquiring a new connection may take (DATABASE_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs?: number;
  /**
   * An idle pooled connection that dies (PostgreSQL restarting: 57P01 "terminating
   * connection due to administrator command", a network cut) is reported here. pg
   * emits it as an `error` event on the pool, which would end the process if nobody
   * listened; the pool itself drops that client and opens a new one on demand.
   */
  readonly onIdleError?: (err: Error) => void;
}

export function connectDatabase(url: string, options: DbOptions = {}): DbHandle {
  const pool = new Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    pool,
    db,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

/** SQLSTATE classes and socket errors that mean "the database went away", not "the query is wrong". */
const TRANSIENT_SQLSTATE = /^(08|57P0[1-3]|53300|40001|40P01)/;
const TRANSIENT_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET|EPIPE|the database system is (starting up|shutting down)|Client has encountered a connection error/i;

/**
 * Whether a failed query is worth retrying once the database is back: lost or refused
 * connections, an administrator shutdown (57P01..57P03), too many connections,
 * serialization failures and deadlocks. Constraint violations and syntax errors are
 * not: retrying them would only fail again.
 */
export function isTransientDbError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_SQLSTATE.test(code)) return true;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && TRANSIENT_MESSAGE.test(code)) return true;
  return TRANSIENT_MESSAGE.test(err.message);
}
