/**
 * Simultaneous full-duplex AI calls through the whole stack, and what they cost.
 *
 * One SIPp UAC places N authenticated calls (INVITE → 407 → INVITE with credentials)
 * to an AI number: Kamailio (digest auth from PostgreSQL, dialogs, routing) →
 * rtpengine (anchors the media) → the media gateway → the demo agent over WebSocket in
 * echo mode (olib dialect unless BENCH_DIALECT says otherwise). Each call's SDP offers
 * a UDP port of this process (SIPp's injection file, `m=audio [field0]`); SIPp's
 * message trace maps Call-ID → that port → the relay port of its 200 OK. One 20 ms
 * clock then sends every call's speech (g711a.pcap re-cut into 20 ms A-law frames) to
 * its relay port, and each socket counts what comes back.
 *
 * Once all N calls are up and settled, a window (60 s) measures:
 *   - loss: speech frames sent vs frames of echoed speech received (end to end: caller →
 *     relay → gateway → agent → gateway → relay → caller); RTP packets the callers got
 *     vs what the 20 ms clock owed them (a tick the gateway skipped is a gap with no
 *     sequence gap); and the gateway's own count of frames its jitter buffer concealed
 *     (it counts at call end, so over the whole calls);
 *   - the gateway's CPU time per call-second (/proc/<pid>/stat) and every other
 *     process's CPU, to say what limits it on this 2-core machine;
 *   - bridge-added latency p50/p99 in both directions, from the gateway's histograms
 *     (bucket deltas over the window, interpolated inside the bucket);
 *   - outbound pacing jitter: |inter-arrival − 20 ms| of consecutive packets per call.
 * N starts at 200 and grows by 100 while a step holds (all calls up, none dropped,
 * every loss < 0.1 %), up to BENCH_MAX_CALLS; after a failure the search narrows to
 * 50 calls, and when 200 fails it steps down by 50, so the largest N held is printed
 * either way (the exit code is 1 unless 200 held). Each step is a fresh batch: the
 * calls hang up by themselves (SIPp's BYE after its hold) before the next one.
 *
 * The stack is the `bench` instance with its own state directory, database and ports,
 * so a bench:register or bench:routing run elsewhere on the machine is not disturbed.
 * The gateway runs as GATEWAY_WORKERS replicas (BENCH_GATEWAY_WORKERS, 2: one per core
 * of the 2-core reference machine), each its own event loop and member of Kamailio's
 * gateway set; its CPU is the whole process tree's.
 *
 * What limits it on the 2-core reference machine: it holds 100 calls; at 150 about
 * 0.5–0.8 % and at 200 about 5 % of the frames to the callers are missing. The stack
 * and its harness then want 180–200 % of the two cores: per call and 20 ms there are
 * a dozen socket sends and receives (caller → relay → gateway → agent → gateway →
 * relay → caller), mostly the kernel's loopback path, and the gateway is about 40 % of
 * the total (4–5 ms CPU per call-second over two replicas), rtpengine ≈ 18 %, the
 * demo agent ≈ 20 %, the bench's own callers ≈ 13 % and softirq ≈ 12 %. The frames
 * missing are ticks a replica's event loop ran more than 100 ms late (p99 lag 90 ms
 * at 150 calls, 160 ms at 200) while it used well under a core: it was waiting for
 * one. At 200 calls each replica's loop runs about 42 % and waits runnable about 57 %
 * of the time (the "gateway event loops" line, from /proc/<pid>/schedstat); the two
 * cores are asked for more than they have, and priorities only move the shortfall
 * to the callers and the demo agent (docs/media-gateway.md).
 *
 * Run: npm run bench:media   (BENCH_CALLS fixed N, no ramp; BENCH_MAX_CALLS 600; BENCH_GATEWAY_WORKERS 2;
 *      BENCH_STEP_CALLS 100; BENCH_WINDOW_SECONDS 60; BENCH_RATE 30 calls/s;
 *      BENCH_DIALECT olib|twilio|binary; BENCH_PROFILE=1 leaves V8 CPU profiles of the
 *      gateway, demo agent and control-plane in .local/bench-media/profiles)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../scripts/stack/env';
import { LocalStack } from '../scripts/stack/supervisor';
import { G711A_PCAP, startSipp, uacMediaScenario, type RunningSipp, type SippRun } from '../harness/sipp';
import { benchApi, sleep, summarise } from './support/load';
import {
  DeviationHistogram,
  FRAME_MS,
  MediaPeer,
  PeerDriver,
  speechFrames,
  type PeerCounters,
} from './support/media-peers';
import {
  delta,
  histogramQuantiles,
  machineCpu,
  processCpuMs,
  processTable,
  processTreeSchedTimes,
  processTreesCpuMs,
  schedShare,
  scrape,
  type HistogramQuantiles,
  type MachineCpu,
  type SchedTimes,
  type Scrape,
} from './support/media-probes';
import { SippTraceFollower } from './support/media-trace';

const env = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};
const FIXED_CALLS = process.env['BENCH_CALLS'] ? Number(process.env['BENCH_CALLS']) : null;
const FIRST_CALLS = 200;
const STEP_CALLS = env('BENCH_STEP_CALLS', 100);
const MAX_CALLS = env('BENCH_MAX_CALLS', 600);
const WINDOW_SECONDS = env('BENCH_WINDOW_SECONDS', 60);
const RATE = env('BENCH_RATE', 30);
const DIALECT = process.env['BENCH_DIALECT'] ?? 'olib';
/** After the last call is up: jitter buffers adapt, the echo reaches every caller. */
const SETTLE_SECONDS = 5;
const LOSS_LIMIT = 0.001;
/** The bench callers' RTP ports: outside every local stack's relay and gateway ranges. */
const PEER_PORTS = { from: 22000, to: 29998 } as const;
const USER = { username: 'media-bench', password: 'media-bench-password-1' };
const NUMBER = '+18005550199';
/** Gateway replicas (GATEWAY_WORKERS): one per core of this machine by default. */
const GATEWAY_WORKERS = env('BENCH_GATEWAY_WORKERS', 2);
const TOTAL_DEADLINE_MS = env('BENCH_DEADLINE_MINUTES', 50) * 60_000;

