import type { RtpPacket } from './packet';
import { signed32 } from './session';

/**
 * What the playout clock gets on each 20 ms tick:
 * - `frame`: 20 ms of payload (a view into the datagram when a packet is exactly one frame);
 * - `lost`: the frame at `timestamp` is missing while the stream went on; conceal it
 *   (G.711 Appendix I). The stream position advanced.
 * - `empty`: nothing is due: before the first packet, while (re)buffering, in a
 *   silence gap, on an underrun (the stream position holds so a late burst still
 *   plays), or when the buffer stretches to grow its delay. A caller that just
 *   played speech should keep concealing; otherwise play comfort silence.
 */
export type JitterOutput =
  | {
      readonly kind: 'frame';
      readonly payload: Buffer;
      readonly timestamp: number;
      readonly seq: number;
      readonly payloadType: number;
    }
  | { readonly kind: 'lost'; readonly timestamp: number }
  | { readonly kind: 'empty' };

/**
 *     idle ──first packet──► buffering ──head waited the target delay──► playing
 *                               ▲                                          │
 *                               └──── SSRC change, timestamp jump, ────────┘
 *                                     stream paused longer than maxDelay
 *     any ──reset()──► idle
 */
export type JitterBufferState = 'idle' | 'buffering' | 'playing';

const TRANSITIONS: Readonly<Record<JitterBufferState, readonly JitterBufferState[]>> = {
  idle: ['buffering'],
  buffering: ['playing', 'buffering', 'idle'],
  playing: ['buffering', 'idle'],
};

export interface JitterBufferOptions {
  /** 8000 for G.711. */
  readonly clockRate?: number;
  /** Output frame length; 20 ms. */
  readonly frameMs?: number;
  /** Floor of the target delay; 20 ms. */
  readonly minDelayMs?: number;
  /** Ceiling of the target delay and of the delay the buffer lets build up; 200 ms. */
  readonly maxDelayMs?: number;
  /** Floor of the target for the first peakHoldMs of a stream, while its jitter is still unknown; 40 ms. */
  readonly initialDelayMs?: number;
  /** How long a delay spike keeps the target up before it may shrink again; 10 s. */
  readonly peakHoldMs?: number;
  /** Least time between two frames skipped in speech to shrink the delay; 500 ms. */
  readonly shrinkIntervalMs?: number;
  /** A transit jump larger than this (timestamp jump, long outage) re-synchronises; 1 s. */
  readonly resyncMs?: number;
  /**
   * Payload types to accept (the negotiated audio codec); others are ignored.
   * Telephone-events belong to TelephoneEventReceiver, but push them here too:
   * their sequence numbers are noted so the audio hole they leave is not loss.
   * Default: all accepted.
   */
  readonly payloadTypes?: readonly number[];
  /**
   * Whether a payload is silence, so the buffer may drop or insert frames where
   * nobody hears it. Without it, the delay shrinks one skipped frame per
   * shrinkIntervalMs and grows only by holding on underruns.
   */
  readonly isSilence?: (payload: Buffer) => boolean;
}

export interface JitterBufferStats {
  readonly state: JitterBufferState;
  /** How long the frame being played waited beyond the fastest packet's transit (ms). */
  readonly delayMs: number;
  readonly targetDelayMs: number;
  /** Largest relative transit delay seen in the peak-hold window (ms). */
  readonly jitterMs: number;
  readonly bufferedPackets: number;
  readonly packets: number;
  readonly played: number;
  /** Frames that never arrived (frames reported lost and later arriving late are counted as late instead). */
  readonly lost: number;
  /** Packets that arrived after their frame's turn. */
  readonly late: number;
  readonly duplicates: number;
  /** Packets that arrived after a later one but in time. */
  readonly reordered: number;
  /** `lost` outputs: frames the caller had to conceal. */
  readonly concealed: number;
  /** `empty` outputs while playing (underruns, waits, stretches). */
  readonly underruns: number;
  /** Frames dropped to shrink the delay. */
  readonly skipped: number;
  /** Frames held back (silence inserted) to grow the delay. */
  readonly stretched: number;
  readonly resyncs: number;
  /** Buffered packets thrown away by a resync (the old stream's tail). */
  readonly flushed: number;
  /** Packets of a payload type not accepted. */
  readonly ignored: number;
}

