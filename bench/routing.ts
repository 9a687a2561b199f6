/**
 * Call setups per second through the whole SIP edge, and what they cost in latency.
 *
 * SIPp UACs (one per user) place authenticated calls to an E.164 number:
 * INVITE → 407 → INVITE with credentials → Kamailio (digest auth from PostgreSQL,
 * per-user call limit, dialogs, CDRs, number normalisation, trunk selection with
 * per-trunk limits) → rtpengine (offer/answer) → a SIPp provider on 127.0.0.2 that
 * answers; the call is held 1 s and hung up. The same SIPp load then goes, without
 * credentials, through a bare Kamailio that only relays statefully (t_relay: no auth,
 * no database, no media relay; bench/baseline/kamailio-relay.cfg) to the same provider.
 * Each ramp steps the offered rate up until a step fails; the figures are the last
 * clean step, with INVITE→200 latency p50/p99 (SIPp response times), and the ratio.
 *
 * Run: npm run bench:routing  (BENCH_STEP_SECONDS, BENCH_RATES, BENCH_SIPP to tune)
 */
import type { SupervisedChild } from '../scripts/stack/processes';
import { LocalStack } from '../scripts/stack/supervisor';
import { freeUdpPort, startSipp, uacInviteScenario, uasScenario, type RunningSipp } from '../harness/sipp';
import { benchApi, percentile, ramp, startBaselineKamailio, summarise, type StepResult } from './support/load';

const STEP_SECONDS = Number(process.env['BENCH_STEP_SECONDS'] ?? 10);
const RATES = (process.env['BENCH_RATES'] ?? '50,100,150,200,250,300,350,400,450,500,600,700').split(',').map(Number);
const SIPP_PROCESSES = Number(process.env['BENCH_SIPP'] ?? 4);
const HOLD_MS = 1000;
const BASELINE_PORT = 35071;
const PROVIDER = '127.0.0.2';
const DIALLED = '+15551230000';

interface BenchUser {
  readonly username: string;
  readonly password: string;
}

async function step(
  address: string,
  users: readonly BenchUser[],
  domain: string,
  authenticate: boolean,
  rate: number,
): Promise<StepResult> {
  const scenario = uacInviteScenario({ expect: 200, authenticate, holdMs: HOLD_MS, measureSetup: true });
  const perProcess = rate / users.length;
  const calls = Math.round(perProcess * STEP_SECONDS);
  const started = Date.now();
  const runs = await Promise.all(
    users.map(
      async (u) =>
        (
          await startSipp({
            scenario,
            remote: address,
            keys: { user: u.username, callee: DIALLED, domain },
            auth: authenticate ? { user: u.username, password: u.password } : undefined,
            calls,
            rate: Math.max(1, Math.round(perProcess * 10)),
            ratePeriodMs: 10_000,
            limit: Math.max(50, Math.round(perProcess * 4)),
            timeoutSeconds: STEP_SECONDS + 20,
            traceMessages: false,
            rtt: true,
          })
        ).done,
    ),
  );
  return summarise(rate, calls, runs, (Date.now() - started) / 1000, HOLD_MS / 1000);
}

function describe(r: StepResult | null): string {
  if (!r) return 'none sustained';
  return `${r.achieved.toFixed(0)} calls/s   INVITE→200 p50 ${percentile(r.rtts, 50).toFixed(1)} ms, p99 ${percentile(r.rtts, 99).toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const stack = new LocalStack({
    instance: 'bench',
    freshDatabase: true,
    say: (l) => console.log(`[bench-stack] ${l}`),
  });
  let baseline: SupervisedChild | null = null;
  let provider: RunningSipp | null = null;
  const stop = async (): Promise<void> => {
    provider?.kill();
    await baseline?.stop();
    await stack.stop();
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await stack.start();
    const providerPort = await freeUdpPort(PROVIDER);
    provider = await startSipp({
      scenario: uasScenario({ answer: 200, ring: false }),
      remote: `127.0.0.1:${stack.config.sip.port}`,
      serverMode: true,
      localIp: PROVIDER,
      localPort: providerPort,
      calls: 1_000_000,
      timeoutSeconds: 3600,
      traceMessages: false,
    });
    const users = Array.from({ length: SIPP_PROCESSES }, (_, i) => ({
      username: `caller${i}`,
      password: `bench-password-${i}-x`,
      max_concurrent_calls: 1000,
    }));
    await benchApi(stack, 'POST', '/api/sip-users/bulk-create', { users });
    await benchApi(stack, 'POST', '/api/trunks/', {
      trunk_id: 'bench_provider',
      name: 'Bench provider',
      provider: 'sipp',
      proxy_address: PROVIDER,
      proxy_port: providerPort,
      transport: 'UDP',
      supports_outbound: true,
      supports_inbound: true,
      max_concurrent_calls: 10000,
      calls_per_second_limit: 10000,
    });
    baseline = await startBaselineKamailio(stack, 'baseline-relay', 'kamailio-relay.cfg', BASELINE_PORT, {
      TARGET: `${PROVIDER}:${providerPort}`,
    });
    const domain = stack.config.sip.domain;
    console.log(
      `\nbench/routing: ${STEP_SECONDS} s steps, ${SIPP_PROCESSES} SIPp UACs, calls held ${HOLD_MS} ms, Kamailio children ${stack.config.kamailio.children}, one 2-core machine\n`,
    );
    const product = await ramp('product', RATES, STEP_SECONDS, (rate) =>
      step(`127.0.0.1:${stack.config.sip.port}`, users, domain, true, rate),
    );
    const bare = await ramp('bare', RATES, STEP_SECONDS, (rate) =>
      step(`127.0.0.1:${BASELINE_PORT}`, users, domain, false, rate),
    );

    const p = product.best?.achieved ?? 0;
    const b = bare.best?.achieved ?? 0;
    console.log('\nCall setups per second sustained with zero failures');
    console.log(`  this product (auth + DB + dialogs + CDRs + trunk routing + rtpengine):  ${describe(product.best)}`);
    console.log(`  bare Kamailio (stateful t_relay only):                                 ${describe(bare.best)}`);
    console.log(
      `  ratio product / bare:                                                  ${b > 0 ? (p / b).toFixed(2) : 'n/a'}`,
    );
    if (p === 0 || b === 0) process.exitCode = 1;
  } finally {
    await stop();
  }
}

void main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