/** Its own state directory, database and ports, next to (not instead of) the shared bench instance. */
const ISOLATION: Record<string, string> = {
  STATE_DIR: join(REPO_ROOT, '.local', 'bench-media'),
  DB_NAME: 'sipai_bench_media',
  SIP_PROXY_PORT: '36160',
  SIP_TLS_PORT: '36161',
  API_PORT: '38680',
  KAMAILIO_RPC_PORT: '36181',
  KAMAILIO_EVAPI_PORT: '38648',
  RTPENGINE_NG_PORT: '32624',
  RTPPROXY_CONTROL_PORT: '37922',
  GATEWAY_SIP_PORT: '36170',
  GATEWAY_HTTP_PORT: '38682',
  DEMO_AGENT_PORT: '38690',
  SMS_SIP_PORT: '38691',
  // Every call takes two RTP/RTCP pairs on the relay: 6000 ports hold 1500 calls
  // (the instance's 2000 would cap the bench at 500).
  RTP_PORT_MIN: '54000',
  RTP_PORT_MAX: '59999',
  GATEWAY_RTP_PORT_MIN: '50000',
  GATEWAY_RTP_PORT_MAX: '53999',
  GATEWAY_WORKERS: String(GATEWAY_WORKERS),
};
/** BENCH_PROFILE=1: V8 CPU profiles of the stack's Node services, written when they stop. */
const PROFILE_DIR = join(ISOLATION['STATE_DIR'] as string, 'profiles');
if (process.env['BENCH_PROFILE']) {
  ISOLATION['NODE_OPTIONS'] = `--require ${join(__dirname, 'support', 'media-profile.js')}`;
  ISOLATION['BENCH_PROFILE_DIR'] = PROFILE_DIR;
}

const PROCESSES = ['media-gateway', 'demo-agent', 'rtpengine', 'kamailio', 'control-plane'] as const;

interface CpuSnapshot {
  readonly atMs: number;
  readonly trees: Record<string, number>;
  readonly bench: number;
  readonly machine: MachineCpu;
  /** The gateway's main threads (its replicas' event loops): time run and time waited for a core. */
  readonly gatewaySched: Map<number, SchedTimes>;
}

function cpuSnapshot(stack: LocalStack, sipp: RunningSipp): CpuSnapshot {
  const roots: Record<string, number | undefined> = { sipp: sipp.pid };
  for (const name of PROCESSES) roots[name] = stack.pidOf(name);
  const table = processTable();
  return {
    atMs: performance.now(),
    trees: processTreesCpuMs(roots, table),
    bench: processCpuMs(process.pid),
    machine: machineCpu(),
    gatewaySched: processTreeSchedTimes(stack.pidOf('media-gateway'), table),
  };
}

