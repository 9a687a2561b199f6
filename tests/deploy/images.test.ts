import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { REPO_ROOT } from '../../scripts/stack/env';

/**
 * The four images (deploy/images) build from Debian's packages and each starts and passes
 * its own HEALTHCHECK, run the way the chart runs them: host network, read-only root,
 * no capabilities, no new privileges, as their non-root users. Ports are this
 * machine's slot range well away from the default ones (dev stacks use 5060, 8080, ...).
 * Every container and volume is removed afterwards, also on failure.
 */
const run = promisify(execFile);
const CONTAINERS_CONF = join(REPO_ROOT, '.local', 'containers', 'containers.conf');
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const image = (name: string): string => `sip-ai-bridge/${name}:${VERSION}`;

// Slot n's test stack uses 20000 + 1000n + {23..92}; these containers take +500..+699.
const slot = Number(process.env['TEST_STACK_SLOT'] || '5');
const base = 20000 + slot * 1000 + 500;
const PORTS = {
  postgres: base + 32,
  sip: base + 60,
  sipTls: base + 61,
  api: base + 80,
  rpc: base + 81,
  evapi: base + 48,
  ng: base + 23,
  sms: base + 92,
  gatewaySip: base + 70,
  gatewayHttp: base + 82,
  demoAgent: base + 90,
  rtpMin: base + 100,
  rtpMax: base + 199,
};
const tag = `t${process.pid}`;
const name = (what: string): string => `sipai-images-${tag}-${what}`;
const DB_VOLUME = name('pgdata');
const secret = 'images-test-secret-0123456789abcdef0123456789';
const DATABASE_URL = `postgresql://sipai:${secret}@127.0.0.1:${PORTS.postgres}/sipai`;

/** The environment every service of this test runs with (docs/configuration.md names). */
const SERVICE_ENV: Record<string, string> = {
  DATABASE_URL,
  JWT_SECRET_KEY: secret,
  SIP_JWT_SECRET: secret,
  SIP_SHARED_SECRET: secret,
  PROXY_SHARED_SECRET: secret,
  SIP_DOMAIN: 'sip.example.test',
  SIP_PROXY_PORT: String(PORTS.sip),
  SIP_TLS_PORT: String(PORTS.sipTls),
  API_PORT: String(PORTS.api),
  KAMAILIO_RPC_PORT: String(PORTS.rpc),
  KAMAILIO_EVAPI_PORT: String(PORTS.evapi),
  KAMAILIO_SHARED_MEMORY: '64',
  KAMAILIO_CHILDREN: '2',
  RTPENGINE_NG_PORT: String(PORTS.ng),
  RTP_PORT_MIN: String(PORTS.rtpMin),
  RTP_PORT_MAX: String(PORTS.rtpMax),
  SMS_SIP_PORT: String(PORTS.sms),
  GATEWAY_SIP_PORT: String(PORTS.gatewaySip),
  GATEWAY_HTTP_PORT: String(PORTS.gatewayHttp),
  DEMO_AGENT_PORT: String(PORTS.demoAgent),
};

