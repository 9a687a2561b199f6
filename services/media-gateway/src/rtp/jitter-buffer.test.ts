import { JitterBuffer, type JitterBufferOptions, type JitterOutput } from './jitter-buffer';
import type { RtpPacket } from './packet';
import { rtpFromPcap } from './pcap';
import { readSippCapture, SIPP_G711A_CAPTURE } from '../../test-fixtures/sipp-captures';

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Arrival {
  readonly packet: RtpPacket;
  readonly arrivalMs: number;
}

interface StreamOptions {
  readonly count: number;
  readonly ssrc?: number;
  readonly firstSeq?: number;
  readonly firstTs?: number;
  /** Sender's real time between packets (20 ms; 19.9 for a sender 0.5 % fast). */
  readonly sendPeriodMs?: number;
  readonly startMs?: number;
  /** One-way network delay of packet i (ms), before FIFO queueing. */
  readonly delay?: (i: number) => number;
  /** Whether the network keeps FIFO order (a delayed packet holds up those behind it). */
  readonly fifo?: boolean;
  readonly marker?: (i: number) => boolean;
  /** Packet i is not sent at all (silence suppression): its time passes. */
  readonly silent?: (i: number) => boolean;
}

/**
 * A 20 ms G.711 stream through a simulated network; each payload carries its
 * index i (its timestamp is firstTs + 160·i). Sequence numbers count packets sent,
 * so suppressed ones leave no hole, as RFC 3550 §5.1 has it.
 */
function stream(o: StreamOptions): Arrival[] {
  const out: Arrival[] = [];
  const period = o.sendPeriodMs ?? 20;
  let lastArrival = -Infinity;
  for (let i = 0; i < o.count; i++) {
    if (o.silent?.(i)) continue;
    const payload = Buffer.alloc(160, 0x55);
    payload.writeUInt32BE(i, 0);
    const packet: RtpPacket = {
      marker: o.marker ? o.marker(i) : i === 0,
      payloadType: 0,
      sequence: ((o.firstSeq ?? 1000) + out.length) & 0xffff,
      timestamp: ((o.firstTs ?? 160_000) + 160 * i) >>> 0,
      ssrc: o.ssrc ?? 0x5151,
      payload,
    };
    let arrivalMs = (o.startMs ?? 0) + i * period + 10 + (o.delay?.(i) ?? 0);
    if (o.fifo) arrivalMs = Math.max(arrivalMs, lastArrival);
    lastArrival = arrivalMs;
    out.push({ packet, arrivalMs });
  }
  return out;
}

const indexOf = (a: Arrival): number => a.packet.payload.readUInt32BE(0);

interface Tick {
  readonly nowMs: number;
  readonly out: JitterOutput;
}

/** Pushes arrivals and pops once per 20 ms tick (phase `phaseMs`) until `untilMs`. */
function drive(jb: JitterBuffer, arrivals: readonly Arrival[], untilMs: number, phaseMs = 0): Tick[] {
  const sorted = [...arrivals].sort((a, b) => a.arrivalMs - b.arrivalMs);
  const ticks: Tick[] = [];
  let i = 0;
  for (let now = phaseMs; now <= untilMs; now += 20) {
    while (i < sorted.length && sorted[i]!.arrivalMs <= now) {
      jb.push(sorted[i]!.packet, sorted[i]!.arrivalMs);
      i += 1;
    }
    ticks.push({ nowMs: now, out: jb.pop(now) });
  }
  return ticks;
}

/** Indices of the frames played, in playout order. */
function played(ticks: readonly Tick[]): number[] {
  return ticks.flatMap((t) => (t.out.kind === 'frame' ? [t.out.payload.readUInt32BE(0)] : []));
}

function lostTimestamps(ticks: readonly Tick[]): number[] {
  return ticks.flatMap((t) => (t.out.kind === 'lost' ? [t.out.timestamp] : []));
}

function isAscending(values: readonly number[]): boolean {
  return values.every((v, i) => i === 0 || v > values[i - 1]!);
}

const range = (n: number): number[] => [...Array(n).keys()];