interface Entry {
  /** Extended timestamp of the first sample. */
  readonly ts: number;
  /** Extended timestamp one past the last sample. */
  readonly end: number;
  readonly seq: number;
  /** Extended sequence number. */
  readonly seqExt: number;
  readonly packet: RtpPacket;
}

const SEQ_WINDOW = 1024;
const LOST_MEMORY = 128;
const MAX_ENTRIES = 512;
const BASELINE_SEGMENTS = 4;
const BASELINE_SEGMENT_MS = 500;
const PEAK_SEGMENT_MS = 1000;
const EMPTY: JitterOutput = Object.freeze({ kind: 'empty' });

/**
 * An adaptive jitter buffer for one inbound stream of G.711 (one octet per
 * sample), driven by the shared 20 ms playout clock: `push` on arrival, `pop`
 * once per tick.
 *
 * Delay model. Each packet's transit is `arrival − timestamp/rate`; the
 * baseline is the smallest transit of the last ~2 s (so clock skew is followed),
 * and a packet's relative delay is its transit above the baseline. The jitter
 * estimate is the largest relative delay of the last `peakHoldMs` (it rises at
 * once on a spike and falls only when the spike leaves the window), and the
 * target delay is that estimate clamped to [minDelay, maxDelay] (with
 * initialDelay as the floor for the first peakHoldMs of a stream, while nothing
 * is known). The current delay is how long past the baseline the frame being
 * played is played.
 *
 * Per tick:
 * - the frame is here → play it; if the delay exceeds the target by a whole
 *   frame, drop one (any silent frame, else one per shrinkIntervalMs);
 * - it is missing but later audio is here → `lost` once the delay covers the
 *   jitter estimate (a packet that late is beyond what the network has shown),
 *   else wait a tick (`empty`);
 * - nothing is here → hold the position (`empty`): a delay spike then plays out
 *   late instead of lost, which is how the buffer grows fast; frames the hold
 *   already covered are skipped when audio resumes after a gap;
 * - a gap that sequence numbers do not explain (they count packets sent, RFC
 *   3550 §5.1), or a marked packet (RFC 3551 §4.1), starts a talkspurt: the gap
 *   is silence, not loss, and the talkspurt is scheduled at the target delay,
 *   which is where the delay shrinks cleanly;
 * - a silent frame (when `isSilence` is given) may also be held one tick to
 *   grow towards the target.
 *
 * Frames are cut from the timeline, not from packets, so 30 ms packets come out
 * as 20 ms frames (copied together where a frame spans two packets); a frame
 * only partly received is reported lost.
 *
 * A new SSRC, a transit jump beyond `resyncMs` (timestamp jump, long outage) or
 * a stream silent longer than maxDelay re-synchronises: buffer flushed, next
 * packet primes anew.
 */
export class JitterBuffer {
  private readonly samplesPerMs: number;
  private readonly frameSamples: number;
  private readonly frameMs: number;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly initialDelayMs: number;
  private readonly peakSegments: number;
  private readonly peakHoldMs: number;
  private readonly shrinkIntervalMs: number;
  private readonly resyncMs: number;
  private readonly payloadTypes: ReadonlySet<number> | undefined;
  private readonly isSilence: ((payload: Buffer) => boolean) | undefined;

  private stateValue: JitterBufferState = 'idle';
  private ssrc: number | undefined;
  private queue: Entry[] = [];
  /** Extended timestamp of the next frame to play. */
  private playTs = 0;
  private primed = false;
  private lastExt = 0;
  private lastTs32 = 0;
  private newestSeqExt = -1;
  private readonly seqSeen = new Float64Array(SEQ_WINDOW).fill(-1);
  private readonly lostTs: number[] = [];
  private lastArrivalMs = -Infinity;
  private heldTicks = 0;
  /** Extended sequence number of the last packet played out (or given up), to tell silence from loss. */
  private lastSeq: number | undefined;
  /** Sequence numbers of this stream's packets of other payload types (events), which are no loss. */
  private readonly otherSeen = new Float64Array(SEQ_WINDOW).fill(-1);
  private lastShrinkMs = -Infinity;
  private measured = false;
  /** Until then the target keeps the initial delay as its floor: too little is known to go lower. */
  private learningUntilMs = -Infinity;
  private lastNowMs = 0;

  // Windowed minimum of transit (baseline) and maximum of relative delay (jitter).
  private baselineMins: number[] = [];
  private baselineSegmentStart = -Infinity;
  private peakMaxes: number[] = [];
  private peakSegmentStart = -Infinity;