async function podman(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('podman', [...args], { env: podmanEnv, timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout.trim();
}

const envArgs = (env: Record<string, string>): string[] => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

/** The hardening the chart applies; --health-interval disable: no systemd timers here, the test runs each check. */
const HARDENED = [
  '--network',
  'host',
  '--read-only',
  '--cap-drop',
  'all',
  '--security-opt',
  'no-new-privileges',
  '--health-interval',
  'disable',
  '--label',
  `sip-ai-bridge.test=${tag}`,
];

async function start(
  what: string,
  img: string,
  env: Record<string, string>,
  extra: string[] = [],
  cmd: string[] = [],
): Promise<string> {
  await podman(['run', '-d', '--name', name(what), ...HARDENED, ...extra, ...envArgs(env), image(img), ...cmd]);
  return name(what);
}

/** Runs the image's HEALTHCHECK until it passes; fails with the container's log otherwise. */
async function healthy(container: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs) {
    try {
      await podman(['healthcheck', 'run', container], 15_000);
      return Date.now() - started;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const logs = await podman(['logs', '--tail', '30', container]).catch((e: Error) => e.message);
  throw new Error(`${container} not healthy within ${timeoutMs} ms (${last.trim()}); log:\n${logs}`);
}

async function cleanUp(): Promise<void> {
  const ids = await podman(['ps', '-a', '-q', '--filter', `label=sip-ai-bridge.test=${tag}`]).catch(() => '');
  if (ids) await podman(['rm', '-f', '-v', '-t', '3', ...ids.split('\n')], 60_000).catch(() => undefined);
  await podman(['volume', 'rm', '-f', DB_VOLUME]).catch(() => undefined);
}

function podmanAvailable(): string | null {
  const have = (): boolean => spawnSync('podman', ['--version'], { env: podmanEnv }).status === 0;
  if (!have()) {
    const boot = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'bootstrap.sh'), 'images'], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (boot.status !== 0 || !have())
      return `podman could not be installed: ${(boot.stderr ?? '').trim().split('\n').pop()}`;
  } else if (
    spawnSync('bash', [join(REPO_ROOT, 'scripts', 'bootstrap.sh'), 'images'], { timeout: 600_000 }).status !== 0
  ) {
    return 'scripts/bootstrap.sh images failed';
  }
  return null;
}

const unavailable = podmanAvailable();
if (unavailable) console.warn(`[images] skipping the image tests: ${unavailable}`);
const describeImages = unavailable ? describe.skip : describe;

describeImages('container images', () => {
  jest.setTimeout(120_000);

  beforeAll(async () => {
    await cleanUp();
    const started = Date.now();
    const build = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'images', 'build.sh')], {
      encoding: 'utf8',
      timeout: 1_800_000,
      env: podmanEnv,
    });
    const lines = build.stderr.split('\n').filter((l) => l.startsWith('[images]'));
    console.log(`${lines.join('\n')}\n[images] build.sh took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (build.status !== 0) throw new Error(`scripts/images/build.sh failed:\n${build.stderr.slice(-3000)}`);
  }, 1_800_000);

  afterAll(async () => {
    await cleanUp();
  }, 120_000);

  test('postgres: initialises its volume as uid 999 and accepts password connections', async () => {
    const c = await start(
      'postgres',
      'postgres',
      {
        PGPORT: String(PORTS.postgres),
        POSTGRES_PASSWORD: secret,
        POSTGRES_LISTEN_ADDRESSES: '127.0.0.1',
      },
      ['-v', `${DB_VOLUME}:/var/lib/postgresql/data`],
    );
    console.log(`[images] postgres healthy after ${await healthy(c, 60_000)} ms`);
    expect(await podman(['exec', c, 'id', '-u'])).toBe('999');
    const client = new Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string; v: string }>('SELECT current_database() AS db, version() AS v');
      expect(rows[0]?.db).toBe('sipai');
      expect(rows[0]?.v).toMatch(/^PostgreSQL 15\./);
    } finally {
      await client.end();
    }
  });

  test('app migrate: applies the schema to the postgres container and exits 0', async () => {
    const out = await podman(['run', '--rm', ...HARDENED, ...envArgs(SERVICE_ENV), image('app'), 'migrate'], 90_000);
    expect(out).toMatch(/^database: (applied 0001_kamailio_core|schema up to date)/);
  });

  test('rtpengine: userspace, no capabilities, answers an NG ping', async () => {
    const c = await start('rtpengine', 'rtpengine', SERVICE_ENV);
    console.log(`[images] rtpengine healthy after ${await healthy(c, 30_000)} ms`);
    expect(await podman(['exec', c, 'id', '-u'])).toBe('10001');
    const reply = await ngPing(PORTS.ng);
    expect(reply).toBe('images d6:result4:ponge');
  });

  test('kamailio: renders its config from the environment, `kamailio -c` passes, runs, and kamcmd works with no flags', async () => {
    const check = await run(
      'podman',
      ['run', '--rm', ...HARDENED, ...envArgs(SERVICE_ENV), image('kamailio'), 'check'],
      { env: podmanEnv, timeout: 60_000 },
    );
    expect(`${check.stdout}${check.stderr}`).toMatch(/config file ok, exiting/);
    const c = await start('kamailio', 'kamailio', SERVICE_ENV);
    console.log(`[images] kamailio healthy after ${await healthy(c, 60_000)} ms`);
    expect(await podman(['exec', c, 'id', '-u'])).toBe('10001');
    expect(await podman(['exec', c, 'kamcmd', 'core.version'])).toMatch(/^kamailio 5\.6/);
    // The domain from the environment reached the rendered configuration.
    expect(await podman(['exec', c, 'grep', '-c', 'sip.example.test', '/run/kamailio/cfg/kamailio.cfg'])).not.toBe('0');
  });

  test('app control-plane: /health answers 200 against the postgres container; the HEALTHCHECK passes', async () => {
    const c = await start('control-plane', 'app', SERVICE_ENV, [], ['control-plane']);
    console.log(`[images] control-plane healthy after ${await healthy(c, 90_000)} ms`);
    expect(await podman(['exec', c, 'id', '-u'])).toBe('10001');
    const res = await fetch(`http://127.0.0.1:${PORTS.api}/health`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { database: { status: string } }).database.status).toBe('ok');
  });

  test('image sizes', async () => {
    for (const img of ['app', 'kamailio', 'rtpengine', 'postgres']) {
      const size = Number(await podman(['image', 'inspect', '--format', '{{.Size}}', image(img)]));
      console.log(`[images] ${image(img)}: ${(size / 1e6).toFixed(0)} MB`);
      expect(size).toBeGreaterThan(0);
    }
  });
});

/** rtpengine's NG protocol: a cookie, a space, a bencoded dictionary. */
function ngPing(port: number): Promise<string> {
  const sock = createSocket('udp4');
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no NG reply on 127.0.0.1:${port}`)), 3000);
    sock.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg.toString());
    });
    sock.send('images d7:command4:pinge', port, '127.0.0.1');
  }).finally(() => sock.close());
}
