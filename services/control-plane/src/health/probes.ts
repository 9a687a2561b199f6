import { sql, type Kysely } from 'kysely';
import { Client } from 'pg';
import type { Database } from '../../../common/src/db/schema';
import type { KamailioControl } from '../kamailio/control';
import { deadline } from './deadline';

/** The part of the media relay client (services/common/src/media-relay) the probes use. */
export interface RelayPing {
  ping(): Promise<{ latencyMs: number; version?: string }>;
}

export type ProbeStatus = 'ok' | 'error';

export interface ProbeResult {
  readonly status: ProbeStatus;
  readonly latency_ms: number | null;
  readonly error?: string;
}

export const PROBE_TIMEOUT_MS = 2000;

function elapsedMs(started: bigint): number {
  return Math.round(Number(process.hrtime.bigint() - started) / 1e3) / 1e3;
}

async function probe<T extends object>(
  what: string,
  work: () => Promise<T>,
  timeoutMs: number,
): Promise<ProbeResult & Partial<T>> {
  const started = process.hrtime.bigint();
  try {
    const details = await deadline(work(), timeoutMs, what);
    return { status: 'ok', latency_ms: elapsedMs(started), ...details };
  } catch (err) {
    const failed: ProbeResult = {
      status: 'error',
      latency_ms: null,
      error: err instanceof Error ? err.message : String(err),
    };
    return failed as ProbeResult & Partial<T>;
  }
}

/**
 * The database answers a query through the pool and, when `login` is given, also
 * takes a new session: pooled sessions outlive a changed password or a revoked role,
 * and a database this process can no longer log in to is down for it.
 */
export function probeDatabase(
  db: Kysely<Database>,
  timeoutMs = PROBE_TIMEOUT_MS,
  login?: () => Promise<void>,
): Promise<ProbeResult> {
  return probe(
    'PostgreSQL',
    async () => {
      await sql`SELECT 1`.execute(db);
      if (login) await login();
      return {};
    },
    timeoutMs,
  );
}

/** Opens and closes one session with `url` (for {@link probeDatabase}). */
export async function loginOnce(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  const client = new Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    application_name: 'health probe',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function probeKamailio(
  kamailio: KamailioControl,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<ProbeResult & { version?: string; uptime_seconds?: number }> {
  return probe(
    'Kamailio',
    async () => {
      const info = await kamailio.info();
      return { version: info.version, uptime_seconds: info.uptime_seconds };
    },
    timeoutMs,
  );
}

export function probeRelay(
  relay: RelayPing,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<ProbeResult & { version?: string }> {
  return probe(
    'media relay',
    async () => {
      const pong = await relay.ping();
      return pong.version === undefined ? {} : { version: pong.version };
    },
    timeoutMs,
  );
}
