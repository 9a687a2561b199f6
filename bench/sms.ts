/**
 * End-to-end SMS throughput: POST /api/sms/send answered 202 (the row committed) →
 * a queue worker claims it → SIP MESSAGE through Kamailio (route[SMS_OUT]) → a SIPp
 * provider on 127.0.0.7 that answers 200 and logs each message's X-SMS-Id.
 *
 * Each step offers `rate` sends a second for BENCH_STEP_SECONDS over keep-alive HTTP
 * connections (open loop: a request's latency counts from when it was due). A step
 * holds when every request was accepted, every accepted message reached the provider
 * exactly once (by count and by X-SMS-Id set, and the database says one attempt each)
 * and the provider received them at ≥ 95 % of the offered rate. The ramp stops at the
 * first step that does not hold.
 *
 * Baseline, in the same process and against the same stack: the same open-loop HTTP
 * load against GET /api/numbers/{number} (authenticated, one indexed row): the API's
 * own ceiling on this machine, without the queue, SIP or a durable write.
 *
 * Run: npm run bench:sms  (BENCH_RATES, BENCH_STEP_SECONDS, BENCH_CONNECTIONS to tune)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT } from '../scripts/stack/env';
import { DEMO_NUMBER, LocalStack } from '../scripts/stack/supervisor';
import { freeUdpPort } from '../harness/sipp';
import { mintToken } from '../services/common/src/auth/tokens';
import { benchApi, percentile, sleep } from './support/load';
import { machineCpu, processCpuMs, processTreesCpuMs, type MachineCpu } from './support/media-probes';
import { httpLoad, type HttpLoadResult } from './support/sms-load';
import { startSmsBenchProvider, type SmsBenchProvider } from './support/sms-provider';

const env = (name: string, fallback: string): string => process.env[name] || fallback;
const RATES = env('BENCH_RATES', '500,1000,1500,2000,2500,3000').split(',').map(Number);
const BASELINE_RATES = env('BENCH_BASELINE_RATES', '1000,2000,3000,4000,5000,6000')
  .split(',')
  .map(Number)
  .filter((r) => r > 0);
const STEP_SECONDS = Number(env('BENCH_STEP_SECONDS', '30'));
const CONNECTIONS = Number(env('BENCH_CONNECTIONS', '64'));
const MAX_IN_FLIGHT = Number(env('BENCH_MAX_IN_FLIGHT', '2000'));
/** How long the provider may lag behind the last accept before the rest count as lost. */
const DRAIN_SECONDS = Number(env('BENCH_DRAIN_SECONDS', '20'));
const PROVIDER = '127.0.0.7';
const FROM = DEMO_NUMBER;
const DB_NAME = 'sipai_bench_sms';

/** Its own instance name, state directory, database and ports (the media bench and the test stack run beside it). */
const ISOLATION: Record<string, string> = {
  STACK_INSTANCE: 'bench-sms',
  STATE_DIR: join(REPO_ROOT, '.local', 'bench-sms'),
  DB_NAME,
  SIP_PROXY_PORT: '36060',
  SIP_TLS_PORT: '36061',
  API_PORT: '36080',
  KAMAILIO_RPC_PORT: '36081',
  KAMAILIO_EVAPI_PORT: '36048',
  RTPENGINE_NG_PORT: '36023',
  RTPPROXY_CONTROL_PORT: '36025',
  RTP_PORT_MIN: '46000',
  RTP_PORT_MAX: '46499',
  GATEWAY_SIP_PORT: '36070',
  GATEWAY_HTTP_PORT: '36082',
  GATEWAY_RTP_PORT_MIN: '46500',
  GATEWAY_RTP_PORT_MAX: '46999',
  DEMO_AGENT_PORT: '36090',
  SMS_SIP_PORT: '36091',
};

