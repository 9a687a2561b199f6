/**
 * Digest-authenticated registrations per second, sustained with zero failures.
 *
 * Drives SIPp (REGISTER → 401 → REGISTER with credentials → 200) against
 *   1. this product's Kamailio (lockout, flood checks, events, HA1 from PostgreSQL), and
 *   2. a plain Kamailio with the stock auth_db + usrloc setup (bench/baseline/kamailio-auth.cfg)
 *      reading the same subscriber table,
 * stepping the offered rate up until a step has a failure or falls short of its rate,
 * and prints both figures side by side with their ratio.
 *
 * SIPp 3.6 cannot take digest credentials from an injection file, so the load is
 * spread over several SIPp processes, each refreshing the binding of its own user.
 *
 * Run: npm run bench:register  (BENCH_STEP_SECONDS, BENCH_RATES, BENCH_SIPP to tune)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mintToken } from '../services/control-plane/src/auth/tokens';
import { HttpKamailioRpc } from '../services/control-plane/src/kamailio/rpc';
import { kamailioDbUrl, renderTemplate } from '../scripts/stack/kamailio';
import { REPO_ROOT } from '../scripts/stack/env';
import { LocalStack } from '../scripts/stack/supervisor';
import { PidRegistry, SupervisedChild, waitUntilReady } from '../scripts/stack/processes';
import { freeUdpPort, registerScenario, startSipp, type SippRun } from '../tests/support/sipp';

const STEP_SECONDS = Number(process.env['BENCH_STEP_SECONDS'] ?? 10);
const RATES = (process.env['BENCH_RATES'] ?? '500,1000,2000,2500,3000,3250,3500,3750,4000,4500,5000,6000').split(',').map(Number);
const SIPP_PROCESSES = Number(process.env['BENCH_SIPP'] ?? 4);
const BASELINE_PORT = 35070;

interface StepResult {
  readonly offered: number;
  readonly successful: number;
  readonly failed: number;
  readonly seconds: number;
  readonly achieved: number;
}

interface Target {
  readonly name: string;
  readonly address: string;
}

interface BenchUser {
  readonly username: string;
  readonly password: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseSippCount(run: SippRun, label: string): number {
  const line = run.stdout.split('\n').filter((l) => l.includes(label)).pop();
  const cells = line?.split('|').map((c) => c.trim()) ?? [];
  const value = Number(cells[cells.length - 1]);
  return Number.isFinite(value) ? value : 0;
}

/** One step: `rate` registrations per second for STEP_SECONDS, split over the SIPp processes. */
async function step(target: Target, users: readonly BenchUser[], domain: string, rate: number): Promise<StepResult> {
  const scenario = registerScenario({ first: 401, final: 200, expires: 600 });
  const perProcess = rate / users.length;
  const calls = Math.round(perProcess * STEP_SECONDS);
  const started = Date.now();
  const runs = await Promise.all(
    users.map(async (u) =>
      (
        await startSipp({
          scenario,
          remote: target.address,
          keys: { user: u.username, domain },
          auth: { user: u.username, password: u.password },
          calls,
          // -r with -rp 1000 takes an integer rate: spread the remainder with the period.
          rate: Math.max(1, Math.round(perProcess * 10)),
          ratePeriodMs: 10_000,
          limit: Math.max(50, Math.round(perProcess)),
          timeoutSeconds: STEP_SECONDS + 15,
        })
      ).done,
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  let successful = 0;
  let failed = 0;
  for (const run of runs) {
    // Exit code 0 is SIPp's own "every call succeeded"; its final screen on a pipe can be cut short.
    const ok = run.code === 0 ? calls : parseSippCount(run, 'Successful call');
    const bad = run.code === 0 ? 0 : parseSippCount(run, 'Failed call');
    successful += ok;
    // Calls SIPp never finished (global timeout) count as failures too.
    failed += bad + Math.max(0, calls - ok - bad);
    if (ok < calls) {
      const why = (run.errors || run.stderr).split('\n').filter(Boolean).slice(0, 3).join(' | ');
      console.log(`    SIPp exit ${run.code}: ${ok}/${calls} ok; ${why.slice(0, 300)}`);
    }
  }
  return { offered: rate, successful, failed, seconds, achieved: successful / seconds };
}

/** Highest rate sustained with zero failures and at least 95 % of the offered rate. */
async function ramp(target: Target, users: readonly BenchUser[], domain: string): Promise<{ best: StepResult | null; steps: StepResult[] }> {
  const steps: StepResult[] = [];
  let best: StepResult | null = null;
  for (const rate of RATES) {
    const r = await step(target, users, domain, rate);
    steps.push(r);
    const ok = r.failed === 0 && r.successful >= 0.95 * rate * STEP_SECONDS;
    console.log(
      `  ${target.name.padEnd(9)} offered ${String(rate).padStart(5)}/s  ok ${String(r.successful).padStart(6)}  failed ${String(r.failed).padStart(5)}  ` +
        `achieved ${r.achieved.toFixed(0).padStart(5)}/s ${ok ? '' : ' <- limit'}`,
    );
    if (!ok) break;
    best = r;
    await sleep(2000);
  }
  // Let an overloaded target drain its queues (and PostgreSQL its backlog) before the next ramp.
  await sleep(15_000);
  return { best, steps };
}

async function createUsers(stack: LocalStack, count: number): Promise<BenchUser[]> {
  const users = Array.from({ length: count }, (_, i) => ({ username: `bench${i}`, password: `bench-password-${i}-x` }));
  const token = await mintToken({ role: 'admin', secret: stack.config.secrets.sipJwtSecret, ttlSeconds: 600 });
  const res = await fetch(`http://${stack.config.api.host}:${stack.config.api.port}/api/sip-users/bulk-create`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ users: users.map((u) => ({ ...u, max_concurrent_calls: 10 })) }),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`bulk-create answered ${res.status}: ${await res.text()}`);
  return users;
}

