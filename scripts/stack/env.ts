import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The checkout this code runs from (source under jest, or compiled under dist/). */
export const REPO_ROOT = findRepoRoot(__dirname);
export const SECRETS_FILE = join(REPO_ROOT, '.local', 'secrets.env');

export type Instance = 'dev' | 'test' | 'bench';

/**
 * Defaults per local stack. `dev` is what `npm start` runs (the ports the seed
 * documents); `test` is what `npm test` runs, on other ports and another database so
 * a running dev stack and the test suite never meet.
 */
const INSTANCE_DEFAULTS: Record<Instance, Record<string, string>> = {
  dev: {
    STACK_INSTANCE: 'dev',
    SIP_PROXY_PORT: '5060',
    SIP_TLS_PORT: '5061',
    API_PORT: '8080',
    KAMAILIO_RPC_PORT: '5081',
    KAMAILIO_EVAPI_PORT: '8448',
    RTPENGINE_NG_PORT: '22223',
    RTPPROXY_CONTROL_PORT: '7722',
    RTP_PORT_MIN: '10000',
    RTP_PORT_MAX: '20000',
    GATEWAY_SIP_PORT: '5070',
    GATEWAY_HTTP_PORT: '8081',
    GATEWAY_RTP_PORT_MIN: '30000',
    GATEWAY_RTP_PORT_MAX: '31999',
    DEMO_AGENT_PORT: '8090',
    SMS_SIP_PORT: '5090',
    // Webhook receivers under development run on this machine.
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    AI_ROUTE_ALLOW_PRIVATE_ADDRESSES: 'true',
    DB_NAME: 'sipai',
  },
  test: {
    STACK_INSTANCE: 'test',
    SIP_PROXY_PORT: '15060',
    SIP_TLS_PORT: '15061',
    // Trunks over TLS in tests are providers with certificates of a test CA (tests/fixtures/tls).
    SIP_TLS_CA_FILE: join(REPO_ROOT, 'tests', 'fixtures', 'tls', 'ca.pem'),
    API_PORT: '18080',
    KAMAILIO_RPC_PORT: '15081',
    KAMAILIO_EVAPI_PORT: '18448',
    RTPENGINE_NG_PORT: '12223',
    RTPPROXY_CONTROL_PORT: '17722',
    RTP_PORT_MIN: '40000',
    RTP_PORT_MAX: '44999',
    GATEWAY_SIP_PORT: '15070',
    GATEWAY_HTTP_PORT: '18082',
    GATEWAY_RTP_PORT_MIN: '32000',
    GATEWAY_RTP_PORT_MAX: '33999',
    DEMO_AGENT_PORT: '18090',
    SMS_SIP_PORT: '15090',
    SMS_RETRY_BASE_MS: '200',
    SMS_RETRY_MAX_MS: '2000',
    SMS_PART_TIMEOUT_SECONDS: '4',
    AI_RECONNECT_WINDOW_MS: '3000',
    // Webhook receivers of the suites listen on 127.0.0.x; retries and claims kept short.
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    AI_ROUTE_ALLOW_PRIVATE_ADDRESSES: 'true',
    WEBHOOK_RETRY_BASE_MS: '200',
    WEBHOOK_TIMEOUT_MS: '2000',
    DB_NAME: 'sipai_test',
    // Tests drive bursts from 127.0.0.1; flood tests use their own source address.
    SIP_FLOOD_REQUESTS: '400',
    SIP_LOCKOUT_MAX_FAILURES: '3',
    SIP_LOCKOUT_WINDOW_SECONDS: '60',
    SIP_LOCKOUT_SECONDS: '120',
    // The suites fail logins on purpose from 127.0.0.1 across many fresh accounts; the
    // brute-force suite attacks from its own addresses and stays within these.
    SIP_SOURCE_MAX_FAILURES: '40',
    SIP_STUFFING_MAX_ACCOUNTS: '10',
    SIP_ACCOUNT_LOCK_SOURCES: '3',
    SIP_SOURCE_BAN_SECONDS: '120',
    API_RATE_LIMIT_PER_IP: '100000',
    API_RATE_LIMIT_PER_TOKEN: '100000',
    // info: the observability suite follows one call's Call-ID through every
    // component's log lines, which are written at info.
    LOG_LEVEL: 'info',
  },
  bench: {
    STACK_INSTANCE: 'bench',
    SIP_PROXY_PORT: '35060',
    SIP_TLS_PORT: '35061',
    API_PORT: '38080',
    KAMAILIO_RPC_PORT: '35081',
    KAMAILIO_EVAPI_PORT: '38448',
    RTPENGINE_NG_PORT: '32224',
    RTPPROXY_CONTROL_PORT: '37722',
    RTP_PORT_MIN: '48000',
    RTP_PORT_MAX: '49999',
    GATEWAY_SIP_PORT: '35080',
    GATEWAY_HTTP_PORT: '38082',
    GATEWAY_RTP_PORT_MIN: '50000',
    GATEWAY_RTP_PORT_MAX: '53999',
    GATEWAY_MAX_CALLS: '2000',
    DEMO_AGENT_PORT: '38090',
    SMS_SIP_PORT: '35090',
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    AI_ROUTE_ALLOW_PRIVATE_ADDRESSES: 'true',
    DB_NAME: 'sipai_bench',
    // Benchmarks drive thousands of requests per second from one address on purpose.
    // pike's ceiling (16 bits): 32,767 requests a second from one source.
    SIP_FLOOD_REQUESTS: '65535',
    API_RATE_LIMIT_PER_IP: '1000000',
    API_RATE_LIMIT_PER_TOKEN: '1000000',
    LOG_LEVEL: 'warn',
  },
};