/** BENCH_PROFILE=1: V8 CPU profiles of the stack's Node services (bench/support/media-profile.ts), written when they stop. */
if (process.env['BENCH_PROFILE']) {
  ISOLATION['NODE_OPTIONS'] = `--require ${join(__dirname, 'support', 'media-profile.js')}`;
  ISOLATION['BENCH_PROFILE_DIR'] = join(ISOLATION['STATE_DIR'] as string, 'profiles');
}

const PROCESSES = ['control-plane', 'kamailio', 'media-gateway', 'demo-agent', 'rtpengine'] as const;

interface CpuSnapshot {
  readonly atMs: number;
  readonly trees: Record<string, number>;
  readonly postgres: ReadonlyMap<number, number>;
  readonly bench: number;
  readonly machine: MachineCpu;
}

/**
 * CPU (ms) of each PostgreSQL backend serving this bench's database (its cmdline names
 * it), by pid: backends come and go with the pool, so a window sums per-pid deltas.
 * The shared WAL writer, checkpointer etc. are not in it ("other").
 */
function postgresBackendsCpuMs(): Map<number, number> {
  const roots: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(` ${DB_NAME} `)) roots[entry] = Number(entry);
    } catch {
      // gone
    }
  }
  return new Map(Object.entries(processTreesCpuMs(roots)).map(([pid, ms]) => [Number(pid), ms]));
}

function postgresDelta(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [pid, ms] of b) total += Math.max(0, ms - (a.get(pid) ?? 0));
  return total;
}

function cpuSnapshot(stack: LocalStack, provider: SmsBenchProvider): CpuSnapshot {
  const roots: Record<string, number | undefined> = { 'sipp provider': provider.sipp.pid };
  for (const name of PROCESSES) roots[name] = stack.pidOf(name);
  return {
    atMs: performance.now(),
    trees: processTreesCpuMs(roots),
    postgres: postgresBackendsCpuMs(),
    bench: processCpuMs(process.pid),
    machine: machineCpu(),
  };
}

