import { execFileSync, spawnSync } from 'node:child_process';
import { Client } from 'pg';
import { migrate, readMigrations, type MigrationResult } from '../../services/common/src/db/migrate';
import { join } from 'node:path';
import { REPO_ROOT } from './env';

export const MIGRATIONS_DIR = join(REPO_ROOT, 'db', 'migrations');

export class StackSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackSetupError';
  }
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new StackSetupError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new StackSetupError(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Starts the local Debian PostgreSQL cluster when it is down (pg_lsclusters / pg_ctlcluster). */
export function ensureLocalPostgres(): void {
  const lines = run('pg_lsclusters', ['--no-header']).trim().split('\n').filter(Boolean);
  if (lines.length === 0) {
    throw new StackSetupError(
      'no PostgreSQL cluster exists: run `pg_createcluster --start 15 main` or set DATABASE_URL',
    );
  }
  let online: [string, string] | null = null;
  for (const line of lines) {
    const [version, cluster, , status] = line.trim().split(/\s+/);
    if (!version || !cluster) continue;
    if (status?.startsWith('online')) {
      online = [version, cluster];
      break;
    }
  }
  const [version, cluster] = online ?? ((lines[0] as string).trim().split(/\s+/) as [string, string]);
  if (!online) run('pg_ctlcluster', [version, cluster, 'start']);
  ensureConnectionSlots(version, cluster);
}

/**
 * Each local stack holds about 20 connections (more while starting: every Kamailio
 * process opens its own per module), and a dev stack, a test run and the test
 * suites' second stacks run side by side: Debian's default of 100 is too few. Raised
 * once (ALTER SYSTEM, then a restart of the cluster, which is the only way this
 * setting changes).
 */
export const LOCAL_MAX_CONNECTIONS = 500;

function ensureConnectionSlots(version: string, cluster: string): void {
  const current = Number(psqlAsPostgres('SHOW max_connections;').trim());
  if (current >= LOCAL_MAX_CONNECTIONS) return;
  psqlAsPostgres(`ALTER SYSTEM SET max_connections = ${LOCAL_MAX_CONNECTIONS};`);
  run('pg_ctlcluster', [version, cluster, 'restart']);
}

/** Runs SQL as the postgres superuser through the local socket (peer auth). */
function psqlAsPostgres(sql: string, vars: Record<string, string> = {}): string {
  const args = ['-u', 'postgres', '--', 'psql', '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1'];
  for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
  try {
    return execFileSync('runuser', args, { input: sql, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new StackSetupError(`psql as postgres failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** Creates (or re-passwords) the role and creates the database when missing. Idempotent. */
export function ensureRoleAndDatabase(role: string, password: string, database: string): void {
  if (!/^[a-z_][a-z0-9_]*$/.test(role) || !/^[a-z_][a-z0-9_]*$/.test(database) || !/^[A-Za-z0-9]+$/.test(password)) {
    throw new StackSetupError('role, database and generated password must be simple identifiers');
  }
  psqlAsPostgres(
    `SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'pw') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec
`,
    { role, pw: password, db: database },
  );
}

/** Drops and recreates a database (test runs start from an empty schema). */
export function recreateDatabase(role: string, database: string): void {
  psqlAsPostgres(
    `SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') \\gexec
`,
    { role, db: database },
  );
}

export async function applyMigrations(databaseUrl: string): Promise<MigrationResult> {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await migrate(client, readMigrations(MIGRATIONS_DIR));
  } finally {
    await client.end();
  }
}

/** Waits until the server accepts connections with these credentials. */
export async function waitForDatabase(databaseUrl: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (err) {
      last = (err as Error).message;
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new StackSetupError(`PostgreSQL did not accept connections within ${timeoutMs} ms: ${last}`);
}
