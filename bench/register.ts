/**
 * Digest-authenticated registrations per second, sustained with zero failures.
 *
 * Drives SIPp (REGISTER → 401 → REGISTER with credentials → 200) against
 *   1. this product's Kamailio (lockout, flood checks, events, HA1 from PostgreSQL), and
 *   2. a plain Kamailio with the stock auth_db + usrloc setup (bench/baseline/kamailio-auth.cfg)
 *      reading the same subscriber table,
 * stepping the offered rate up until a step has a failure or falls short of its rate
 * (see MIN_ACHIEVED_SHARE in bench/support/load.ts), and prints both figures side by
 * side with their ratio. The two ramps are interleaved, one step of each per rate, so
 * on a shared machine both meet the same background load. Each step also shows where the CPU went, per 1,000 REGISTERs: Kamailio's
 * processes, the control-plane (evapi consumer), PostgreSQL's backends of the bench
 * database, and the SIPp load generators.
 *
 * SIPp 3.6 cannot take digest credentials from an injection file, so the load is
 * spread over several SIPp processes, each refreshing the binding of its own user.
 *
 * Run: npm run bench:register  (BENCH_STEP_SECONDS, BENCH_RATES, BENCH_SIPP to tune)
 */
import { readFileSync } from 'node:fs';
import { kamailioDbUrl } from '../scripts/stack/kamailio';
import type { SupervisedChild } from '../scripts/stack/processes';
import { LocalStack } from '../scripts/stack/supervisor';
import { HTABLE_BANS, HTABLE_LOCKOUT, HTABLE_PAIR_LOCKS } from '../services/common/src/kamailio/names';
import { kamailioRpcFromConfig } from '../services/common/src/kamailio/rpc';
import { registerScenario, startSipp } from '../harness/sipp';
import { benchApi, rampsInterleaved, startBaselineKamailio, summarise, type StepResult } from './support/load';
import { processTable, processTreesCpuMs, type ProcessTable } from './support/media-probes';

const STEP_SECONDS = Number(process.env['BENCH_STEP_SECONDS'] ?? 10);
const RATES = (process.env['BENCH_RATES'] ?? '500,1000,2000,2500,3000,3250,3500,3750,4000,4500,5000,6000')
  .split(',')
  .map(Number);
const SIPP_PROCESSES = Number(process.env['BENCH_SIPP'] ?? 4);
const BASELINE_PORT = 35070;

interface BenchUser {
  readonly username: string;
  readonly password: string;
}

/** PostgreSQL backends serving `database` (their command line names it). */
function postgresBackends(table: ProcessTable, database: string): number[] {
  const out: number[] = [];
  for (const pid of table.stats.keys()) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.startsWith('postgres:') && cmd.includes(` ${database} `)) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** CPU ms of each component now; differences between two snapshots say where a step's time went. */
type CpuRoots = () => Record<string, number | undefined>;
function cpuSnapshot(roots: CpuRoots, database: string, sippPids: readonly number[] = []): Record<string, number> {
  const table = processTable();
  const cpu = processTreesCpuMs(roots(), table);
  cpu['postgres'] = postgresBackends(table, database).reduce((sum, pid) => sum + (table.stats.get(pid)?.cpuMs ?? 0), 0);
  cpu['sipp'] = sippPids.reduce((sum, pid) => sum + (table.stats.get(pid)?.cpuMs ?? 0), 0);
  return cpu;
}