describe('JitterBuffer', () => {
  it('pop before any packet → empty, state idle; first packet → buffering', () => {
    const jb = new JitterBuffer();
    expect(jb.pop(0)).toEqual({ kind: 'empty' });
    expect(jb.state).toBe('idle');
    jb.push(stream({ count: 1 })[0]!.packet, 10);
    expect(jb.state).toBe('buffering');
  });

  it('steady stream → waits the initial delay, then plays every frame in order with its timestamp and seq', () => {
    const jb = new JitterBuffer();
    const arrivals = stream({ count: 1000 });
    const ticks = drive(jb, arrivals, 15_000);
    const firstFrame = ticks.find((t) => t.out.kind === 'frame')!;
    expect(firstFrame.nowMs).toBe(60); // arrived at 10, waited 40 ms (next tick: 60)
    const order = played(ticks);
    expect(isAscending(order)).toBe(true);
    // Once the first 10 s have shown no jitter, one frame is skipped to bring 50 ms down to 30.
    expect(jb.stats.skipped).toBe(1);
    const missing = range(order[order.length - 1]! + 1).filter((i) => !order.includes(i));
    expect(missing.length).toBe(1);
    // Frame i plays at about i·20 + 50 ms: the skip came after the 10 s learning period.
    expect(missing[0]!).toBeGreaterThanOrEqual(495);
    expect(jb.stats.delayMs).toBe(30);
    const first = firstFrame.out as Extract<JitterOutput, { kind: 'frame' }>;
    expect([first.timestamp, first.seq, first.payloadType]).toEqual([160_000, 1000, 0]);
    expect(first.payload).toBe(arrivals[0]!.packet.payload);
    expect(jb.stats).toMatchObject({ state: 'playing', lost: 0, late: 0, concealed: 0, duplicates: 0, reordered: 0 });
  });

  it('adjacent pairs swapped on the way → every frame played in order; at most the first swap costs a frame', () => {
    for (const phase of [0, 5, 10, 15]) {
      const jb = new JitterBuffer();
      // Every 25th packet is overtaken by the next one and arrives 1 ms after it.
      const arrivals = stream({ count: 3000, delay: (i) => (i % 25 === 10 ? 21 : 0) });
      const ticks = drive(jb, arrivals, 61_000, phase);
      const order = played(ticks);
      expect(isAscending(order)).toBe(true);
      const s = jb.stats;
      expect(s.reordered + s.late).toBe(120);
      expect(s.lost).toBe(0);
      expect(s.late).toBeLessThanOrEqual(1);
      expect(order.length).toBe(3000 - s.late - s.skipped);
    }
  });

  it('reordering depth 3 (a packet arrives after the three behind it) → in order; after the first, none late', () => {
    const jb = new JitterBuffer();
    const arrivals = stream({ count: 3000, delay: (i) => (i % 50 === 20 ? 61 : 0) });
    const ticks = drive(jb, arrivals, 61_000);
    const order = played(ticks);
    expect(isAscending(order)).toBe(true);
    const s = jb.stats;
    expect(s.late).toBeLessThanOrEqual(1);
    expect(s.reordered).toBe(60 - s.late);
    expect(order.length).toBe(3000 - s.late - s.skipped);
    expect(s.targetDelayMs).toBeGreaterThanOrEqual(60);
  });

  it('duplicated packets (some at once, some 100 ms later) → each frame played once, duplicates counted', () => {
    const jb = new JitterBuffer();
    const base = stream({ count: 1000 });
    const copies = base
      .filter((_, i) => i % 7 === 3)
      .map((a, k) => ({ ...a, arrivalMs: a.arrivalMs + (k % 2 === 0 ? 0.5 : 100) }));
    const ticks = drive(jb, [...base, ...copies], 21_000);
    const order = played(ticks);
    const s = jb.stats;
    expect(isAscending(order)).toBe(true);
    expect(order.length + s.skipped).toBe(1000);
    expect(s.duplicates + s.late).toBe(copies.length);
    expect(s.duplicates).toBe(copies.length);
    expect(s.lost).toBe(0);
  });

  it('5 % random loss (seeded) → exactly the dropped frames reported lost, everything else played', () => {
    const random = prng(5);
    const dropped = new Set(range(5000).filter(() => random() < 0.05));
    const sent = stream({ count: 5000 });
    const arrivals = sent.filter((a) => !dropped.has(indexOf(a)));
    const jb = new JitterBuffer();
    const ticks = drive(jb, arrivals, 101_000);
    const lostTs = new Set(lostTimestamps(ticks));
    const order = played(ticks);
    expect(isAscending(order)).toBe(true);
    expect(order.some((i) => dropped.has(i))).toBe(false);
    expect(order.length + jb.stats.skipped + dropped.size).toBe(5000);
    const droppedTs = [...dropped].map((i) => 160_000 + 160 * i);
    // Reported as lost outputs, or (after an underrun the hold already covered) counted lost.
    expect([...lostTs].every((ts) => droppedTs.includes(ts))).toBe(true);
    expect(jb.stats.lost).toBe(dropped.size);
    expect(jb.stats.late).toBe(0);
    expect(dropped.size).toBeGreaterThan(200);
  });

  it('60 ms delay spikes every 5 s (FIFO network) → nothing lost, delay grows to cover them, then shrinks back', () => {
    const jb = new JitterBuffer();
    const spikeAt = (i: number): boolean => i % 250 === 100 && i < 2500;
    const arrivals = stream({ count: 6000, delay: (i) => (spikeAt(i) ? 60 : 0), fifo: true });
    const samples: Array<[number, number]> = [];
    const ticks: Tick[] = [];
    const sorted = arrivals;
    let k = 0;
    for (let now = 0; now <= 121_000; now += 20) {
      while (k < sorted.length && sorted[k]!.arrivalMs <= now) jb.push(sorted[k]!.packet, sorted[k++]!.arrivalMs);
      ticks.push({ nowMs: now, out: jb.pop(now) });
      samples.push([now, jb.stats.delayMs]);
    }
    const order = played(ticks);
    const s = jb.stats;
    expect(isAscending(order)).toBe(true);
    expect(order.length + s.skipped).toBe(6000);
    expect([s.lost, s.late, s.concealed]).toEqual([0, 0, 0]);
    const during = samples.filter(([t]) => t > 10_000 && t < 50_000).map(([, d]) => d);
    expect(Math.max(...during)).toBeGreaterThanOrEqual(60);
    const after = samples.filter(([t]) => t > 80_000 && t < 119_000).map(([, d]) => d);
    expect(Math.max(...after)).toBeLessThan(45);
  });

  it.each([
    ['0.5 % fast', 19.9],
    ['0.5 % slow', 20.1],
  ])(
    'sender clock %s for 10 minutes → delay stays bounded, about one adjustment per 200 frames, nothing lost',
    (_name, period) => {
      const jb = new JitterBuffer();
      const count = 30_000;
      const arrivals = stream({ count, sendPeriodMs: period });
      const delays: number[] = [];
      const ticks: Tick[] = [];
      let k = 0;
      const lastArrival = arrivals[arrivals.length - 1]!.arrivalMs;
      for (let now = 0; now <= lastArrival + 100; now += 20) {
        while (k < arrivals.length && arrivals[k]!.arrivalMs <= now)
          jb.push(arrivals[k]!.packet, arrivals[k++]!.arrivalMs);
        ticks.push({ nowMs: now, out: jb.pop(now) });
        if (now > 1000 && now < lastArrival) delays.push(jb.stats.delayMs);
      }
      const s = jb.stats;
      const order = played(ticks);
      expect(isAscending(order)).toBe(true);
      expect(s.lost).toBe(0);
      expect(Math.max(...delays)).toBeLessThan(70);
      const adjustments = period < 20 ? s.skipped : s.underruns;
      // 0.5 % of 30 000 frames is 150: the buffer must adjust about that often, not much more.
      expect(adjustments).toBeGreaterThan(100);
      expect(adjustments).toBeLessThan(250);
      expect(order.length + s.skipped).toBe(count);
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    },
  );

  it('talkspurts separated by silence → the gap is not loss, each marked talkspurt restarts at the target delay', () => {
    const jb = new JitterBuffer();
    // 1 s talk, 400 ms silence (nothing sent, clock running), 1 s talk, marked.
    const silent = (i: number): boolean => i >= 50 && i < 70;
    const arrivals = stream({ count: 120, silent, marker: (i) => i === 0 || i === 70 });
    const ticks = drive(jb, arrivals, 3000);
    expect(played(ticks)).toEqual(range(120).filter((i) => !silent(i)));
    expect(jb.stats.lost).toBe(0);
    expect(lostTimestamps(ticks)).toEqual([]);
    // The second talkspurt's first frame arrives at 70·20 + 10 = 1410 and plays one target delay later.
    const second = ticks.find((t) => t.out.kind === 'frame' && t.out.payload.readUInt32BE(0) === 70)!;
    expect(second.nowMs - 1410).toBeGreaterThanOrEqual(jb.stats.targetDelayMs);
    expect(second.nowMs - 1410).toBeLessThan(jb.stats.targetDelayMs + 20);
  });

  it('short silence gap with a marked talkspurt → no frame of the gap reported lost', () => {
    const jb = new JitterBuffer();
    const silent = (i: number): boolean => i >= 30 && i < 35;
    const arrivals = stream({ count: 80, silent, marker: (i) => i === 0 || i === 35 });
    const ticks = drive(jb, arrivals, 2000);
    expect(played(ticks)).toEqual(range(80).filter((i) => !silent(i)));
    expect(jb.stats.lost).toBe(0);
  });

  it('silence without a marker (sequence numbers continue, timestamps jump) → still silence, not loss', () => {
    const jb = new JitterBuffer();
    const silent = (i: number): boolean => i >= 40 && i < 60;
    const arrivals = stream({ count: 100, silent, marker: () => false });
    const ticks = drive(jb, arrivals, 3000);
    expect(played(ticks)).toEqual(range(100).filter((i) => !silent(i)));
    expect(jb.stats.lost).toBe(0);
  });

  it('silence whose next talkspurt lost its first (marked) packet → one packet lost, the silence not', () => {
    const jb = new JitterBuffer();
    const silent = (i: number): boolean => i >= 40 && i < 60;
    const sent = stream({ count: 100, silent, marker: (i) => i === 0 || i === 60 });
    const arrivals = sent.filter((a) => indexOf(a) !== 60);
    const ticks = drive(jb, arrivals, 3000);
    expect(played(ticks)).toEqual(range(100).filter((i) => !silent(i) && i !== 60));
    expect(jb.stats.lost).toBe(1);
    expect(lostTimestamps(ticks).length).toBeLessThanOrEqual(1);
  });

  it('random jitter 0–60 ms per packet (so reordering) for 2 minutes → target covers it, under 1 % late', () => {
    const random = prng(11);
    const jb = new JitterBuffer();
    const arrivals = stream({ count: 6000, delay: () => random() * 60 });
    const ticks = drive(jb, arrivals, 121_000);
    const order = played(ticks);
    const s = jb.stats;
    expect(isAscending(order)).toBe(true);
    expect(s.targetDelayMs).toBeGreaterThanOrEqual(55);
    expect(s.targetDelayMs).toBeLessThanOrEqual(60);
    expect(s.late).toBeLessThan(60);
    expect(order.length + s.late + s.skipped).toBe(6000);
    expect(s.reordered).toBeGreaterThan(1000);
  });

  it('audio paused while the sender sends a key press as RFC 4733 events (shared sequence numbers) → no loss counted', () => {
    const jb = new JitterBuffer({ payloadTypes: [0] });
    const audio = stream({ count: 120, silent: (i) => i >= 50 && i < 65 });
    // The 15 frames of the pause carry 10 event packets that take sequence numbers 1050–1059.
    const events: Arrival[] = range(10).map((k) => ({
      arrivalMs: 50 * 20 + 10 + k * 25,
      packet: {
        marker: k === 0,
        payloadType: 101,
        sequence: 1050 + k,
        timestamp: 160_000 + 160 * 50,
        ssrc: 0x5151,
        payload: Buffer.from([5, k >= 7 ? 0x8a : 0x0a, 0, 160]),
      },
    }));
    const resumed = audio.map((a) =>
      indexOf(a) >= 65 ? { ...a, packet: { ...a.packet, sequence: a.packet.sequence + 10 } } : a,
    );
    const ticks = drive(jb, [...resumed, ...events], 3000);
    expect(played(ticks)).toEqual(range(120).filter((i) => i < 50 || i >= 65));
    expect(jb.stats).toMatchObject({ lost: 0, concealed: 0, ignored: 10 });
  });

  it('new SSRC mid-stream → old buffer flushed, the new stream primes and plays from its first packet', () => {
    const jb = new JitterBuffer();
    const a = stream({ count: 100 });
    const b = stream({ count: 100, ssrc: 0x7777, firstSeq: 5, firstTs: 999_999, startMs: 2000 }).map((x) => ({
      ...x,
      packet: { ...x.packet, payload: Buffer.concat([Buffer.from([0, 1, 0, 0]), x.packet.payload.subarray(4)]) },
    }));
    const ticks = drive(jb, [...a, ...b], 5000);
    const firstOfB = ticks.findIndex((t) => t.out.kind === 'frame' && t.out.timestamp === 999_999);
    expect(firstOfB).toBeGreaterThan(0);
    const bFrames = ticks.slice(firstOfB).filter((t) => t.out.kind === 'frame').length;
    expect(bFrames).toBe(100);
    expect(jb.stats.resyncs).toBe(1);
    expect(jb.stats.lost).toBe(0);
  });

  it('timestamp jump of an hour on the same SSRC → resynchronised, not 180 000 lost frames', () => {
    const jb = new JitterBuffer();
    const a = stream({ count: 100 });
    const b = stream({ count: 100, firstSeq: 1100, firstTs: 160_000 + 8000 * 3600, startMs: 2000 });
    const ticks = drive(jb, [...a, ...b], 5000);
    expect(played(ticks).length + jb.stats.skipped + jb.stats.flushed).toBe(200);
    expect(jb.stats.flushed).toBeLessThanOrEqual(3);
    expect(jb.stats.lost).toBe(0);
    expect(jb.stats.resyncs).toBe(1);
  });

  it('a packet arriving after its frame was concealed → counted late, not lost; dropped', () => {
    const jb = new JitterBuffer();
    // Packet 50 is 300 ms late: frames 51… arrive and play; 50 is concealed, then shows up.
    const arrivals = stream({ count: 100, delay: (i) => (i === 50 ? 300 : 0) });
    const ticks = drive(jb, arrivals, 3000);
    expect(lostTimestamps(ticks)).toEqual([160_000 + 160 * 50]);
    expect(played(ticks)).toEqual(range(100).filter((i) => i !== 50));
    expect(jb.stats).toMatchObject({ lost: 0, late: 1, concealed: 1 });
  });

  it('a 500 ms outage on a FIFO network → delay capped near maxDelay, the backlog skipped, not played late forever', () => {
    const jb = new JitterBuffer({ maxDelayMs: 200 });
    const arrivals = stream({ count: 500, delay: (i) => (i === 200 ? 500 : 0), fifo: true });
    const delays: number[] = [];
    let k = 0;
    for (let now = 0; now <= 10_500; now += 20) {
      while (k < arrivals.length && arrivals[k]!.arrivalMs <= now)
        jb.push(arrivals[k]!.packet, arrivals[k++]!.arrivalMs);
      jb.pop(now);
      delays.push(jb.stats.delayMs);
    }
    expect(Math.max(...delays.slice(-100))).toBeLessThanOrEqual(220);
    expect(jb.stats.lost + jb.stats.skipped + jb.stats.played).toBe(500);
  });

  it('30 ms packets (SIPp g711a.pcap at its capture times) → 20 ms frames whose bytes are the stream, in order', () => {
    const captured = rtpFromPcap(readSippCapture(SIPP_G711A_CAPTURE));
    const t0 = captured[0]!.timestampMs;
    const jb = new JitterBuffer();
    const ticks = drive(
      jb,
      captured.map((c) => ({ packet: c.packet, arrivalMs: c.timestampMs - t0 })),
      236 * 30 + 500,
    );
    const frames = ticks.flatMap((t) => (t.out.kind === 'frame' ? [t.out] : []));
    expect(frames.every((f) => f.payload.length === 160 && f.payloadType === 8)).toBe(true);
    const audio = Buffer.concat(frames.map((f) => f.payload));
    const sent = Buffer.concat(captured.map((c) => c.packet.payload));
    expect(frames.length).toBe(Math.floor(sent.length / 160));
    expect(audio.equals(sent.subarray(0, audio.length))).toBe(true);
    expect(jb.stats.lost).toBe(0);
  });

  it('payload types filter → comfort noise and events ignored and counted', () => {
    const jb = new JitterBuffer({ payloadTypes: [0, 8] });
    const cn: RtpPacket = {
      marker: false,
      payloadType: 13,
      sequence: 1,
      timestamp: 0,
      ssrc: 1,
      payload: Buffer.alloc(1),
    };
    jb.push(cn, 0);
    expect(jb.stats.ignored).toBe(1);
    expect(jb.state).toBe('idle');
  });

  it('silence detector → a fast sender is corrected by dropping silent frames only', () => {
    const isSilence = (payload: Buffer): boolean => payload.readUInt32BE(0) % 100 >= 50;
    const options: JitterBufferOptions = { isSilence, shrinkIntervalMs: 1_000_000 };
    const jb = new JitterBuffer(options);
    const arrivals = stream({ count: 10_000, sendPeriodMs: 19.9 });
    const ticks = drive(jb, arrivals, 10_000 * 19.9 + 500);
    const order = played(ticks);
    const skippedIndices = range(10_000).filter((i) => !order.includes(i));
    expect(skippedIndices.length).toBe(jb.stats.skipped);
    expect(skippedIndices.length).toBeGreaterThan(30);
    expect(skippedIndices.every((i) => i % 100 >= 50)).toBe(true);
    expect(jb.stats.lost).toBe(0);
  });

  it('reset() → idle, everything forgotten', () => {
    const jb = new JitterBuffer();
    drive(jb, stream({ count: 20 }), 600);
    jb.reset();
    expect(jb.state).toBe('idle');
    expect(jb.stats.bufferedPackets).toBe(0);
    expect(jb.pop(1000)).toEqual({ kind: 'empty' });
  });
});
