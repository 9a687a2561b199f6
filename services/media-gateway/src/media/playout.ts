/**
 * The AI's speech waiting to be played into the call: PCM16 16 kHz samples in arrival
 * order, cut into 20 ms frames on the playout clock, with the AI's marks riding in the
 * stream. A mark is acknowledged when the audio queued before it has been played
 * (`played_ms` = the audio between the previous mark and this one, all of it), or
 * when `clear()` (barge-in) cuts it short (`truncated`, with what had played).
 */

export const FRAME_SAMPLES_16K = 320;
const SAMPLES_PER_MS = 16;

export interface MarkAck {
  readonly name: string;
  readonly playedMs: number;
  readonly truncated: boolean;
}

interface PendingMark {
  readonly name: string;
  /** Absolute sample positions: the mark's segment starts and ends here. */
  readonly start: number;
  readonly end: number;
}

export interface PlayoutStats {
  readonly queuedMs: number;
  readonly framesPlayed: number;
  readonly samplesDropped: number;
  readonly clears: number;
}

export class PlayoutQueue {
  private chunks: Int16Array[] = [];
  private headOffset = 0;
  /** Samples ever queued / ever played (absolute positions). */
  private queuedTotal = 0;
  private playedTotal = 0;
  private segmentStart = 0;
  private marks: PendingMark[] = [];
  private partialTicks = 0;
  private framesPlayed = 0;
  private samplesDropped = 0;
  private clears = 0;

  constructor(
    private readonly onMark: (ack: MarkAck) => void,
    private readonly maxQueuedMs = 60_000,
  ) {}

  /** Queues AI audio; beyond `maxQueuedMs` the oldest audio is dropped (counted). */
  push(pcm16k: Int16Array): void {
    if (pcm16k.length === 0) return;
    this.chunks.push(pcm16k);
    this.queuedTotal += pcm16k.length;
    const excess = this.queuedSamples() - this.maxQueuedMs * SAMPLES_PER_MS;
    if (excess > 0) this.discard(excess);
  }

  /** Places a mark after everything queued so far; acknowledged at once when nothing is queued. */
  mark(name: string): void {
    const m = { name, start: this.segmentStart, end: this.queuedTotal };
    this.segmentStart = this.queuedTotal;
    this.marks.push(m);
    this.settleMarks();
  }

  /**
   * The next 20 ms frame, or null when there is nothing to play (the caller sends
   * comfort silence). A short tail is held back one tick in case more audio is on its
   * way, then played padded with silence. The frame is written into `out` (320
   * samples) when given, so a caller on the 20 ms clock allocates nothing.
   */
  nextFrame(out?: Int16Array): Int16Array | null {
    const available = this.queuedSamples();
    if (available === 0) {
      this.partialTicks = 0;
      return null;
    }
    if (available < FRAME_SAMPLES_16K && this.partialTicks++ < 1) return null;
    this.partialTicks = 0;
    let frame: Int16Array;
    if (out) {
      if (out.length !== FRAME_SAMPLES_16K)
        throw new TypeError(`a frame is ${FRAME_SAMPLES_16K} samples, not ${out.length}`);
      frame = out;
    } else frame = new Int16Array(FRAME_SAMPLES_16K);
    const taken = this.take(frame);
    // A short tail: the rest of a reused frame is silence too.
    if (taken < FRAME_SAMPLES_16K && out) out.fill(0, taken);
    this.playedTotal += taken;
    this.framesPlayed++;
    this.settleMarks();
    return frame;
  }

  /** Barge-in: drops everything queued; pending marks come back truncated. */
  clear(): void {
    this.clears++;
    const dropped = this.queuedSamples();
    this.samplesDropped += dropped;
    this.chunks = [];
    this.headOffset = 0;
    const cutAt = this.playedTotal;
    for (const m of this.marks) {
      const played = Math.max(0, Math.min(cutAt, m.end) - m.start);
      this.onMark({ name: m.name, playedMs: played / SAMPLES_PER_MS, truncated: m.end > cutAt });
    }
    this.marks = [];
    // Positions stay absolute: what was queued but not played is now skipped.
    this.queuedTotal = this.playedTotal;
    this.segmentStart = this.playedTotal;
    this.partialTicks = 0;
  }

  get queuedMs(): number {
    return this.queuedSamples() / SAMPLES_PER_MS;
  }

  stats(): PlayoutStats {
    return {
      queuedMs: this.queuedMs,
      framesPlayed: this.framesPlayed,
      samplesDropped: this.samplesDropped,
      clears: this.clears,
    };
  }

  private queuedSamples(): number {
    return this.queuedTotal - this.playedTotal;
  }

  private settleMarks(): void {
    while (this.marks.length > 0 && (this.marks[0] as PendingMark).end <= this.playedTotal) {
      const m = this.marks.shift() as PendingMark;
      this.onMark({ name: m.name, playedMs: (m.end - m.start) / SAMPLES_PER_MS, truncated: false });
    }
  }

  /** Copies up to frame.length queued samples into frame; returns how many. */
  private take(frame: Int16Array): number {
    let filled = 0;
    while (filled < frame.length && this.chunks.length > 0) {
      const head = this.chunks[0] as Int16Array;
      const n = Math.min(frame.length - filled, head.length - this.headOffset);
      frame.set(head.subarray(this.headOffset, this.headOffset + n), filled);
      filled += n;
      this.headOffset += n;
      if (this.headOffset === head.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
    }
    return filled;
  }

  /** Drops the oldest `samples` queued samples (overflow), advancing play position. */
  private discard(samples: number): void {
    const sink = new Int16Array(Math.min(samples, 1 << 20));
    let left = samples;
    while (left > 0) {
      const n = this.take(sink.length > left ? sink.subarray(0, left) : sink);
      if (n === 0) break;
      left -= n;
      this.playedTotal += n;
      this.samplesDropped += n;
    }
    this.settleMarks();
  }
}
