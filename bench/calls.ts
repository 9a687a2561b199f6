/**
 * API-initiated AI calls: how many a second the stack places with zero failures, and
 * how long from `POST /api/calls/initiate` to the AI's first audio frame.
 *
 * Each call: the control-plane writes the call and its `originate` command → a
 * gateway claims it and sends the INVITE to Kamailio with its proof → Kamailio routes
 * it to a trunk → SIPp plays the PSTN party on 127.0.0.2 (180, 200 with an SDP naming
 * this process's RTP sink, BYE after BENCH_HOLD_MS) → the gateway connects the AI: a
 * WebSocket server in this process (olib) that notes when each call's first
 * `audio_data` frame arrives (the gateway sends one every 20 ms from the answer on).
 *
 * Steps: BENCH_RATES calls/s (default 2, 5, 10, 15, 20, 30, 40), each for
 * BENCH_STEP_SECONDS (default 10 s); a step holds when every call was answered, its AI
 * got audio and the call completed (disposition answered, the callee's BYE), the POSTs
 * kept up with the rate (≥ 90 %), and the stack kept up with them: the step's last
 * quarter of calls did not wait more than twice as long as its first (a growing
 * backlog is not a sustained rate). The ramp stops at the first step that does not
 * hold. Printed: each step's outcome and latency p50/p99, then the highest rate held
 * and the latency figures at it.
 *
 * The stack is its own instance (state directory, database, ports), like bench/media.
 *
 * Each step also says where the time went (from the database's timestamps): POST → a
 * gateway claimed the originate command, and claim → the far end's 200 OK.
 *
 * Run: npm run bench:calls   (BENCH_RATES, BENCH_STEP_SECONDS, BENCH_HOLD_MS, BENCH_DEADLINE_MINUTES,
 *      BENCH_LOG_LEVEL for the stack's logs, warn by default)
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { WebSocketServer } from 'ws';
import { REPO_ROOT } from '../scripts/stack/env';
import { LocalStack } from '../scripts/stack/supervisor';
import { calleeScenario, freeUdpPort, startSipp, type RunningSipp } from '../harness/sipp';
import { adminToken, benchApi, percentile, sleep } from './support/load';

const env = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};
const RATES = (process.env['BENCH_RATES'] ?? '2,5,10,15,20,30,40').split(',').map(Number);
const STEP_SECONDS = env('BENCH_STEP_SECONDS', 10);
const HOLD_MS = env('BENCH_HOLD_MS', 2000);
/** After the last POST of a step: the last calls ring, are held and end. */
const DRAIN_SECONDS = 15;
const MIN_ACHIEVED_SHARE = 0.9;
/**
 * A step whose last quarter of calls waited more than twice as long as its first (and
 * over this) was queueing, not keeping up: it does not count as sustained.
 */
const BACKLOG_FLOOR_MS = 1000;
const TOTAL_DEADLINE_MS = env('BENCH_DEADLINE_MINUTES', 20) * 60_000;
const PSTN = '127.0.0.2';
const NUMBER = '+18005550188';
const TRUNK = 'bench_calls_pstn';

/** Its own state directory, database and ports, so other benches and dev stacks are not disturbed. */
const ISOLATION: Record<string, string> = {
  STATE_DIR: join(REPO_ROOT, '.local', 'bench-calls'),
  DB_NAME: 'sipai_bench_calls',
  SIP_PROXY_PORT: '35160',
  SIP_TLS_PORT: '35161',
  API_PORT: '35180',
  KAMAILIO_RPC_PORT: '35181',
  KAMAILIO_EVAPI_PORT: '35148',
  RTPENGINE_NG_PORT: '35123',
  RTPPROXY_CONTROL_PORT: '35125',
  GATEWAY_SIP_PORT: '35170',
  GATEWAY_HTTP_PORT: '35182',
  DEMO_AGENT_PORT: '35190',
  SMS_SIP_PORT: '35192',
  // Outside every other stack's range (dev, test, test slots, the other benches): ~250 calls at once.
  RTP_PORT_MIN: '34000',
  RTP_PORT_MAX: '34999',
  GATEWAY_RTP_PORT_MIN: '37000',
  GATEWAY_RTP_PORT_MAX: '37499',
  // The bench is one client: its POSTs must not meet the per-token limit.
  API_RATE_LIMIT_PER_TOKEN: '100000',
  API_RATE_LIMIT_PER_IP: '100000',
  LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
  // No TLS trunk here: a one-certificate CA list instead of the system bundle, which
  // every Kamailio process parses at start-up (over 30 s on a loaded 2-core machine).
  SIP_TLS_CA_FILE: join(REPO_ROOT, 'tests', 'fixtures', 'tls', 'ca.pem'),
};