  private delayMs = 0;
  private counts = {
    packets: 0,
    played: 0,
    lost: 0,
    late: 0,
    duplicates: 0,
    reordered: 0,
    concealed: 0,
    underruns: 0,
    skipped: 0,
    stretched: 0,
    resyncs: 0,
    flushed: 0,
    ignored: 0,
  };

  constructor(options: JitterBufferOptions = {}) {
    const clockRate = options.clockRate ?? 8000;
    this.frameMs = options.frameMs ?? 20;
    this.samplesPerMs = clockRate / 1000;
    this.frameSamples = Math.round(this.frameMs * this.samplesPerMs);
    this.minDelayMs = options.minDelayMs ?? 20;
    this.maxDelayMs = options.maxDelayMs ?? 200;
    this.initialDelayMs = options.initialDelayMs ?? 40;
    this.peakHoldMs = options.peakHoldMs ?? 10_000;
    this.peakSegments = Math.max(1, Math.round(this.peakHoldMs / PEAK_SEGMENT_MS));
    this.shrinkIntervalMs = options.shrinkIntervalMs ?? 500;
    this.resyncMs = options.resyncMs ?? 1000;
    this.payloadTypes = options.payloadTypes ? new Set(options.payloadTypes) : undefined;
    this.isSilence = options.isSilence;
    if (!(this.minDelayMs >= 0 && this.maxDelayMs >= this.minDelayMs))
      throw new TypeError('need 0 <= minDelayMs <= maxDelayMs');
  }

  get state(): JitterBufferState {
    return this.stateValue;
  }

  get stats(): JitterBufferStats {
    return {
      state: this.stateValue,
      delayMs: this.delayMs,
      targetDelayMs: this.targetDelayMs(),
      jitterMs: this.jitterEstimateMs(),
      bufferedPackets: this.queue.length,
      ...this.counts,
    };
  }

  /** Files one arriving packet; `arrivalMs` on the same clock as pop's `nowMs`. */
  push(packet: RtpPacket, arrivalMs: number): void {
    if (this.payloadTypes && !this.payloadTypes.has(packet.payloadType)) {
      this.counts.ignored += 1;
      if (packet.ssrc === this.ssrc) {
        // RFC 4733 §2.1: events share the stream's sequence numbers; remember them
        // so the hole they leave among the audio packets is not counted as loss.
        const seqExt = this.extendSeq(packet.sequence);
        this.otherSeen[seqExt % SEQ_WINDOW] = seqExt;
        if (seqExt > this.newestSeqExt) this.newestSeqExt = seqExt;
      }
      return;
    }
    if (packet.payload.length === 0) return;
    this.counts.packets += 1;

    if (this.ssrc !== packet.ssrc) {
      this.resync(packet, this.ssrc !== undefined);
    }
    let ext = this.extend(packet.timestamp);
    if (this.measured && Math.abs(arrivalMs - ext / this.samplesPerMs - this.baseline()) > this.resyncMs) {
      // A timestamp jump or a long outage: the old timeline means nothing now.
      this.resync(packet, true);
      ext = this.extend(packet.timestamp);
    }

    const seqExt = this.extendSeq(packet.sequence);
    if (this.seqSeen[seqExt % SEQ_WINDOW] === seqExt) {
      this.counts.duplicates += 1;
      return;
    }
    this.seqSeen[seqExt % SEQ_WINDOW] = seqExt;
    const outOfOrder = seqExt < this.newestSeqExt;
    if (seqExt > this.newestSeqExt) this.newestSeqExt = seqExt;

    this.lastArrivalMs = arrivalMs;
    this.measure(arrivalMs, ext);

    const end = ext + packet.payload.length;
    if (this.primed && end <= this.playTs) {
      this.counts.late += 1;
      const at = this.lostTs.indexOf(ext);
      if (at >= 0) {
        this.lostTs.splice(at, 1);
        this.counts.lost -= 1;
      }
      return;
    }
    if (outOfOrder) this.counts.reordered += 1;

    if (this.stateValue === 'idle') this.transition('buffering');
    this.insert({ ts: ext, end, seq: packet.sequence, seqExt, packet });
  }

