/**
 * Queues: how many callers one gateway holds waiting with music on hold, and how
 * fast the next caller hears the AI when a seat frees.
 *
 * 1. Waiting callers. One SIPp UAC places N authenticated calls (through Kamailio and
 *    rtpengine) to a number routed `queue|bench-wait`, a queue whose only agent is
 *    paused: every caller waits, hearing the default hold tune. Each call's SDP names
 *    a UDP port of this process (SIPp's injection file, `m=audio [field0]`); once all
 *    N wait and a settling time passed, a window (BENCH_WINDOW_SECONDS, 20 s) counts
 *    per caller the RTP packets received against the sequence numbers the gateway
 *    sent (RFC 3550 §A.1 extended highest sequence), and the inter-arrival jitter
 *    |Δt − 20 ms|. N ramps through BENCH_STEPS (50,100,200,300; at most 500); a step holds when every
 *    call waits and the frames lost stay < 0.1 %.
 * 2. Seat freed → AI heard. A queue whose only agent is an AI route limited to one
 *    call (the AI played here: olib, speaking a 1 kHz tone as soon as it is
 *    connected); 1 + BENCH_SAMPLES callers. Each sample hangs the connected call up
 *    from the AI and times until the next caller's first packet that is loud and not a
 *    frame of the hold tune: the seat released, the queue kicked (NOTIFY), the
 *    dispatch, the AI stream opened, its first audio through the relay. p50/p99.
 *
 * Traffic stays on 127.0.0.0/8. The stack is the test stack of TEST_STACK_SLOT when
 * set (its ports, database and RTP ranges), else a `bench` instance of its own ports.
 *
 * Run: npm run bench:queues   (BENCH_STEPS 50,100,200,300; BENCH_WINDOW_SECONDS 20; BENCH_SAMPLES 20; BENCH_RATE 20 calls/s)
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeAlaw, encodeAlaw } from '../services/common/src/audio/g711';
import { int16ToBase64 } from '../services/common/src/ai-protocol/wire/pcm';
import { generateHoldTune } from '../services/media-gateway/src/moh/tune';
import { tryParseRtp } from '../services/media-gateway/src/rtp/packet';
import { REPO_ROOT } from '../scripts/stack/env';
import { LocalStack } from '../scripts/stack/supervisor';
import { startSipp, uacMediaScenario, type RunningSipp } from '../harness/sipp';
import { benchApi, percentile, sleep } from './support/load';
import { SippTraceFollower } from './support/media-trace';

const STEPS = (process.env['BENCH_STEPS'] ?? '50,100,200,300')
  .split(',')
  .map(Number)
  .filter((n) => n > 0 && n <= 500);
const WINDOW_SECONDS = Number(process.env['BENCH_WINDOW_SECONDS'] ?? 20);
const SAMPLES = Math.min(100, Number(process.env['BENCH_SAMPLES'] ?? 20));
const RATE = Number(process.env['BENCH_RATE'] ?? 20);
const SETTLE_SECONDS = 3;
const MAX_LOSS = 0.001;
const TOTAL_DEADLINE_MS = 20 * 60_000;

const USER = { username: 'queue-bench', password: 'queue-bench-password-1' };
const WAIT_NUMBER = '+18005550177';
const SEAT_NUMBER = '+18005550178';

/** Its own ports when no test slot is named (other benches use 35xxx and the slots 2x000). */
const ISOLATION: Record<string, string> = {
  STATE_DIR: join(REPO_ROOT, '.local', 'bench-queues'),
  DB_NAME: 'sipai_bench_queues',
  SIP_PROXY_PORT: '38160',
  SIP_TLS_PORT: '38161',
  API_PORT: '38180',
  KAMAILIO_RPC_PORT: '38181',
  KAMAILIO_EVAPI_PORT: '38148',
  RTPENGINE_NG_PORT: '38123',
  RTPPROXY_CONTROL_PORT: '38125',
  GATEWAY_SIP_PORT: '38170',
  GATEWAY_HTTP_PORT: '38182',
  DEMO_AGENT_PORT: '38190',
  SMS_SIP_PORT: '38192',
  // The relay takes 4 ports a call (two legs, RTP and RTCP), the gateway 2: room for 500 callers.
  RTP_PORT_MIN: '48000',
  RTP_PORT_MAX: '49999',
  GATEWAY_RTP_PORT_MIN: '50000',
  GATEWAY_RTP_PORT_MAX: '50999',
  SIP_TLS_CA_FILE: join(REPO_ROOT, 'tests', 'fixtures', 'tls', 'ca.pem'),
};
const COMMON: Record<string, string> = {
  GATEWAY_MAX_CALLS: '600',
  API_RATE_LIMIT_PER_TOKEN: '100000',
  API_RATE_LIMIT_PER_IP: '100000',
  LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
};