/** CPU over a window, in % of one core, per process; `other` is everything else on the machine. */
interface CpuShare {
  readonly perProcess: Record<string, number>;
  readonly machine: number;
  readonly softirq: number;
  readonly other: number;
  readonly gatewayMs: number;
  /**
   * The gateway's busy event loops, averaged: % of the window on a core and % waiting
   * runnable for one. A loop that waits is late however little CPU it uses.
   */
  readonly gatewayLoops: { readonly threads: number; readonly runPct: number; readonly waitPct: number };
}

function cpuShare(a: CpuSnapshot, b: CpuSnapshot): CpuShare {
  const wallMs = b.atMs - a.atMs;
  const pct = (ms: number): number => (100 * ms) / wallMs;
  const perProcess: Record<string, number> = {};
  let ours = 0;
  for (const name of Object.keys(b.trees)) {
    const ms = (b.trees[name] ?? 0) - (a.trees[name] ?? 0);
    perProcess[name] = pct(ms);
    ours += ms;
  }
  perProcess['bench'] = pct(b.bench - a.bench);
  ours += b.bench - a.bench;
  const busy = b.machine.busyMs - a.machine.busyMs;
  const softirq = b.machine.softirqMs - a.machine.softirqMs;
  return {
    perProcess,
    machine: pct(busy),
    softirq: pct(softirq),
    other: Math.max(0, pct(busy - softirq - ours)),
    gatewayMs: (b.trees['media-gateway'] ?? 0) - (a.trees['media-gateway'] ?? 0),
    gatewayLoops: schedShare(a.gatewaySched, b.gatewaySched, wallMs),
  };
}

function snapshot(peers: readonly MediaPeer[]): PeerCounters[] {
  return peers.map((p) => p.counters);
}

interface StepResult {
  readonly calls: number;
  readonly up: number;
  readonly setupSeconds: number;
  readonly failures: string[];
  readonly held: boolean;
  readonly sent: number;
  readonly echoed: number;
  readonly e2eLoss: number;
  /** Packets the callers should have had by the 20 ms clock in the window, and got. */
  readonly rtpDue: number;
  readonly rtpReceived: number;
  /** 1 − received/due: a tick the gateway's clock skipped is a 20 ms gap to the caller even without a sequence gap. */
  readonly rtpLoss: number;
  /** Of which missing sequence numbers (lost on the way rather than never sent). */
  readonly rtpSequenceGaps: number;
  readonly gatewayIn: number;
  readonly gatewayLost: number;
  readonly gatewayLoss: number;
  readonly rtpToWs: HistogramQuantiles;
  readonly wsToRtp: HistogramQuantiles;
  /** Whether wsToRtp covers the whole calls: in echo mode an utterance starts only after a playout underrun, rarely within the window. */
  readonly wsToRtpWholeCalls: boolean;
  readonly jitterP50: number;
  readonly jitterP99: number;
  readonly jitterCount: number;
  readonly cpu: CpuShare | null;
  readonly gatewayCpuPerCallSecond: number;
  readonly loopLagP99Ms: number;
  /** Gateway garbage collection, ms per second of window. */
  readonly gcMsPerSecond: number;
  readonly benchLateSlots: number;
  readonly benchMaxLateMs: number;
  readonly load: readonly number[];
}

/** Mutable handles of the step in progress, for the SIGINT path. */
const live: { sipp: RunningSipp | null; driver: PeerDriver | null; peers: MediaPeer[] } = {
  sipp: null,
  driver: null,
  peers: [],
};

function closeStep(): void {
  live.driver?.stop();
  for (const p of live.peers) p.close();
  live.sipp?.kill();
  live.driver = null;
  live.peers = [];
  live.sipp = null;
}