/** One step: `rate` registrations per second for STEP_SECONDS, split over the SIPp processes. */
async function step(
  address: string,
  users: readonly BenchUser[],
  domain: string,
  rate: number,
  roots: CpuRoots,
  database: string,
): Promise<StepResult> {
  const scenario = registerScenario({ first: 401, final: 200, expires: 600 });
  const perProcess = rate / users.length;
  const calls = Math.round(perProcess * STEP_SECONDS);
  const started = Date.now();
  const before = cpuSnapshot(roots, database);
  const sipps = await Promise.all(
    users.map(async (u) =>
      startSipp({
        scenario,
        remote: address,
        keys: { user: u.username, domain },
        auth: { user: u.username, password: u.password },
        calls,
        // -r with -rp 10000 ms: an integer count per 10 s carries fractional rates.
        rate: Math.max(1, Math.round(perProcess * 10)),
        ratePeriodMs: 10_000,
        limit: Math.max(50, Math.round(perProcess)),
        timeoutSeconds: STEP_SECONDS + 15,
        traceMessages: false,
      }),
    ),
  );
  // SIPp's own CPU is read just before each exits: once gone, /proc no longer has it.
  const sippCpu = new Map<number, number>();
  const sampler = setInterval(() => {
    const table = processTable();
    for (const r of sipps) {
      const cpu = table.stats.get(r.pid)?.cpuMs;
      if (cpu !== undefined) sippCpu.set(r.pid, cpu);
    }
  }, 500);
  const runs = await Promise.all(sipps.map((r) => r.done));
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  const after = cpuSnapshot(roots, database);
  after['sipp'] = [...sippCpu.values()].reduce((a, b) => a + b, 0);
  const result = summarise(rate, calls, runs, seconds);
  const per1000 = (name: string): string =>
    ((((after[name] ?? 0) - (before[name] ?? 0)) / Math.max(1, result.successful)) * 1000).toFixed(0);
  console.log(
    `            CPU ms per 1,000 REGISTERs: ${Object.keys(after)
      .map((n) => `${n} ${per1000(n)}`)
      .join(', ')}`,
  );
  return result;
}

async function main(): Promise<void> {
  const stack = new LocalStack({
    instance: 'bench',
    freshDatabase: true,
    say: (l) => console.log(`[bench-stack] ${l}`),
  });
  let baseline: SupervisedChild | null = null;
  const stop = async (): Promise<void> => {
    await baseline?.stop();
    await stack.stop();
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await stack.start();
    const users = Array.from({ length: SIPP_PROCESSES }, (_, i) => ({
      username: `bench${i}`,
      password: `bench-password-${i}-x`,
    }));
    await benchApi(stack, 'POST', '/api/sip-users/bulk-create', { users });
    baseline = await startBaselineKamailio(stack, 'baseline-auth', 'kamailio-auth.cfg', BASELINE_PORT, {
      DB_URL: kamailioDbUrl(stack.config.databaseUrl),
    });
    const domain = stack.config.sip.domain;
    console.log(
      `\nbench/register: ${STEP_SECONDS} s steps, ${SIPP_PROCESSES} SIPp processes, Kamailio children ${stack.config.kamailio.children}, one 2-core machine\n`,
    );
    const database = new URL(stack.config.databaseUrl).pathname.slice(1);
    const productRoots: CpuRoots = () => ({
      kamailio: stack.pidOf('kamailio'),
      'control-plane': stack.pidOf('control-plane'),
    });
    const baselineRoots: CpuRoots = () => ({ kamailio: baseline?.pid });
    const ramps = await rampsInterleaved(
      [
        {
          name: 'product',
          step: (rate) => step(`127.0.0.1:${stack.config.sip.port}`, users, domain, rate, productRoots, database),
        },
        {
          name: 'baseline',
          step: (rate) => step(`127.0.0.1:${BASELINE_PORT}`, users, domain, rate, baselineRoots, database),
        },
      ],
      RATES,
      STEP_SECONDS,
    );
    const [product, plain] = [ramps[0], ramps[1]];

    const rpc = kamailioRpcFromConfig(stack.config);
    let locks = 0;
    for (const table of [HTABLE_LOCKOUT, HTABLE_PAIR_LOCKS, HTABLE_BANS]) {
      const dump = await rpc.call<unknown[]>('htable.dump', table);
      if (Array.isArray(dump)) locks += dump.length;
    }
    const p = product?.best?.achieved ?? 0;
    const b = plain?.best?.achieved ?? 0;
    console.log('\nDigest-authenticated REGISTERs per second, sustained with zero failures');
    console.log(`  this product (auth_db + brute-force locks + pike + evapi):  ${p.toFixed(0)}/s`);
    console.log(`  plain Kamailio (stock auth_db + usrloc):                    ${b.toFixed(0)}/s`);
    console.log(`  ratio product / plain:                                      ${b > 0 ? (p / b).toFixed(2) : 'n/a'}`);
    console.log(`  locks and bans during the run:                              ${locks}`);
    if (p === 0 || b === 0) process.exitCode = 1;
  } finally {
    await stop();
  }
}

void main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