  /** The output for this tick; call exactly once per frame period. */
  pop(nowMs: number): JitterOutput {
    this.lastNowMs = nowMs;
    if (this.stateValue === 'idle') return EMPTY;
    if (this.stateValue === 'buffering') {
      const head = this.queue[0];
      if (!head) return EMPTY;
      if (this.delayOf(head.ts, nowMs) < this.targetDelayMs()) return EMPTY;
      if (this.primed) this.countMissing(this.missingBefore(head));
      this.playTs = head.ts;
      this.primed = true;
      this.heldTicks = 0;
      // No shrinking in speech for a while after (re)starting: the delay was just chosen.
      this.lastShrinkMs = nowMs;
      this.transition('playing');
    }
    return this.playing(nowMs);
  }

  /** Drops everything and starts over (e.g. the call was re-INVITEd to another stream). */
  reset(): void {
    if (this.stateValue !== 'idle') this.transition('idle');
    this.ssrc = undefined;
    this.queue = [];
    this.lastSeq = undefined;
    this.primed = false;
    this.measured = false;
    this.baselineMins = [];
    this.peakMaxes = [];
    this.baselineSegmentStart = -Infinity;
    this.peakSegmentStart = -Infinity;
    this.lostTs.length = 0;
    this.seqSeen.fill(-1);
    this.otherSeen.fill(-1);
    this.newestSeqExt = -1;
    this.heldTicks = 0;
    this.delayMs = 0;
  }

  private playing(nowMs: number): JitterOutput {
    const target = this.targetDelayMs();
    let head = this.queue[0];

    if (!head) {
      const delay = this.delayOf(this.playTs, nowMs);
      if (nowMs - this.lastArrivalMs > this.maxDelayMs + this.frameMs) {
        // The sender stopped (hold, DTX without a marker): prime afresh when it resumes.
        this.transition('buffering');
        this.heldTicks = 0;
        return this.empty(delay);
      }
      // Underrun: hold the position so a delayed burst plays late rather than lost.
      this.heldTicks += 1;
      return this.empty(delay);
    }

    if (head.ts > this.playTs) {
      // Sequence numbers tell silence from loss (RFC 3550 §5.1: one per packet
      // sent): a sender that stopped sending (silence suppression, RFC 3551 §4.1)
      // resumes with the next number; a lost packet leaves a hole in them.
      const missingPackets = this.missingBefore(head);
      const unexplained = head.ts - this.playTs - missingPackets * (head.end - head.ts);
      if (missingPackets === 0 || head.packet.marker || unexplained >= this.frameSamples) {
        // A new talkspurt: the gap is silence (more of it than the missing packets
        // explain), except for packets lost right before it; start it at the
        // target delay.
        this.heldTicks = 0;
        if (this.delayOf(head.ts, nowMs) < target) return this.empty(this.delayOf(this.playTs, nowMs));
        this.countMissing(missingPackets);
        this.playTs = head.ts;
      } else if (this.heldTicks > 0) {
        // The hold already filled the time of frames that never came: skip them.
        const gapFrames = Math.floor((head.ts - this.playTs) / this.frameSamples);
        const skip = Math.min(gapFrames, this.heldTicks);
        for (let i = 0; i < skip; i++) this.markLost(this.playTs + i * this.frameSamples);
        this.playTs += skip * this.frameSamples;
        this.heldTicks = 0;
      }
    }

    let delay = this.delayOf(this.playTs, nowMs);
    if (delay > this.maxDelayMs + this.frameMs) {
      // Far behind (a burst after a long hold, a sender running fast with no
      // chance to shrink): catch up to the target at once rather than stay late.
      this.discardFrames(Math.floor((delay - target) / this.frameMs));
      delay = this.delayOf(this.playTs, nowMs);
    }

    head = this.queue[0];
    if (head && head.ts > this.playTs) {
      if (delay < this.jitterEstimateMs()) {
        // The missing packet may still come: as late as the network has shown is not yet due.
        return this.empty(delay);
      }
      return this.lose(delay);
    }

    let frame = this.take();
    // Only part of the frame is here (packets of another length lost around it): a loss too.
    if (!frame) return this.lose(delay);

    const silent = this.isSilence ? this.isSilence(frame.payload) : false;
    if (delay >= target + this.frameMs + 1 && this.covers(this.playTs + this.frameSamples)) {
      if (silent || nowMs - this.lastShrinkMs >= this.shrinkIntervalMs) {
        // A whole frame more than needed is buffered: skip this one, play the next.
        this.counts.skipped += 1;
        this.lastShrinkMs = nowMs;
        this.playTs += this.frameSamples;
        this.consume();
        delay -= this.frameMs;
        frame = this.take() ?? frame;
      }
    } else if (silent && delay < target - this.frameMs / 2) {
      // Short of the target in silence: hold this frame one tick.
      this.counts.stretched += 1;
      return this.empty(delay);
    }

    this.playTs += this.frameSamples;
    this.consume();
    this.heldTicks = 0;
    this.counts.played += 1;
    this.delayMs = delay;
    return frame;
  }