const TUNE = (() => {
  const tune = encodeAlaw(generateHoldTune());
  const frames = new Set<string>();
  for (let i = 0; i + 160 <= tune.length; i += 160) frames.add(Buffer.from(tune.subarray(i, i + 160)).toString('hex'));
  return frames;
})();

function rms(payload: Uint8Array): number {
  const pcm = decodeAlaw(payload);
  let e = 0;
  for (const v of pcm) e += v * v;
  return Math.sqrt(e / Math.max(1, pcm.length));
}

/** A waiting caller's media socket: what arrived, in order, and when the AI was first heard. */
class Ear {
  received = 0;
  highest = -1;
  private base = -1;
  private cycles = 0;
  private lastSeq = -1;
  private lastAt = 0;
  jitter: number[] | null = null;
  /** First packet loud and not hold music (the AI's tone), performance.now(). */
  aiAt: number | null = null;
  music = 0;

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (d) => this.receive(d));
    socket.on('error', () => undefined);
  }

  static async open(): Promise<Ear> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new Ear(socket, socket.address().port);
  }

  close(): void {
    this.socket.close();
  }

  private receive(datagram: Buffer): void {
    const now = performance.now();
    const p = tryParseRtp(datagram);
    if (typeof p === 'string' || p.payloadType !== 8) return;
    this.received++;
    if (this.lastSeq >= 0 && p.sequence < this.lastSeq && this.lastSeq - p.sequence > 0x8000) this.cycles += 0x10000;
    const ext = this.cycles + p.sequence;
    if (this.base < 0) this.base = ext;
    if (ext > this.highest) this.highest = ext;
    if (this.jitter && this.lastSeq >= 0 && p.sequence === ((this.lastSeq + 1) & 0xffff))
      this.jitter.push(Math.abs(now - this.lastAt - 20));
    this.lastSeq = p.sequence;
    this.lastAt = now;
    const hex = Buffer.from(p.payload).toString('hex');
    if (TUNE.has(hex)) this.music++;
    else if (this.aiAt === null && rms(p.payload) > 2000) this.aiAt = now;
  }
}