async function startBaseline(stack: LocalStack): Promise<SupervisedChild> {
  const dir = join(stack.config.stateDir, 'baseline');
  mkdirSync(dir, { recursive: true });
  const cfg = renderTemplate(readFileSync(join(REPO_ROOT, 'bench', 'baseline', 'kamailio-auth.cfg'), 'utf8'), {
    CHILDREN: String(stack.config.kamailio.children),
    PORT: String(BASELINE_PORT),
    DB_URL: kamailioDbUrl(stack.config.databaseUrl),
  });
  const cfgPath = join(dir, 'kamailio.cfg');
  writeFileSync(cfgPath, cfg, { mode: 0o600 });
  const child = new SupervisedChild(
    {
      name: 'baseline-kamailio',
      command: 'kamailio',
      args: ['-f', cfgPath, '-DD', '-E', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-m', String(stack.config.kamailio.sharedMemoryMb), '-M', String(stack.config.kamailio.pkgMemoryMb)],
    },
    join(stack.config.stateDir, 'logs', 'baseline-kamailio.log'),
  );
  new PidRegistry(dir).record([child]);
  // Ready when it answers SIP: an OPTIONS gets 405 from this registrar-only config.
  await waitUntilReady(child, () => probeUdp(BASELINE_PORT), 15_000);
  return child;
}

async function probeUdp(port: number): Promise<void> {
  const { createSocket } = await import('node:dgram');
  const sock = createSocket('udp4');
  const local = await freeUdpPort();
  await new Promise<void>((resolve) => sock.bind(local, '127.0.0.1', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SIP answer')), 500);
      sock.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      const msg =
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-probe${Date.now()}\r\n` +
        `From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:${port}>\r\nCall-ID: probe-${Date.now()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

async function main(): Promise<void> {
  const stack = new LocalStack({ instance: 'bench', freshDatabase: true, say: (l) => console.log(`[bench-stack] ${l}`) });
  let baseline: SupervisedChild | null = null;
  const stop = async (): Promise<void> => {
    await baseline?.stop();
    await stack.stop();
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await stack.start();
    const users = await createUsers(stack, SIPP_PROCESSES);
    baseline = await startBaseline(stack);
    const domain = stack.config.sip.domain;
    console.log(`\nbench/register: ${STEP_SECONDS} s steps, ${SIPP_PROCESSES} SIPp processes, Kamailio children ${stack.config.kamailio.children}, one 2-core machine\n`);
    const product = await ramp({ name: 'product', address: `127.0.0.1:${stack.config.sip.port}` }, users, domain);
    const plain = await ramp({ name: 'baseline', address: `127.0.0.1:${BASELINE_PORT}` }, users, domain);

    const rpc = new HttpKamailioRpc(`http://127.0.0.1:${stack.config.kamailio.rpcPort}/RPC`);
    const lockouts = await rpc.call<unknown[]>('htable.dump', 'lockout');
    const p = product.best?.achieved ?? 0;
    const b = plain.best?.achieved ?? 0;
    console.log('\nDigest-authenticated REGISTERs per second, sustained with zero failures');
    console.log(`  this product (auth_db + lockout + pike + evapi):  ${p.toFixed(0)}/s`);
    console.log(`  plain Kamailio (stock auth_db + usrloc):          ${b.toFixed(0)}/s`);
    console.log(`  ratio product / plain:                            ${b > 0 ? (p / b).toFixed(2) : 'n/a'}`);
    console.log(`  accounts locked during the run:                   ${Array.isArray(lockouts) ? lockouts.length : 0}`);
    if (p === 0 || b === 0) process.exitCode = 1;
  } finally {
    await stop();
  }
}

void main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