  private lose(delay: number): JitterOutput {
    const ts = this.playTs;
    this.markLost(ts);
    this.playTs += this.frameSamples;
    this.consume();
    this.heldTicks = 0;
    this.counts.concealed += 1;
    this.delayMs = delay;
    return { kind: 'lost', timestamp: wrap32(ts) };
  }

  private empty(delay: number): JitterOutput {
    this.counts.underruns += 1;
    this.delayMs = delay;
    return EMPTY;
  }

  /** The 20 ms at playTs, if every sample of it is buffered. */
  private take(): Extract<JitterOutput, { kind: 'frame' }> | undefined {
    const start = this.playTs;
    const end = start + this.frameSamples;
    const head = this.queue[0];
    if (!head || head.ts > start) return undefined;
    if (head.ts === start && head.end === end) {
      return {
        kind: 'frame',
        payload: head.packet.payload,
        timestamp: wrap32(start),
        seq: head.seq,
        payloadType: head.packet.payloadType,
      };
    }
    if (head.end >= end) {
      const offset = start - head.ts;
      return {
        kind: 'frame',
        payload: head.packet.payload.subarray(offset, offset + this.frameSamples),
        timestamp: wrap32(start),
        seq: head.seq,
        payloadType: head.packet.payloadType,
      };
    }
    // The frame spans packets (e.g. 30 ms packetisation): copy the pieces together.
    const out = Buffer.allocUnsafe(this.frameSamples);
    let filled = start;
    for (const entry of this.queue) {
      if (entry.ts > filled) return undefined;
      if (entry.end <= filled) continue;
      const from = filled - entry.ts;
      const to = Math.min(entry.end, end) - entry.ts;
      entry.packet.payload.copy(out, filled - start, from, to);
      filled = entry.ts + to;
      if (filled >= end) break;
    }
    if (filled < end) return undefined;
    return {
      kind: 'frame',
      payload: out,
      timestamp: wrap32(start),
      seq: head.seq,
      payloadType: head.packet.payloadType,
    };
  }

  /** Whether the frame starting at `ts` is fully buffered. */
  private covers(ts: number): boolean {
    let filled = ts;
    const end = ts + this.frameSamples;
    for (const entry of this.queue) {
      if (entry.end <= filled) continue;
      if (entry.ts > filled) return false;
      filled = entry.end;
      if (filled >= end) return true;
    }
    return false;
  }