/** The AI of the seat benchmark: olib, speaks a 1 kHz tone at once, hangs up when told. */
class SpeakingAi {
  readonly sockets: WebSocket[] = [];
  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(): Promise<SpeakingAi> {
    const http = createServer((_q, r) => r.writeHead(426).end());
    const wss = new WebSocketServer({ server: http });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const ai = new SpeakingAi(http, wss, `ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    const tone = new Int16Array(3200).map((_, i) => Math.round(9000 * Math.sin((2 * Math.PI * 1000 * i) / 16000)));
    const audio = int16ToBase64(tone);
    wss.on('connection', (ws) => {
      ai.sockets.push(ws);
      ws.on('message', (data, binary) => {
        if (binary) return;
        const frame = JSON.parse(Buffer.from(data as Buffer).toString('utf8')) as { type?: string };
        if (frame.type !== 'auth') return;
        ws.send(JSON.stringify({ type: 'auth_ok', data: {} }));
        for (let i = 0; i < 10; i++) ws.send(JSON.stringify({ type: 'audio', data: { audio } }));
      });
    });
    return ai;
  }

  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((resolve) => this.http.close(() => resolve()));
  }
}

interface Placed {
  readonly ears: Ear[];
  readonly sipp: RunningSipp;
  readonly answered: () => number;
  stop(): void;
}

/** N calls from one SIPp, each with its own Ear; they hang up after holdMs. */
async function place(stack: LocalStack, number: string, calls: number, holdMs: number): Promise<Placed> {
  const ears: Ear[] = [];
  for (let i = 0; i < calls; i++) ears.push(await Ear.open());
  const dir = mkdtempSync(join(tmpdir(), 'bench-queues-'));
  const injection = join(dir, 'callers.csv');
  writeFileSync(injection, `SEQUENTIAL\n${ears.map((e) => `${e.port};`).join('\n')}\n`);
  const scenario = uacMediaScenario({ codec: 'PCMA', holdMs });
  writeFileSync(scenario, readFileSync(scenario, 'utf8').replaceAll('[rtp_port]', '[field0]'));
  const sipp = await startSipp({
    scenario,
    remote: `127.0.0.1:${stack.config.sip.port}`,
    keys: { user: USER.username, callee: number.slice(1), domain: stack.config.sip.domain },
    auth: { user: USER.username, password: USER.password },
    calls,
    rate: RATE,
    limit: calls,
    timeoutSeconds: Math.ceil(holdMs / 1000) + Math.ceil(calls / RATE) + 30,
    // Kamailio's in-dialog keepalive OPTIONS (every 30 s) get a 200, as from a phone.
    extraArgs: ['-inf', injection, '-aa'],
  });
  let up = 0;
  const follower = new SippTraceFollower(sipp.messagesPath, {
    answered: () => void up++,
    ended: () => undefined,
  });
  follower.start();
  return {
    ears,
    sipp,
    answered: () => up,
    stop() {
      follower.stop();
      sipp.kill();
      for (const e of ears) e.close();
    },
  };
}

async function until(what: string, test: () => boolean | Promise<boolean>, ms: number, every = 100): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(every);
  }
}

interface WaitStep {
  readonly calls: number;
  readonly waiting: number;
  readonly loss: number;
  readonly worstLoss: number;
  readonly jitterP50: number;
  readonly jitterP99: number;
  readonly musicShare: number;
  readonly held: boolean;
  readonly note: string;
}

async function waitStep(stack: LocalStack, db: Client, calls: number): Promise<WaitStep> {
  const setupMs = Math.ceil((1.2 * calls) / RATE + 5) * 1000;
  const holdMs = setupMs + (SETTLE_SECONDS + WINDOW_SECONDS + 5) * 1000;
  const placed = await place(stack, WAIT_NUMBER, calls, holdMs);
  const waitingNow = async (): Promise<number> =>
    (
      await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM queue_entries WHERE queue = 'bench-wait' AND state = 'waiting'`,
      )
    ).rows[0]!.n;
  try {
    await until(`${calls} callers waiting`, async () => (await waitingNow()) >= calls, setupMs, 250).catch(
      () => undefined,
    );
    await sleep(SETTLE_SECONDS * 1000);
    const waiting = await waitingNow();
    const start = placed.ears.map((e) => ({ received: e.received, highest: e.highest, music: e.music }));
    for (const e of placed.ears) e.jitter = [];
    await sleep(WINDOW_SECONDS * 1000);
    let expected = 0;
    let received = 0;
    let music = 0;
    let worst = 0;
    const jitter: number[] = [];
    placed.ears.forEach((e, i) => {
      const s = start[i]!;
      const exp = Math.max(0, e.highest - s.highest);
      const got = e.received - s.received;
      expected += exp;
      received += got;
      music += e.music - s.music;
      if (exp > 0) worst = Math.max(worst, Math.max(0, exp - got) / exp);
      jitter.push(...(e.jitter ?? []));
    });
    const loss = expected > 0 ? Math.max(0, expected - received) / expected : 1;
    const held = waiting >= calls && loss < MAX_LOSS && expected > 0;
    return {
      calls,
      waiting,
      loss,
      worstLoss: worst,
      jitterP50: percentile(jitter, 50),
      jitterP99: percentile(jitter, 99),
      musicShare: received > 0 ? music / received : 0,
      held,
      note: waiting < calls ? `only ${waiting} waiting` : '',
    };
  } finally {
    // Each call hangs up (BYE) at the end of its hold; SIPp is killed only if that does not come.
    await Promise.race([placed.sipp.done, sleep(holdMs)]);
    placed.stop();
    await until('the callers gone', async () => (await waitingNow()) === 0, 5000, 250).catch(async () => {
      await db.query(
        `UPDATE queue_entries SET state = 'done', outcome = 'abandoned', ended_at = now() WHERE queue = 'bench-wait' AND state <> 'done'`,
      );
    });
  }
}