async function waitFor(condition: () => boolean, timeoutMs: number, everyMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

async function runStep(stack: LocalStack, calls: number, metricsUrl: string): Promise<StepResult> {
  const failures: string[] = [];
  const frames = speechFrames(G711A_PCAP);
  const jitter: { histogram: DeviationHistogram | null } = { histogram: null };
  const peers: MediaPeer[] = [];
  let from: number = PEER_PORTS.from;
  for (let i = 0; i < calls; i++) {
    const peer = await MediaPeer.open(from, PEER_PORTS.to, frames, jitter);
    peers.push(peer);
    from = peer.port + 2;
  }
  live.peers = peers;
  const byPort = new Map(peers.map((p) => [p.port, p]));

  const dir = mkdtempSync(join(tmpdir(), 'bench-media-'));
  const injection = join(dir, 'callers.csv');
  writeFileSync(injection, `SEQUENTIAL\n${peers.map((p) => `${p.port};`).join('\n')}\n`);
  // The hold covers the slowest plausible set-up, the settling time and the window.
  const setupBudgetMs = Math.round((1.5 * calls) / RATE + 15) * 1000;
  const holdMs = setupBudgetMs + (SETTLE_SECONDS + WINDOW_SECONDS + 10) * 1000;
  // The test suite's media call, with each call's port from its line of the injection file.
  const scenario = uacMediaScenario({ codec: 'PCMA', holdMs });
  writeFileSync(scenario, readFileSync(scenario, 'utf8').replaceAll('[rtp_port]', '[field0]'));

  const before = await scrape(metricsUrl);
  const driver = new PeerDriver(peers);
  live.driver = driver;
  driver.start();
  const startedAt = Date.now();
  const sipp = await startSipp({
    scenario,
    remote: `127.0.0.1:${stack.config.sip.port}`,
    keys: { user: USER.username, callee: NUMBER.slice(1), domain: stack.config.sip.domain },
    auth: { user: USER.username, password: USER.password },
    calls,
    rate: RATE,
    limit: calls,
    timeoutSeconds: Math.ceil((setupBudgetMs + holdMs) / 1000) + 20,
    // -aa: SIPp answers Kamailio's in-dialog keepalive OPTIONS (every 30 s) with 200,
    // as a phone does, instead of aborting the call on an unexpected request.
    extraArgs: ['-inf', injection, '-aa'],
  });
  live.sipp = sipp;
  let run: SippRun | null = null;
  void sipp.done.then((r) => (run = r));

  let up = 0;
  let windowOpen = false;
  let droppedInWindow = 0;
  const follower = new SippTraceFollower(sipp.messagesPath, {
    answered(call) {
      const peer = call.peerPort === undefined ? undefined : byPort.get(call.peerPort);
      if (!peer || !call.relay) return;
      peer.target = call.relay;
      peer.sending = true;
      up++;
    },
    ended(call) {
      const peer = call.peerPort === undefined ? undefined : byPort.get(call.peerPort);
      if (peer) peer.sending = false;
      if (call.droppedByPeer && windowOpen) droppedInWindow++;
    },
  });
  follower.start();

  let result: StepResult;
  try {
    const allUp = await waitFor(
      () => up >= calls || run !== null || [...follower.calls.values()].some((c) => c.failedWith !== undefined),
      setupBudgetMs,
    );
    const setupSeconds = (Date.now() - startedAt) / 1000;
    const refused = [...follower.calls.values()].filter((c) => c.failedWith !== undefined);
    if (refused.length > 0)
      failures.push(`${refused.length} call(s) refused (${[...new Set(refused.map((c) => c.failedWith))].join(', ')})`);
    if (!allUp || up < calls) failures.push(`${up}/${calls} calls answered after ${setupSeconds.toFixed(0)} s`);

    let cpu: CpuShare | null = null;
    const counters = { sent: 0, echoed: 0, expected: 0, received: 0, due: 0 };
    let rtpToWs: HistogramQuantiles = { count: 0, p50: NaN, p99: NaN };
    let wsToRtp: HistogramQuantiles = { count: 0, p50: NaN, p99: NaN };
    let loopLagP99Ms = NaN;
    let gcMsPerSecond = NaN;
    let late = { lateSlots: 0, maxLateMs: 0 };
    const histogram = new DeviationHistogram();
    let load: readonly number[] = loadavg();
    if (failures.length === 0) {
      await sleep(SETTLE_SECONDS * 1000);
      const silent = peers.filter((p) => p.counters.echoed === 0).length;
      if (silent > 0) failures.push(`${silent} call(s) had no echo after ${SETTLE_SECONDS} s`);

      const m0 = await scrape(metricsUrl);
      const c0 = snapshot(peers);
      const cpu0 = cpuSnapshot(stack, sipp);
      driver.stats(true);
      jitter.histogram = histogram;
      windowOpen = true;
      const active0 = m0.get('gateway_active_ai_calls') ?? 0;
      await sleep(WINDOW_SECONDS * 1000);
      windowOpen = false;
      jitter.histogram = null;
      const cpu1 = cpuSnapshot(stack, sipp);
      const c1 = snapshot(peers);
      late = driver.stats();
      const m1 = await scrape(metricsUrl);
      load = loadavg();
      cpu = cpuShare(cpu0, cpu1);
      rtpToWs = histogramQuantiles(m0, m1, 'gateway_bridge_latency_rtp_to_ws_ms');
      wsToRtp = histogramQuantiles(m0, m1, 'gateway_bridge_latency_ws_to_rtp_ms');
      loopLagP99Ms = (m1.get('gateway_nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000;
      const gcSeconds = [...m1.keys()]
        .filter((k) => k.startsWith('gateway_nodejs_gc_duration_seconds_sum'))
        .reduce((sum, k) => sum + delta(m0, m1, k), 0);
      gcMsPerSecond = (gcSeconds * 1000) / WINDOW_SECONDS;
      const active1 = m1.get('gateway_active_ai_calls') ?? 0;
      if (active0 < calls || active1 < calls)
        failures.push(`gateway had ${active0} → ${active1} active AI calls in the window`);
      if (droppedInWindow > 0) failures.push(`${droppedInWindow} call(s) hung up by the far end in the window`);

      let starved = 0;
      for (let i = 0; i < peers.length; i++) {
        const a = c0[i] as PeerCounters;
        const b = c1[i] as PeerCounters;
        counters.sent += b.sent - a.sent;
        counters.echoed += b.echoed - a.echoed;
        counters.received += b.received - a.received;
        // A call with nothing received before the window has no baseline sequence number (it failed the echo check).
        counters.expected += a.highestSeq < 0 ? b.received - a.received : b.highestSeq - a.highestSeq;
        counters.due += (WINDOW_SECONDS * 1000) / FRAME_MS;
        if (b.received - a.received < 0.9 * ((WINDOW_SECONDS * 1000) / FRAME_MS)) starved++;
      }
      if (starved > 0) failures.push(`${starved} call(s) received under 90 % of their frames in the window`);
    }

    // The calls end by themselves (SIPp's BYE after the hold); their frame counts reach
    // the gateway's counters only then.
    const finished = await sipp.done;
    follower.stop();
    driver.stop();
    const outcome = summarise(calls, calls, [finished], (Date.now() - startedAt) / 1000);
    if (outcome.failed > 0) failures.push(`SIPp: ${outcome.failed} of ${calls} calls failed`);
    let after: Scrape = await scrape(metricsUrl);
    for (let i = 0; i < 40 && (after.get('gateway_active_ai_calls') ?? 0) > 0; i++) {
      await sleep(500);
      after = await scrape(metricsUrl);
    }
    const wsToRtpWholeCalls = wsToRtp.count < 10;
    if (wsToRtpWholeCalls) wsToRtp = histogramQuantiles(before, after, 'gateway_bridge_latency_ws_to_rtp_ms');
    const gatewayIn = delta(before, after, 'gateway_frames_total{direction="in"}');
    const gatewayLost = delta(before, after, 'gateway_frames_total{direction="lost"}');

    const e2eLoss = counters.sent > 0 ? Math.max(0, 1 - counters.echoed / counters.sent) : NaN;
    const rtpLoss = counters.due > 0 ? Math.max(0, 1 - counters.received / counters.due) : NaN;
    const gatewayLoss = gatewayIn > 0 ? gatewayLost / gatewayIn : NaN;
    if (e2eLoss >= LOSS_LIMIT) failures.push(`echoed speech lost ${pct(e2eLoss)}`);
    if (rtpLoss >= LOSS_LIMIT) failures.push(`RTP to the callers ${pct(rtpLoss)} short of the 20 ms clock`);
    if (gatewayLoss >= LOSS_LIMIT) failures.push(`gateway concealed ${pct(gatewayLoss)} of caller frames`);

    result = {
      calls,
      up,
      setupSeconds,
      failures,
      held: failures.length === 0,
      sent: counters.sent,
      echoed: counters.echoed,
      e2eLoss,
      rtpDue: counters.due,
      rtpReceived: counters.received,
      rtpLoss,
      rtpSequenceGaps: Math.max(0, counters.expected - counters.received),
      gatewayIn,
      gatewayLost,
      gatewayLoss,
      rtpToWs,
      wsToRtp,
      wsToRtpWholeCalls,
      jitterP50: histogram.percentile(50),
      jitterP99: histogram.percentile(99),
      jitterCount: histogram.count,
      cpu,
      gatewayCpuPerCallSecond: cpu ? cpu.gatewayMs / (calls * WINDOW_SECONDS) : NaN,
      loopLagP99Ms,
      gcMsPerSecond,
      benchLateSlots: late.lateSlots,
      benchMaxLateMs: late.maxLateMs,
      load,
    };
  } finally {
    follower.stop();
    closeStep();
  }
  return result;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(3)} %` : 'n/a');
const ms = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : x === Infinity ? '> 500 ms' : 'n/a');
const quantiles = (q: HistogramQuantiles): string => `p50 ${ms(q.p50)} p99 ${ms(q.p99)} (${q.count} samples)`;

function cpuLine(c: CpuShare): string {
  const p = c.perProcess;
  const f = (name: string, label = name): string => `${label} ${(p[name] ?? 0).toFixed(0)} %`;
  return (
    `${f('media-gateway', 'gateway')}  ${f('demo-agent')}  ${f('rtpengine')}  ${f('kamailio')}  ${f('control-plane')}  ${f('sipp', 'SIPp')}  ${f('bench', 'bench callers')}` +
    `  softirq ${c.softirq.toFixed(0)} %  other processes ${c.other.toFixed(0)} %  = machine ${c.machine.toFixed(0)} % of 200 %`
  );
}

function printStep(r: StepResult): void {
  console.log(
    `\nN = ${r.calls}: ${r.up}/${r.calls} calls up in ${r.setupSeconds.toFixed(1)} s; load average ${r.load.map((l) => l.toFixed(2)).join(' ')}`,
  );
  if (r.cpu) {
    console.log(
      `  loss     echoed speech ${r.echoed}/${r.sent} frames (${pct(r.e2eLoss)} lost)   RTP at the callers ${r.rtpReceived}/${r.rtpDue} due (${pct(r.rtpLoss)} missing, ${r.rtpSequenceGaps} sequence gaps)`,
    );
    console.log(
      `           gateway jitter buffer concealed ${r.gatewayLost}/${r.gatewayIn} caller frames over the whole calls (${pct(r.gatewayLoss)})`,
    );
    console.log(
      `  latency  RTP in → WS out ${quantiles(r.rtpToWs)}   WS in → RTP out ${quantiles(r.wsToRtp)}${r.wsToRtpWholeCalls ? ' over the whole calls' : ''}`,
    );
    console.log(
      `  pacing   |inter-arrival − 20 ms| p50 ${ms(r.jitterP50)} p99 ${ms(r.jitterP99)} (${r.jitterCount} packets); bench sends late > 5 ms: ${r.benchLateSlots} slots (max ${ms(r.benchMaxLateMs)})`,
    );
    console.log(`  CPU      ${cpuLine(r.cpu)}`);
    console.log(
      `           gateway ${r.gatewayCpuPerCallSecond.toFixed(3)} ms CPU per call-second; gateway event-loop lag p99 ${ms(r.loopLagP99Ms)}, GC ${r.gcMsPerSecond.toFixed(1)} ms/s`,
    );
    const loops = r.cpu.gatewayLoops;
    if (loops.threads > 0)
      console.log(
        `           gateway event loops (${loops.threads}): on a core ${loops.runPct.toFixed(0)} %, waiting runnable for one ${loops.waitPct.toFixed(0)} % of the window`,
      );
  }
  console.log(`  verdict  ${r.held ? `held ${WINDOW_SECONDS} s` : `failed: ${r.failures.join('; ')}`}`);
}

/**
 * The gateway's CPU per call-second from the largest step whose gateway kept its 20 ms
 * clock (under 1 % of ticks missing): a starved gateway skips ticks, does less work per
 * call and would look cheaper than it is.
 */
function gatewayCost(steps: readonly StepResult[]): StepResult | undefined {
  const measured = steps.filter((r) => r.cpu && Number.isFinite(r.gatewayCpuPerCallSecond));
  const unstarved = measured.filter((r) => r.rtpLoss < 0.01).sort((a, b) => b.calls - a.calls);
  return unstarved[0] ?? [...measured].sort((a, b) => a.calls - b.calls)[0];
}

/** What stopped the ramp (or would next), from where the CPU went. */
function limitingFactor(r: StepResult, cost: StepResult | undefined): string {
  const c = r.cpu;
  if (!c) return `calls could not be set up (${r.failures.join('; ')})`;
  const findings: string[] = [];
  const gateway = c.perProcess['media-gateway'] ?? 0;
  // The gateway sends every call's frame on one shared 20 ms clock: a frame the callers
  // never got without a sequence gap is a tick its event loop skipped.
  if (r.rtpLoss >= LOSS_LIMIT || r.loopLagP99Ms > 2 * FRAME_MS) {
    findings.push(
      `the media gateway's event loop fell behind its 20 ms clock (${pct(r.rtpLoss)} of frames never sent, event-loop lag p99 ${ms(r.loopLagP99Ms)}, ` +
        `GC ${r.gcMsPerSecond.toFixed(0)} ms/s) at ${gateway.toFixed(0)} % of a core, ${r.gatewayCpuPerCallSecond.toFixed(2)} ms CPU per call-second` +
        (c.gatewayLoops.threads > 0
          ? `; each event loop waited runnable for a core ${c.gatewayLoops.waitPct.toFixed(0)} % of the time and ran ${c.gatewayLoops.runPct.toFixed(0)} %`
          : ''),
    );
  }
  if (cost) {
    const need = (r.calls * cost.gatewayCpuPerCallSecond) / 10 / GATEWAY_WORKERS;
    if (need >= 85)
      findings.push(
        `at ${cost.gatewayCpuPerCallSecond.toFixed(2)} ms per call-second (N = ${cost.calls}) ${r.calls} calls need ≈ ${need.toFixed(0)} % of a core for each of the gateway's ${GATEWAY_WORKERS} replicas`,
      );
  }
  const single: Array<[string, string]> = [
    ['demo-agent', 'the demo agent (one Node.js event loop)'],
    ['bench', "the bench's own callers (one Node.js event loop)"],
  ];
  for (const [name, label] of single) {
    const v = c.perProcess[name] ?? 0;
    if (v >= 85) findings.push(`${label} at ${v.toFixed(0)} % of a core`);
  }
  const top = Object.entries({ ...c.perProcess, softirq: c.softirq, 'outside the stack': c.other })
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([n, v]) => `${n} ${v.toFixed(0)} %`)
    .join(', ');
  findings.push(`machine ${c.machine.toFixed(0)} % of 200 % busy (${top})`);
  // The driver runs 4 slots per 20 ms; more than 1 % of them late means the callers' own timing was off too.
  if (r.benchLateSlots > 0.01 * WINDOW_SECONDS * 200)
    findings.push(
      `the bench's callers were late too (${r.benchLateSlots} send slots > 5 ms, max ${ms(r.benchMaxLateMs)})`,
    );
  return findings.join('; ');
}

