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
import { kamailioDbUrl } from '../scripts/stack/kamailio';
import type { SupervisedChild } from '../scripts/stack/processes';
import { LocalStack } from '../scripts/stack/supervisor';
import { HttpKamailioRpc } from '../services/control-plane/src/kamailio/rpc';
import { registerScenario, startSipp } from '../tests/support/sipp';
import { benchApi, ramp, startBaselineKamailio, summarise, type StepResult } from './support/load';

const STEP_SECONDS = Number(process.env['BENCH_STEP_SECONDS'] ?? 10);
const RATES = (process.env['BENCH_RATES'] ?? '500,1000,2000,2500,3000,3250,3500,3750,4000,4500,5000,6000').split(',').map(Number);
const SIPP_PROCESSES = Number(process.env['BENCH_SIPP'] ?? 4);
const BASELINE_PORT = 35070;

interface BenchUser {
  readonly username: string;
  readonly password: string;
}

/** One step: `rate` registrations per second for STEP_SECONDS, split over the SIPp processes. */
async function step(address: string, users: readonly BenchUser[], domain: string, rate: number): Promise<StepResult> {
  const scenario = registerScenario({ first: 401, final: 200, expires: 600 });
  const perProcess = rate / users.length;
  const calls = Math.round(perProcess * STEP_SECONDS);
  const started = Date.now();
  const runs = await Promise.all(
    users.map(async (u) =>
      (
        await startSipp({
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
        })
      ).done,
    ),
  );
  return summarise(rate, calls, runs, (Date.now() - started) / 1000);
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
    const users = Array.from({ length: SIPP_PROCESSES }, (_, i) => ({ username: `bench${i}`, password: `bench-password-${i}-x` }));
    await benchApi(stack, 'POST', '/api/sip-users/bulk-create', { users });
    baseline = await startBaselineKamailio(stack, 'baseline-auth', 'kamailio-auth.cfg', BASELINE_PORT, { DB_URL: kamailioDbUrl(stack.config.databaseUrl) });
    const domain = stack.config.sip.domain;
    console.log(`\nbench/register: ${STEP_SECONDS} s steps, ${SIPP_PROCESSES} SIPp processes, Kamailio children ${stack.config.kamailio.children}, one 2-core machine\n`);
    const product = await ramp('product', RATES, STEP_SECONDS, (rate) => step(`127.0.0.1:${stack.config.sip.port}`, users, domain, rate));
    const plain = await ramp('baseline', RATES, STEP_SECONDS, (rate) => step(`127.0.0.1:${BASELINE_PORT}`, users, domain, rate));

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