async function seatSamples(stack: LocalStack, db: Client, ai: SpeakingAi): Promise<number[]> {
  const placed = await place(stack, SEAT_NUMBER, SAMPLES + 1, 120_000);
  const latencies: number[] = [];
  try {
    await until('the first caller with the AI', () => ai.sockets.length >= 1, 15_000);
    await until(
      `${SAMPLES} callers waiting`,
      async () =>
        (
          await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM queue_entries WHERE queue = 'bench-seat' AND state = 'waiting'`,
          )
        ).rows[0]!.n >= SAMPLES,
      30_000,
      250,
    );
    await sleep(1000);
    for (let i = 0; i < SAMPLES; i++) {
      const current = ai.sockets[ai.sockets.length - 1]!;
      const heardBefore = new Set(placed.ears.filter((e) => e.aiAt !== null));
      const freed = performance.now();
      current.send(JSON.stringify({ type: 'hangup', data: { reason: 'seat frees' } }));
      let next: Ear | undefined;
      await until(
        'the next caller hears the AI',
        () => (next = placed.ears.find((e) => e.aiAt !== null && !heardBefore.has(e) && e.aiAt > freed)) !== undefined,
        10_000,
        2,
      );
      latencies.push(next!.aiAt! - freed);
      // The new call's AI speaks 2 s at once; a hangup sent while that still plays waits for it
      // (the caller hears the AI's last words first), which would be timed as a slow hand-over.
      await sleep(2300);
    }
  } finally {
    placed.stop();
  }
  return latencies;
}

async function main(): Promise<void> {
  const slot = process.env['TEST_STACK_SLOT'];
  const stack = new LocalStack({
    instance: slot ? 'test' : 'bench',
    freshDatabase: true,
    overrides: slot ? COMMON : { ...ISOLATION, ...COMMON },
    say: (l) => console.log(`[bench-stack] ${l}`),
  });
  let ai: SpeakingAi | null = null;
  const db = new Client({ connectionString: stack.config.databaseUrl });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await ai?.close();
      await db.end().catch(() => undefined);
      await stack.stop();
    })();
    return stopping;
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
  const watchdog = setTimeout(() => {
    console.error(`bench/queues: still running after ${TOTAL_DEADLINE_MS / 60_000} min, giving up`);
    void stop().then(() => process.exit(2));
  }, TOTAL_DEADLINE_MS);
  watchdog.unref();
  stack.onCrash((child) => {
    console.error(`bench/queues: ${child.spec.name} exited during the run (see ${stack.endpoints.logs})`);
    void stop().then(() => process.exit(1));
  });
  try {
    await stack.start();
    await db.connect();
    ai = await SpeakingAi.start();
    await benchApi(stack, 'POST', '/api/sip-users/', { ...USER, max_concurrent_calls: 1000 });
    await db.query(`INSERT INTO queues (name) VALUES ('bench-wait'), ('bench-seat')`);
    await db.query(
      `INSERT INTO queue_agents (queue, kind, username, paused) VALUES ('bench-wait', 'sip_user', 'nobody', true)`,
    );
    await db.query(
      `INSERT INTO ai_routes (name, agent_url, dialect, max_concurrent_calls) VALUES ('bench-ai', $1, 'olib', 1)`,
      [`${ai.url}/olib`],
    );
    await db.query(`INSERT INTO queue_agents (queue, kind, ai_route) VALUES ('bench-seat', 'ai', 'bench-ai')`);
    for (const [number, queue] of [
      [WAIT_NUMBER, 'bench-wait'],
      [SEAT_NUMBER, 'bench-seat'],
    ])
      await benchApi(stack, 'POST', '/api/numbers/', { number, route_type: 'queue', target: queue });
    console.log(
      `\nbench/queues: waiting callers ${STEPS.join(', ')} (${RATE} calls/s, ${WINDOW_SECONDS} s window, loss < ${MAX_LOSS * 100} %), ` +
        `then ${SAMPLES} seat hand-overs; ${stack.config.relay.kind}; load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}\n`,
    );
    console.log('callers  waiting  frames lost  worst caller  jitter p50/p99 ms  hold tune  held');
    const steps: WaitStep[] = [];
    for (const n of STEPS) {
      const r = await waitStep(stack, db, n);
      steps.push(r);
      console.log(
        `${String(r.calls).padStart(7)}  ${String(r.waiting).padStart(7)}  ${(r.loss * 100).toFixed(3).padStart(9)} %  ` +
          `${(r.worstLoss * 100).toFixed(2).padStart(10)} %  ${r.jitterP50.toFixed(1).padStart(7)} / ${r.jitterP99.toFixed(1).padEnd(7)}  ` +
          `${(r.musicShare * 100).toFixed(1).padStart(7)} %  ${r.held ? 'yes' : 'no'} ${r.note}`,
      );
      await sleep(2000);
      if (!r.held) break;
    }
    const best = steps.filter((s) => s.held).at(-1);
    console.log(
      `\none gateway held ${best ? best.calls : 0} waiting callers with music on hold (frames lost < ${MAX_LOSS * 100} %)` +
        (steps.every((s) => s.held) ? ` — the largest step tried (BENCH_STEPS)` : ''),
    );
    const lat = await seatSamples(stack, db, ai);
    console.log(
      `seat freed → next caller hears the AI (${lat.length} hand-overs): p50 ${percentile(lat, 50).toFixed(0)} ms, ` +
        `p99 ${percentile(lat, 99).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms`,
    );
    console.log(`  each, in order (ms): ${lat.map((l) => l.toFixed(0)).join(' ')}`);
    if (!best) process.exitCode = 1;
  } finally {
    await stop();
  }
}

void main().catch((err: Error) => {
  console.error(`bench/queues: ${err.message}`);
  process.exit(1);
});