/** The AI platform: accepts every olib stream and notes each call's first audio frame. */
class FirstAudio {
  readonly firstAt = new Map<string, number>();
  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(): Promise<FirstAudio> {
    const http = createServer((_req, res) => res.writeHead(426).end());
    const wss = new WebSocketServer({ server: http });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const peer = new FirstAudio(http, wss, `ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    wss.on('connection', (ws) => {
      let callId = '';
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const frame = JSON.parse(Buffer.from(data as Buffer).toString('utf8')) as {
          type?: string;
          auth?: { call_id?: string };
        };
        if (frame.type === 'auth') {
          callId = frame.auth?.call_id ?? '';
          ws.send(JSON.stringify({ type: 'auth_ok', data: {} }));
        } else if (frame.type === 'audio_data' && callId && !peer.firstAt.has(callId)) {
          peer.firstAt.set(callId, performance.now());
        }
      });
    });
    return peer;
  }

  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((resolve) => this.http.close(() => resolve()));
  }
}

interface StepResult {
  readonly rate: number;
  readonly offered: number;
  readonly accepted: number;
  readonly answered: number;
  readonly completed: number;
  readonly withAudio: number;
  readonly achieved: number;
  readonly failures: string[];
  readonly latencies: number[];
  /** Where the time went (database clock): POST → a gateway claimed the command, claim → answer. */
  readonly claimWait: number[];
  readonly setup: number[];
  readonly held: boolean;
}

async function runStep(stack: LocalStack, ai: FirstAudio, db: Client, rate: number): Promise<StepResult> {
  const offered = Math.round(rate * STEP_SECONDS);
  const base = `http://${stack.config.api.host}:${stack.config.api.port}`;
  const auth = `Bearer ${await adminToken(stack)}`;
  const postedAt = new Map<string, number>();
  const failures: string[] = [];
  const started = performance.now();
  const posts: Promise<void>[] = [];
  for (let i = 0; i < offered; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const t0 = performance.now();
    posts.push(
      fetch(`${base}/api/calls/initiate`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ from_number: NUMBER, to_number: `+1555010${String(i % 10000).padStart(4, '0')}` }),
      }).then(
        async (res) => {
          const body = (await res.json().catch(() => ({}))) as { call_id?: string; code?: string };
          if (res.status === 201 && body.call_id) postedAt.set(body.call_id, t0);
          else failures.push(`POST ${res.status} ${body.code ?? ''}`.trim());
        },
        (err: Error) => void failures.push(`POST failed: ${err.message}`),
      ),
    );
  }
  await Promise.all(posts);
  const postSeconds = (performance.now() - started) / 1000;
  const ids = [...postedAt.keys()];
  // Every call has rung, been held for HOLD_MS and ended, or the step is over.
  const deadline = Date.now() + DRAIN_SECONDS * 1000 + HOLD_MS;
  let rows: Array<{ call_id: string; state: string; disposition: string | null; sip_status: number | null }> = [];
  while (Date.now() < deadline) {
    rows = (
      await db.query<{ call_id: string; state: string; disposition: string | null; sip_status: number | null }>(
        'SELECT call_id, state, disposition, sip_status FROM calls WHERE call_id = ANY($1)',
        [ids],
      )
    ).rows;
    if (rows.length === ids.length && rows.every((r) => r.state === 'ended')) break;
    await sleep(500);
  }
  const answered = rows.filter((r) => r.disposition === 'answered').length;
  const completed = rows.filter((r) => r.state === 'ended' && r.disposition === 'answered').length;
  const byOutcome = new Map<string, number>();
  for (const r of rows) {
    if (r.state === 'ended' && r.disposition === 'answered') continue;
    const k = r.state !== 'ended' ? `still ${r.state}` : `${r.disposition ?? 'ended'} ${r.sip_status ?? ''}`.trim();
    byOutcome.set(k, (byOutcome.get(k) ?? 0) + 1);
  }
  for (const [k, n] of byOutcome) failures.push(`${n}× ${k}`);
  // In POST order (Map order), so the first and last quarters can be compared.
  const latencies: number[] = [];
  for (const id of ids) {
    const first = ai.firstAt.get(id);
    if (first !== undefined) latencies.push(first - (postedAt.get(id) as number));
  }
  const missingAudio = ids.length - latencies.length;
  if (missingAudio > 0) failures.push(`${missingAudio} calls without audio at the AI`);
  // Kept up, or only queued: a backlog shows as latency that grows through the step.
  const quarter = Math.max(1, Math.floor(latencies.length / 4));
  const early = percentile(latencies.slice(0, quarter), 50);
  const late = percentile(latencies.slice(-quarter), 50);
  if (late > Math.max(BACKLOG_FLOOR_MS, 2 * early))
    failures.push(`fell behind: p50 ${ms(early)} in the first quarter, ${ms(late)} in the last`);
  const achieved = offered / Math.max(postSeconds, STEP_SECONDS);
  if (achieved < rate * MIN_ACHIEVED_SHARE) failures.push(`POSTs kept ${achieved.toFixed(1)}/s of ${rate}/s`);
  const phases = (
    await db.query<{ wait_ms: number; setup_ms: number | null }>(
      `SELECT EXTRACT(EPOCH FROM cc.claimed_at - cc.created_at) * 1000 AS wait_ms,
              EXTRACT(EPOCH FROM c.answered_at - cc.claimed_at) * 1000 AS setup_ms
       FROM calls c JOIN call_commands cc ON cc.call_id = c.call_id AND cc.command = 'originate'
       WHERE c.call_id = ANY($1) AND cc.claimed_at IS NOT NULL`,
      [ids],
    )
  ).rows;
  return {
    rate,
    offered,
    claimWait: phases.map((p) => Number(p.wait_ms)),
    setup: phases.filter((p) => p.setup_ms !== null).map((p) => Number(p.setup_ms)),
    accepted: ids.length,
    answered,
    completed,
    withAudio: latencies.length,
    achieved,
    failures,
    latencies,
    held: failures.length === 0 && completed === offered,
  };
}