function printSummary(steps: readonly StepResult[]): void {
  console.log(
    '\n   calls  held  echo loss   RTP loss  gw concealed  gw CPU ms/call-s  RTP→WS p50/p99    WS→RTP p50/p99    pacing p50/p99   CPU machine/outside the stack  load',
  );
  for (const r of [...steps].sort((a, b) => a.calls - b.calls)) {
    const lat = (q: HistogramQuantiles): string => `${ms(q.p50)}/${ms(q.p99)}`.padEnd(18);
    console.log(
      `  ${String(r.calls).padStart(6)}  ${(r.held ? 'yes' : 'no').padEnd(4)}  ${pct(r.e2eLoss).padStart(9)}  ${pct(r.rtpLoss).padStart(9)}  ${pct(r.gatewayLoss).padStart(12)}  ` +
        `${(Number.isFinite(r.gatewayCpuPerCallSecond) ? r.gatewayCpuPerCallSecond.toFixed(3) : 'n/a').padStart(16)}  ${lat(r.rtpToWs)}${lat(r.wsToRtp)}` +
        `${`${ms(r.jitterP50)}/${ms(r.jitterP99)}`.padEnd(17)}${(r.cpu ? `${r.cpu.machine.toFixed(0)} % / ${r.cpu.other.toFixed(0)} % of 200 %` : 'n/a').padEnd(29)}  ${r.load[0]?.toFixed(2)}`,
    );
  }
  const best = steps.filter((r) => r.held).sort((a, b) => b.calls - a.calls)[0];
  // The limit: the smallest N that failed above the largest held.
  const failed = steps.filter((r) => !r.held && r.calls > (best?.calls ?? 0)).sort((a, b) => a.calls - b.calls)[0];
  console.log('');
  if (!best) {
    console.log(`No step held: ${failed ? failed.failures.join('; ') : 'nothing ran'}`);
  } else {
    console.log(
      `Largest number of simultaneous full-duplex AI calls held ${WINDOW_SECONDS} s with < 0.1 % frames lost: ${best.calls}`,
    );
    console.log(
      `  gateway CPU per call-second:     ${best.gatewayCpuPerCallSecond.toFixed(3)} ms (${(best.gatewayCpuPerCallSecond / 10).toFixed(2)} % of a core per call)`,
    );
    console.log(`  bridge latency RTP in → WS out:  ${quantiles(best.rtpToWs)}`);
    console.log(
      `  bridge latency WS in → RTP out:  ${quantiles(best.wsToRtp)}${best.wsToRtpWholeCalls ? ' (first audio of each utterance; over the whole calls)' : ''}`,
    );
    console.log(
      `  outbound pacing jitter:          p50 ${ms(best.jitterP50)} p99 ${ms(best.jitterP99)} (|inter-arrival − 20 ms| at the callers)`,
    );
  }
  const cost = gatewayCost(steps);
  if (cost) {
    console.log(
      `  gateway cost: ${cost.gatewayCpuPerCallSecond.toFixed(2)} ms CPU per call-second at N = ${cost.calls}: its ${GATEWAY_WORKERS} replica event loop(s) saturate ` +
        `at ≈ ${Math.floor((GATEWAY_WORKERS * 1000) / cost.gatewayCpuPerCallSecond)} calls even with a core to each`,
    );
  }
  if (failed)
    console.log(
      `  limit at N = ${failed.calls}: ${failed.failures.join('; ')}\n  what limits it: ${limitingFactor(failed, cost)}`,
    );
  else if (best)
    console.log(
      `  not reached by N = ${best.calls} (the cap, BENCH_MAX_CALLS); busiest at that N: ${limitingFactor(best, cost)}`,
    );
  console.log(
    `  (one 2-core machine shared by the callers, SIPp, Kamailio, rtpengine, the gateway, the demo agent and whatever else runs on it; load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
}

/** Granularity of the search once a step has failed. */
const RESOLUTION = 50;

/**
 * The next N to try: up by STEP_CALLS while every step holds (to MAX_CALLS); after a
 * failure, halve the gap between the largest N held and the smallest that failed down
 * to RESOLUTION; with nothing held yet, down by RESOLUTION, so the figure printed is
 * the largest N held even when it is below FIRST_CALLS. Null when done.
 */
function nextCalls(steps: readonly StepResult[]): number | null {
  const held = steps.filter((r) => r.held).map((r) => r.calls);
  const failed = steps.filter((r) => !r.held).map((r) => r.calls);
  const best = held.length > 0 ? Math.max(...held) : 0;
  const above = failed.filter((n) => n > best);
  if (above.length === 0)
    return best + STEP_CALLS <= MAX_CALLS && !steps.some((r) => r.calls === best + STEP_CALLS)
      ? best + STEP_CALLS
      : null;
  const limit = Math.min(...above);
  if (held.length === 0) return limit - RESOLUTION > 0 ? limit - RESOLUTION : null;
  if (limit - best <= RESOLUTION) return null;
  return best + Math.max(RESOLUTION, Math.round((limit - best) / 2 / RESOLUTION) * RESOLUTION);
}

async function main(): Promise<void> {
  const stack = new LocalStack({
    instance: 'bench',
    freshDatabase: true,
    overrides: ISOLATION,
    say: (l) => console.log(`[bench-stack] ${l}`),
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      closeStep();
      await stack.stop();
    })();
    return stopping;
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
  const watchdog = setTimeout(() => {
    console.error(`bench/media: still running after ${TOTAL_DEADLINE_MS / 60_000} min, giving up`);
    void stop().then(() => process.exit(2));
  }, TOTAL_DEADLINE_MS);
  watchdog.unref();
  stack.onCrash((child) => {
    console.error(`bench/media: ${child.spec.name} exited during the run (see ${stack.endpoints.logs})`);
    void stop().then(() => process.exit(1));
  });
  try {
    await stack.start();
    await benchApi(stack, 'POST', '/api/sip-users/', { ...USER, max_concurrent_calls: 1000 });
    await benchApi(stack, 'POST', '/api/numbers/', {
      number: NUMBER,
      route_type: 'ai',
      ai_dialect: DIALECT,
      ai_options: { mode: 'echo' },
      description: 'bench/media: echo',
    });
    const metricsUrl = `http://127.0.0.1:${stack.config.gateway.httpPort}/metrics`;
    console.log(
      `\nbench/media: ${FIXED_CALLS !== null ? `${FIXED_CALLS} calls` : `from ${FIRST_CALLS} calls, +${STEP_CALLS} while it holds, up to ${MAX_CALLS}`}, ${RATE} calls/s, ` +
        `${WINDOW_SECONDS} s window, ${DIALECT} dialect, demo agent in echo mode; ${stack.config.relay.kind} userspace; load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    const steps: StepResult[] = [];
    for (
      let n: number | null = FIXED_CALLS ?? FIRST_CALLS;
      n !== null;
      n = FIXED_CALLS !== null ? null : nextCalls(steps)
    ) {
      const r = await runStep(stack, n, metricsUrl);
      steps.push(r);
      printStep(r);
      await sleep(3000);
    }
    printSummary(steps);
    if (!steps.some((r) => r.held && r.calls >= Math.min(FIRST_CALLS, FIXED_CALLS ?? FIRST_CALLS)))
      process.exitCode = 1;
  } finally {
    await stop();
  }
}

void main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