  /** Drops entries wholly before playTs. */
  private consume(): void {
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.end <= this.playTs) n += 1;
    if (n > 0) {
      this.lastSeq = this.queue[n - 1]!.seqExt;
      this.queue.splice(0, n);
    } else if (this.lastSeq !== undefined && this.lostTs[this.lostTs.length - 1] === this.playTs - this.frameSamples) {
      // A frame given up as lost stands for one sequence number.
      this.lastSeq += 1;
    }
  }

  /** Packets that never came before a talkspurt or a re-prime: lost, with no frame to conceal. */
  private countMissing(packets: number): void {
    if (packets > 0 && packets < 0x8000) this.counts.lost += packets;
  }

  /** Audio packets missing between the last one played and `head` (event packets in between are not missing). */
  private missingBefore(head: Entry): number {
    if (this.lastSeq === undefined) return 0;
    const gap = head.seqExt - this.lastSeq - 1;
    if (gap <= 0 || gap >= SEQ_WINDOW) return Math.max(0, gap);
    let missing = gap;
    for (let s = this.lastSeq + 1; s < head.seqExt; s++) if (this.otherSeen[s % SEQ_WINDOW] === s) missing -= 1;
    return missing;
  }

  private discardFrames(frames: number): void {
    for (let i = 0; i < frames; i++) {
      if (this.covers(this.playTs)) {
        this.counts.skipped += 1;
      } else {
        this.markLost(this.playTs);
      }
      this.playTs += this.frameSamples;
    }
    this.consume();
    this.heldTicks = 0;
  }

  private markLost(ts: number): void {
    this.counts.lost += 1;
    this.lostTs.push(ts);
    if (this.lostTs.length > LOST_MEMORY) this.lostTs.shift();
  }

  private insert(entry: Entry): void {
    const q = this.queue;
    let i = q.length;
    while (i > 0 && q[i - 1]!.ts > entry.ts) i -= 1;
    if (i > 0 && q[i - 1]!.ts === entry.ts) {
      // Same timestamp, another sequence number: a resend of the same audio.
      this.counts.duplicates += 1;
      return;
    }
    q.splice(i, 0, entry);
    if (q.length > MAX_ENTRIES) q.shift();
  }

  private resync(packet: RtpPacket, counted: boolean): void {
    if (counted) this.counts.resyncs += 1;
    this.counts.flushed += this.queue.length;
    this.ssrc = packet.ssrc;
    this.queue = [];
    this.lastSeq = undefined;
    this.primed = false;
    this.measured = false;
    this.baselineMins = [];
    this.baselineSegmentStart = -Infinity;
    this.lostTs.length = 0;
    this.seqSeen.fill(-1);
    this.otherSeen.fill(-1);
    this.newestSeqExt = -1;
    this.heldTicks = 0;
    this.lastExt = packet.timestamp;
    this.lastTs32 = packet.timestamp;
    if (this.stateValue === 'playing') this.transition('buffering');
  }

  /** Extended sequence number (offset so it stays positive across a backward step). */
  private extendSeq(seq: number): number {
    if (this.newestSeqExt < 0) return 0x10000 + seq;
    const delta = ((seq - (this.newestSeqExt % 0x10000) + 0x18000) % 0x10000) - 0x8000;
    return this.newestSeqExt + delta;
  }

  private extend(ts: number): number {
    const ext = this.lastExt + signed32(ts - this.lastTs32);
    if (ext > this.lastExt) {
      this.lastExt = ext;
      this.lastTs32 = ts;
    }
    return ext;
  }

  private measure(arrivalMs: number, ext: number): void {
    if (!this.measured) this.learningUntilMs = arrivalMs + this.peakHoldMs;
    const transit = arrivalMs - ext / this.samplesPerMs;
    if (arrivalMs >= this.baselineSegmentStart + BASELINE_SEGMENT_MS) {
      this.baselineMins.push(transit);
      if (this.baselineMins.length > BASELINE_SEGMENTS) this.baselineMins.shift();
      this.baselineSegmentStart = arrivalMs;
    } else {
      const last = this.baselineMins.length - 1;
      if (transit < this.baselineMins[last]!) this.baselineMins[last] = transit;
    }
    const relative = transit - this.baseline();
    if (arrivalMs >= this.peakSegmentStart + PEAK_SEGMENT_MS) {
      this.peakMaxes.push(relative);
      if (this.peakMaxes.length > this.peakSegments) this.peakMaxes.shift();
      this.peakSegmentStart = arrivalMs;
    } else {
      const last = this.peakMaxes.length - 1;
      if (relative > this.peakMaxes[last]!) this.peakMaxes[last] = relative;
    }
    this.measured = true;
  }

  private baseline(): number {
    let min = Infinity;
    for (const m of this.baselineMins) if (m < min) min = m;
    return min;
  }

  private jitterEstimateMs(): number {
    let max = 0;
    for (const m of this.peakMaxes) if (m > max) max = m;
    return max;
  }

  private targetDelayMs(): number {
    const floor =
      this.lastNowMs < this.learningUntilMs ? Math.max(this.minDelayMs, this.initialDelayMs) : this.minDelayMs;
    return Math.min(this.maxDelayMs, Math.max(floor, this.jitterEstimateMs()));
  }

  /** How long past the baseline transit a frame starting at `ext` is played at `nowMs`. */
  private delayOf(ext: number, nowMs: number): number {
    const baseline = this.baseline();
    return Number.isFinite(baseline) ? nowMs - ext / this.samplesPerMs - baseline : 0;
  }

  private transition(to: JitterBufferState): void {
    if (!TRANSITIONS[this.stateValue].includes(to))
      throw new Error(`jitter buffer: illegal transition ${this.stateValue} → ${to}`);
    this.stateValue = to;
  }
}

/** An extended timestamp back on the 32-bit wire. */
function wrap32(ext: number): number {
  const m = ext % 0x1_0000_0000;
  return m < 0 ? m + 0x1_0000_0000 : m;
}