/** % of one core per process over a window; `other` is the rest of the machine (other benches, the shared PostgreSQL processes, softirq). */
function cpuLine(a: CpuSnapshot, b: CpuSnapshot): string {
  const pct = (ms: number): number => (100 * ms) / (b.atMs - a.atMs);
  const parts: string[] = [];
  let ours = 0;
  for (const name of Object.keys(b.trees)) {
    const ms = (b.trees[name] ?? 0) - (a.trees[name] ?? 0);
    ours += ms;
    if (pct(ms) >= 0.5) parts.push(`${name} ${pct(ms).toFixed(0)}%`);
  }
  const pg = postgresDelta(a.postgres, b.postgres);
  const bench = b.bench - a.bench;
  ours += pg + bench;
  parts.push(`postgres backends ${pct(pg).toFixed(0)}%`, `bench (load generator) ${pct(bench).toFixed(0)}%`);
  const busy = b.machine.busyMs - a.machine.busyMs;
  const softirq = b.machine.softirqMs - a.machine.softirqMs;
  parts.push(
    `softirq ${pct(softirq).toFixed(0)}%`,
    `other ${Math.max(0, pct(busy - softirq - ours)).toFixed(0)}%`,
    `machine ${pct(busy).toFixed(0)}% of 200%`,
  );
  return parts.join(', ');
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface SmsStep {
  readonly rate: number;
  readonly http: HttpLoadResult;
  readonly accepted: number;
  readonly received: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly strays: number;
  readonly oneAttempt: number;
  readonly e2eRate: number;
  readonly acceptP50: number;
  readonly acceptP99: number;
  readonly e2eP50: number;
  readonly e2eP99: number;
  readonly held: boolean;
  readonly cpu: string;
  readonly load: string;
}

/** Every X-SMS-Id the provider logged, with when the bench saw it (performance.now() ms, 20 ms granularity). */
class Receipts {
  readonly seen = new Map<string, number>();
  readonly duplicates: string[] = [];
  private timer: NodeJS.Timeout;

  constructor(private readonly provider: SmsBenchProvider) {
    this.timer = setInterval(() => this.poll(), 20);
  }

  poll(): void {
    const now = performance.now();
    for (const line of this.provider.drain()) {
      const id = line.trim();
      if (this.seen.has(id)) this.duplicates.push(id);
      else this.seen.set(id, now);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.poll();
  }
}

async function smsStep(
  stack: LocalStack,
  provider: SmsBenchProvider,
  receipts: Receipts,
  db: Client,
  token: string,
  rate: number,
): Promise<SmsStep> {
  const acceptedAt = new Map<string, number>();
  const tag = `r${rate}-${Date.now().toString(36)}`;
  const before = cpuSnapshot(stack, provider);
  const started = performance.now();
  const http = await httpLoad({
    host: stack.config.api.host,
    port: stack.config.api.port,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    rate,
    seconds: STEP_SECONDS,
    connections: CONNECTIONS,
    maxInFlight: MAX_IN_FLIGHT,
    call: (i) => ({
      method: 'POST',
      path: '/api/sms/send',
      body: JSON.stringify({
        from_number: FROM,
        to_number: `+1415555${String(1000 + (i % 9000))}`,
        message: `bench ${tag} ${i}`,
      }),
    }),
    onAnswer: (_i, status, body, at) => {
      if (status !== 202) return;
      acceptedAt.set((JSON.parse(body) as { message_id: string }).message_id, at);
    },
  });
  const loadDone = performance.now();
  const cpuLoad = cpuSnapshot(stack, provider);
  // Wait for the provider to have every accepted message (or for DRAIN_SECONDS without progress).
  let last = -1;
  let progressAt = performance.now();
  for (;;) {
    receipts.poll();
    let got = 0;
    for (const id of acceptedAt.keys()) if (receipts.seen.has(id)) got++;
    if (got === acceptedAt.size) break;
    if (got !== last) {
      last = got;
      progressAt = performance.now();
    }
    if (performance.now() - progressAt > DRAIN_SECONDS * 1000) break;
    await sleep(50);
  }
  const after = cpuSnapshot(stack, provider);
  const drainedMs = performance.now() - loadDone;
  // A second copy may still be on its way: a short grace before counting duplicates.
  await sleep(1000);
  receipts.poll();
  let received = 0;
  let lastAt = started;
  const e2e: number[] = [];
  for (const [id, at] of acceptedAt) {
    const r = receipts.seen.get(id);
    if (r === undefined) continue;
    received++;
    lastAt = Math.max(lastAt, r);
    e2e.push(r - at);
  }
  const duplicates = receipts.duplicates.filter((id) => acceptedAt.has(id)).length;
  let strays = 0;
  for (const [id, at] of receipts.seen) if (at >= started && !acceptedAt.has(id)) strays++;
  const ids = [...acceptedAt.keys()];
  // Outcomes are written in batches after the provider answers: wait for them to land (10 s at most).
  let row = { one: 0, total: 0 };
  for (let tries = 0; tries < 100; tries++) {
    row =
      (
        await db.query<{ one: number; total: number }>(
          "SELECT count(*) FILTER (WHERE status = 'sent' AND attempts = 1)::int AS one, count(*)::int AS total FROM sms_messages WHERE message_id = ANY($1::text[])",
          [ids],
        )
      ).rows[0] ?? row;
    if (row.one === ids.length) break;
    await sleep(100);
  }
  const accepted = acceptedAt.size;
  const e2eRate = received / Math.max(1e-3, (lastAt - started) / 1000);
  const held =
    http.answered === http.offered &&
    http.errors === 0 &&
    accepted === http.offered &&
    received === accepted &&
    duplicates === 0 &&
    strays === 0 &&
    row.one === accepted &&
    e2eRate >= 0.95 * rate;
  const step: SmsStep = {
    rate,
    http,
    accepted,
    received,
    lost: accepted - received,
    duplicates,
    strays,
    oneAttempt: row.one,
    e2eRate,
    acceptP50: percentile(http.latencies, 50),
    acceptP99: percentile(http.latencies, 99),
    e2eP50: percentile(e2e, 50),
    e2eP99: percentile(e2e, 99),
    held,
    cpu: `during the load: ${cpuLine(before, cpuLoad)}; until drained (+${(drainedMs / 1000).toFixed(1)} s): ${cpuLine(before, after)}`,
    load: load(),
  };
  const non202 = Object.entries(http.statuses)
    .filter(([s]) => s !== '202')
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  console.log(
    `  sms      offered ${String(rate).padStart(5)}/s  accepted ${String(accepted).padStart(6)}/${http.offered}${non202 ? ` (${non202})` : ''}${http.errors ? ` errors ${http.errors}` : ''}  ` +
      `received ${received} lost ${step.lost} dup ${duplicates} stray ${strays} one-attempt ${row.one}  e2e ${e2eRate.toFixed(0)}/s  ` +
      `accept p50 ${step.acceptP50.toFixed(1)} ms p99 ${step.acceptP99.toFixed(1)} ms  accepted→received p50 ${step.e2eP50.toFixed(0)} ms p99 ${step.e2eP99.toFixed(0)} ms  load ${step.load}${held ? '' : '  <- limit'}`,
  );
  console.log(`           CPU (% of one core) ${step.cpu}`);
  return step;
}

interface BaselineStep {
  readonly rate: number;
  readonly achieved: number;
  readonly p50: number;
  readonly p99: number;
  readonly held: boolean;
  readonly cpu: string;
  readonly load: string;
}

async function baselineStep(
  stack: LocalStack,
  provider: SmsBenchProvider,
  token: string,
  rate: number,
): Promise<BaselineStep> {
  const before = cpuSnapshot(stack, provider);
  const http = await httpLoad({
    host: stack.config.api.host,
    port: stack.config.api.port,
    headers: { authorization: `Bearer ${token}` },
    rate,
    seconds: STEP_SECONDS,
    connections: CONNECTIONS,
    maxInFlight: MAX_IN_FLIGHT,
    call: () => ({ method: 'GET', path: `/api/numbers/${encodeURIComponent(FROM)}` }),
  });
  const after = cpuSnapshot(stack, provider);
  const ok = http.statuses[200] ?? 0;
  const achieved = ok / http.seconds;
  const held = ok === http.offered && http.errors === 0 && achieved >= 0.95 * rate;
  const s: BaselineStep = {
    rate,
    achieved,
    p50: percentile(http.latencies, 50),
    p99: percentile(http.latencies, 99),
    held,
    cpu: cpuLine(before, after),
    load: load(),
  };
  console.log(
    `  baseline offered ${String(rate).padStart(5)}/s  200 ${String(ok).padStart(6)}/${http.offered}${http.errors ? ` errors ${http.errors}` : ''}  achieved ${achieved.toFixed(0)}/s  ` +
      `p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms  load ${s.load}${held ? '' : '  <- limit'}`,
  );
  console.log(`           CPU (% of one core) ${s.cpu}`);
  return s;
}

async function main(): Promise<void> {
  const stack = new LocalStack({
    instance: 'bench',
    freshDatabase: true,
    overrides: ISOLATION,
    say: (l) => console.log(`[bench-stack] ${l}`),
  });
  let provider: SmsBenchProvider | null = null;
  let receipts: Receipts | null = null;
  let db: Client | null = null;
  const stop = async (): Promise<void> => {
    receipts?.close();
    provider?.sipp.kill();
    provider?.close();
    await db?.end().catch(() => undefined);
    await stack.stop();
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await stack.start();
    const port = await freeUdpPort(PROVIDER);
    provider = await startSmsBenchProvider(PROVIDER, port, `127.0.0.1:${stack.config.sip.port}`, 3600);
    receipts = new Receipts(provider);
    await benchApi(stack, 'POST', '/api/trunks/', {
      trunk_id: 'bench_sms',
      name: 'SMS bench provider',
      provider: 'sipp',
      proxy_address: PROVIDER,
      proxy_port: port,
      transport: 'UDP',
      supports_outbound: true,
      supports_inbound: true,
      sms_rate_limit: 0,
    });
    db = new Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    // Sending SMS is an operator's job: an operator token (an admin token also verifies, after a failed try with the operator key).
    const token = await mintToken({ role: 'operator', secret: stack.config.secrets.jwtSecretKey, ttlSeconds: 3600 });
    console.log(
      `\nbench/sms: ${STEP_SECONDS} s steps, ${CONNECTIONS} keep-alive HTTP connections, SMS_BATCH_SIZE ${stack.config.sms.batchSize}, ` +
        `Kamailio children ${stack.config.kamailio.children}, one 2-core machine shared with other work; load average now ${load()}\n`,
    );
    // Warm-up: JIT, connection pools, Kamailio's transaction tables; not counted.
    await httpLoad({
      host: stack.config.api.host,
      port: stack.config.api.port,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      rate: 200,
      seconds: 3,
      connections: CONNECTIONS,
      maxInFlight: MAX_IN_FLIGHT,
      call: (i) => ({
        method: 'POST',
        path: '/api/sms/send',
        body: JSON.stringify({ from_number: FROM, to_number: '+14155550123', message: `warm-up ${i}` }),
      }),
    });
    await sleep(3000);

    const product: SmsStep[] = [];
    for (const rate of RATES) {
      const s = await smsStep(stack, provider, receipts, db, token, rate);
      product.push(s);
      if (!s.held) break;
      await sleep(3000);
    }
    await sleep(5000);
    const base: BaselineStep[] = [];
    for (const rate of BASELINE_RATES) {
      const s = await baselineStep(stack, provider, token, rate);
      base.push(s);
      if (!s.held) break;
      await sleep(2000);
    }

    const best = product.filter((s) => s.held).at(-1);
    const bestBase = base.filter((s) => s.held).at(-1);
    const events =
      (
        await db.query<{ missing: number }>(
          `SELECT count(*)::int AS missing FROM sms_messages m
       WHERE m.source = 'api' AND (SELECT count(*) FROM sms_events e WHERE e.message_id = m.message_id) < 3`,
        )
      ).rows[0]?.missing ?? -1;
    console.log('\nSMS accepted by the API and received by the provider, sustained with none lost');
    if (best) {
      console.log(
        `  this product (HTTP + auth + durable queue + worker + Kamailio + SIPp):  ${best.e2eRate.toFixed(0)} msg/s end to end, offered ${best.rate}/s for ${STEP_SECONDS} s`,
      );
      console.log(
        `    accepted ${best.accepted}, received ${best.received} (X-SMS-Id set equal, lost ${best.lost}, duplicates ${best.duplicates}), one attempt each per the database: ${best.oneAttempt}`,
      );
      console.log(
        `    API accept latency p50 ${best.acceptP50.toFixed(1)} ms, p99 ${best.acceptP99.toFixed(1)} ms; accepted→received p50 ${best.e2eP50.toFixed(0)} ms, p99 ${best.e2eP99.toFixed(0)} ms`,
      );
      console.log(`    CPU ${best.cpu}`);
      console.log(`    load average at the end of the step ${best.load}`);
    } else {
      console.log('  this product: no step held');
    }
    console.log(
      `  baseline (same HTTP load, GET /api/numbers/{number}):  ${bestBase ? `${bestBase.achieved.toFixed(0)}/s, p50 ${bestBase.p50.toFixed(1)} ms, p99 ${bestBase.p99.toFixed(1)} ms` : 'no step held'}`,
    );
    console.log(
      `  ratio product / baseline:  ${best && bestBase ? (best.e2eRate / bestBase.achieved).toFixed(2) : 'n/a'}${bestBase && bestBase === base.at(-1) ? ' (baseline not saturated by the highest rate offered)' : ''}`,
    );
    console.log(`  messages whose status history lacks queued/sending/sent: ${events}`);
    if (!best || events !== 0) process.exitCode = 1;
  } finally {
    await stop();
  }
}

void main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