const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : 'n/a');

function printStep(r: StepResult): void {
  console.log(
    `  ${String(r.rate).padStart(5)}/s  ${String(r.offered).padStart(6)}  ${String(r.accepted).padStart(8)}  ${String(r.answered).padStart(8)}  ` +
      `${String(r.withAudio).padStart(8)}  ${`${ms(percentile(r.latencies, 50))} / ${ms(percentile(r.latencies, 99))}`.padEnd(20)}  ` +
      `${`${ms(percentile(r.claimWait, 50))} / ${ms(percentile(r.claimWait, 99))}`.padEnd(18)}  ` +
      `${`${ms(percentile(r.setup, 50))} / ${ms(percentile(r.setup, 99))}`.padEnd(18)}  ` +
      `${r.held ? 'held' : `failed: ${r.failures.join('; ')}`}`,
  );
}

async function sink(): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('message', () => undefined);
  await new Promise<void>((resolve) => s.bind(0, PSTN, resolve));
  return s;
}

async function main(): Promise<void> {
  const stack = new LocalStack({
    instance: 'bench',
    freshDatabase: true,
    overrides: ISOLATION,
    say: (l) => console.log(`[bench-stack] ${l}`),
  });
  let sipp: RunningSipp | null = null;
  let ai: FirstAudio | null = null;
  let rtp: Socket | null = null;
  let db: Client | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      sipp?.kill();
      rtp?.close();
      await ai?.close();
      await db?.end().catch(() => undefined);
      await stack.stop();
    })();
    return stopping;
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
  const watchdog = setTimeout(() => {
    console.error(`bench/calls: still running after ${TOTAL_DEADLINE_MS / 60_000} min, giving up`);
    void stop().then(() => process.exit(2));
  }, TOTAL_DEADLINE_MS);
  watchdog.unref();
  stack.onCrash((child) => {
    console.error(`bench/calls: ${child.spec.name} exited during the run (see ${stack.endpoints.logs})`);
    void stop().then(() => process.exit(1));
  });
  try {
    await stack.start();
    ai = await FirstAudio.start();
    rtp = await sink();
    db = new Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    const pstnPort = await freeUdpPort(PSTN);
    sipp = await startSipp({
      scenario: calleeScenario({ answer: 200, hangupAfterMs: HOLD_MS }),
      remote: `${stack.config.sip.listenAddress}:${stack.config.sip.port}`,
      serverMode: true,
      localIp: PSTN,
      localPort: pstnPort,
      // Media where it signals from: the relay sends only there (kamailio/media.cfg).
      mediaIp: PSTN,
      keys: { rtp_port: rtp.address().port },
      calls: 1_000_000,
      limit: 5000,
      timeoutSeconds: TOTAL_DEADLINE_MS / 1000,
      traceMessages: false,
    });
    await benchApi(stack, 'POST', '/api/trunks/', {
      trunk_id: TRUNK,
      name: 'PSTN played by SIPp',
      provider: 'bench',
      proxy_address: PSTN,
      proxy_port: pstnPort,
      username: 'bench',
      password: 'bench-calls-password',
      supports_outbound: true,
      supports_inbound: false,
      transport: 'UDP',
      max_concurrent_calls: 5000,
      calls_per_second_limit: 1000,
      priority: 1,
    });
    await benchApi(stack, 'POST', '/api/numbers/', {
      number: NUMBER,
      route_type: 'ai',
      ai_dialect: 'olib',
      ai_agent_url: ai.url,
      description: 'bench/calls: caller ID of the placed calls',
    });
    // Kamailio's dispatcher marks the trunk up after its first OPTIONS probe.
    await sleep(3000);
    console.log(
      `\nbench/calls: API-initiated calls through Kamailio, a trunk (SIPp on ${PSTN}) and ${stack.config.relay.kind}, ` +
        `held ${HOLD_MS} ms, ${STEP_SECONDS} s per step; load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    console.log(
      '     rate   calls  accepted  answered  AI audio  POST → AI audio p50/p99  POST → claimed      claimed → 200 OK',
    );
    const steps: StepResult[] = [];
    for (const rate of RATES) {
      const r = await runStep(stack, ai, db, rate);
      steps.push(r);
      printStep(r);
      if (!r.held) break;
      await sleep(2000);
    }
    const best = steps.filter((r) => r.held).sort((a, b) => b.rate - a.rate)[0];
    console.log('');
    if (!best) {
      console.log(`No rate held: ${steps[0]?.failures.join('; ') ?? 'nothing ran'}`);
      process.exitCode = 1;
    } else {
      const all = steps.filter((r) => r.held).flatMap((r) => r.latencies);
      console.log(
        `Highest rate of API-initiated calls with zero failures: ${best.rate} calls/s (${best.offered} calls)`,
      );
      console.log(
        `  POST /initiate → first audio frame at the AI: p50 ${ms(percentile(best.latencies, 50))}, p99 ${ms(percentile(best.latencies, 99))} at ${best.rate}/s; ` +
          `p50 ${ms(percentile(all, 50))}, p99 ${ms(percentile(all, 99))} over every step held (${all.length} calls)`,
      );
      const failed = steps.find((r) => !r.held);
      console.log(
        failed
          ? `  limit at ${failed.rate}/s: ${failed.failures.join('; ')}`
          : `  not reached by ${best.rate}/s (the last of BENCH_RATES)`,
      );
    }
    console.log(
      `  (one machine shared by the bench, SIPp, Kamailio, rtpengine, PostgreSQL, the control-plane and the gateway; load average at the end ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})`,
    );
  } finally {
    await stop();
  }
}

void main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
