import { RATE } from './audio/tones';

export interface SpeakerOutput {
  audio(pcm16k: Int16Array): void;
  mark(name: string): void;
}

export interface SpeakerOptions {
  /** size of each audio message */
  readonly chunkMs: number;
  /** how far ahead of real time the agent may send: the gateway's playout buffers it */
  readonly leadMs: number;
}

const TICK_MS = 20;

/**
 * Paced playback, the way an agent should talk to the gateway (docs/ai-protocol.md,
 * "Pacing"): audio goes out in chunks no more than `leadMs` ahead of real time, each
 * prompt followed by its mark; `pause()` (on `flow: paused` or hold) stops sending,
 * `clear()` forgets everything not yet sent. Marks not yet sent are never sent.
 */
export class Speaker {
  private readonly queue: { pcm: Int16Array; offset: number; mark: string | undefined }[] = [];
  /** wall-clock time at which everything sent so far will have been played */
  private playedBy = 0;
  private paused = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly out: SpeakerOutput,
    private readonly options: SpeakerOptions = { chunkMs: 100, leadMs: 300 },
    private readonly clock: () => number = Date.now,
  ) {}

  say(pcm16k: Int16Array, mark?: string): void {
    if (this.closed) return;
    this.queue.push({ pcm: pcm16k, offset: 0, mark });
    this.pump();
  }

  /** True while audio is queued or sent but (by the clock) not yet played. */
  get speaking(): boolean {
    return this.queue.length > 0 || this.playedBy > this.clock();
  }

  /** Forgets what is queued; returns whether anything was queued or still playing. */
  clear(): boolean {
    const was = this.speaking;
    this.queue.length = 0;
    this.playedBy = 0;
    this.stopTimer();
    return was;
  }

  pause(): void {
    this.paused = true;
    this.stopTimer();
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.stopTimer();
  }

  private pump(): void {
    const chunkSamples = Math.round((this.options.chunkMs * RATE) / 1000);
    while (!this.paused && !this.closed && this.queue.length > 0) {
      const now = this.clock();
      if (this.playedBy - now >= this.options.leadMs) break;
      const item = this.queue[0] as (typeof this.queue)[number];
      const chunk = item.pcm.subarray(item.offset, item.offset + chunkSamples);
      item.offset += chunk.length;
      if (chunk.length > 0) {
        this.out.audio(chunk);
        this.playedBy = Math.max(this.playedBy, now) + (chunk.length * 1000) / RATE;
      }
      if (item.offset >= item.pcm.length) {
        this.queue.shift();
        if (item.mark !== undefined) this.out.mark(item.mark);
      }
    }
    if (this.queue.length > 0 && !this.paused && !this.closed && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, TICK_MS);
    }
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