const SECRET_NAMES = [
  'JWT_SECRET_KEY',
  'SIP_JWT_SECRET',
  'SIP_SHARED_SECRET',
  'PROXY_SHARED_SECRET',
  'WEBHOOK_SIGNING_SECRET',
  'DB_PASSWORD',
] as const;

/** Generates the local secrets on first use (mode 0600, git-ignored) and reads them. */
export function ensureSecrets(file = SECRETS_FILE): Record<(typeof SECRET_NAMES)[number], string> {
  const existing = existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8')) : {};
  const missing = SECRET_NAMES.filter((n) => !existing[n]);
  if (missing.length > 0) {
    for (const name of missing) existing[name] = randomBytes(32).toString('hex');
    mkdirSync(dirname(file), { recursive: true });
    const body = SECRET_NAMES.map((n) => `${n}=${existing[n]}`).join('\n');
    writeFileSync(file, `# Generated on first run. Keep private; never commit.\n${body}\n`, { mode: 0o600 });
  }
  return existing;
}

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && m[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

export interface StackEnv {
  /** The full environment the stack's processes run with. */
  readonly env: Record<string, string>;
  /** Whether DATABASE_URL was derived here (so the role and database are ours to create). */
  readonly managedDatabase: { readonly name: string; readonly role: string; readonly password: string } | null;
}

/** Resolves the environment of a local stack: instance defaults < secrets file < process env. */
export function resolveStackEnv(
  instance: Instance,
  processEnv: NodeJS.ProcessEnv = process.env,
  overrides: Readonly<Record<string, string>> = {},
): StackEnv {
  const secrets = ensureSecrets();
  const defaults = { ...INSTANCE_DEFAULTS[instance], ...slotDefaults(instance, processEnv['TEST_STACK_SLOT']) };
  const env: Record<string, string> = { ...defaults };
  for (const n of [
    'JWT_SECRET_KEY',
    'SIP_JWT_SECRET',
    'SIP_SHARED_SECRET',
    'PROXY_SHARED_SECRET',
    'WEBHOOK_SIGNING_SECRET',
  ] as const)
    env[n] = secrets[n];
  // In the test and bench instances the defaults win over a developer's exported dev
  // settings, except for the things that describe the machine (relay choice, logging).
  const passThrough = instance === 'dev' ? null : TEST_PASSTHROUGH;
  for (const [k, v] of Object.entries(processEnv)) {
    if (v === undefined) continue;
    if (passThrough && k in defaults && !passThrough.has(k)) continue;
    env[k] = v;
  }
  Object.assign(env, overrides);
  // The test and bench stacks wipe or load their database: they never touch the one
  // DATABASE_URL names, only TEST_DATABASE_URL or a local database of their own.
  if (instance !== 'dev') {
    delete env['DATABASE_URL'];
    if (processEnv['TEST_DATABASE_URL']) env['DATABASE_URL'] = processEnv['TEST_DATABASE_URL'];
    if (overrides['DATABASE_URL']) env['DATABASE_URL'] = overrides['DATABASE_URL'];
  }
  let managedDatabase: StackEnv['managedDatabase'] = null;
  if (!env['DATABASE_URL']) {
    const name = env['DB_NAME'] ?? 'sipai';
    // Each database has a role of its own (the dev database `sipai` has `sipai`): a test
    // run (which re-passwords its role) in another checkout must never lock a running
    // dev stack out of its database.
    const role = name;
    managedDatabase = { name, role, password: secrets.DB_PASSWORD };
    env['DATABASE_URL'] = `postgresql://${role}:${secrets.DB_PASSWORD}@127.0.0.1:5432/${name}`;
  }
  return { env, managedDatabase };
}

const TEST_PASSTHROUGH = new Set(['MEDIA_RELAY', 'LOG_LEVEL']);

/**
 * TEST_STACK_SLOT=1..6 moves a test stack to ports, RTP ranges and a database of its
 * own, so test stacks of several checkouts can run on one machine at once.
 */
export function slotDefaults(instance: Instance, slot: string | undefined): Record<string, string> {
  if (instance !== 'test' || slot === undefined || slot === '') return {};
  if (!/^[1-6]$/.test(slot)) throw new Error(`TEST_STACK_SLOT must be 1 to 6 (got '${slot}')`);
  const n = Number(slot);
  const base = 20000 + n * 1000;
  const rtp = 54000 + (n - 1) * 1500;
  return {
    STACK_INSTANCE: `test-slot${n}`,
    DB_NAME: `sipai_test_slot${n}`,
    SIP_PROXY_PORT: String(base + 60),
    SIP_TLS_PORT: String(base + 61),
    API_PORT: String(base + 80),
    KAMAILIO_RPC_PORT: String(base + 81),
    KAMAILIO_EVAPI_PORT: String(base + 48),
    RTPENGINE_NG_PORT: String(base + 23),
    RTPPROXY_CONTROL_PORT: String(base + 25),
    GATEWAY_SIP_PORT: String(base + 70),
    GATEWAY_HTTP_PORT: String(base + 82),
    DEMO_AGENT_PORT: String(base + 90),
    SMS_SIP_PORT: String(base + 92),
    RTP_PORT_MIN: String(rtp),
    RTP_PORT_MAX: String(rtp + 999),
    GATEWAY_RTP_PORT_MIN: String(rtp + 1000),
    GATEWAY_RTP_PORT_MAX: String(rtp + 1499),
  };
}

function findRepoRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return resolve(dir);
}
