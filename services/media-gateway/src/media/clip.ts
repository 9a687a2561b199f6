import { PCMA, PCMU, type G711Codec } from '../../../common/src/audio/g711';
import type { Clip } from '../calls/handle';

/** 20 ms of G.711 at 8 kHz (RFC 3551 §4.5.14): one RTP frame. */
const FRAME_BYTES = 160;

/**
 * A prompt or announcement played once (CallHandle.play): 160 bytes of G.711 per
 * 20 ms tick, already in the call's codec, then silence. `done` resolves when the
 * last frame was taken for sending, or when the clip was stopped (replaced by
 * another source, or its call ended), so whoever waits on it is never left hanging.
 */
export class G711Clip implements Clip {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private offset = 0;
  private finished = false;
  private readonly silence: Uint8Array;

  /** `payload`: the clip's G.711 bytes in `codec`; a last partial frame is padded with silence. */
  constructor(
    private readonly payload: Uint8Array,
    readonly codec: G711Codec,
  ) {
    this.silence = new Uint8Array(FRAME_BYTES).fill(codec.silence);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    if (payload.length === 0) this.stop();
  }

  /** A clip from 8 kHz PCM, encoded once in the call's codec. */
  static fromPcm(pcm8k: Int16Array, codec: 'PCMU' | 'PCMA'): G711Clip {
    const law = codec === 'PCMA' ? PCMA : PCMU;
    return new G711Clip(law.encode(pcm8k), law);
  }

  /** How long the clip plays. */
  get durationMs(): number {
    return Math.ceil(this.payload.length / FRAME_BYTES) * 20;
  }

  /** Whether the last frame was taken (or the clip stopped). */
  get ended(): boolean {
    return this.finished;
  }

  /** The next 20 ms; silence once the clip is over. */
  next(): Uint8Array {
    if (this.finished) return this.silence;
    const end = this.offset + FRAME_BYTES;
    let frame: Uint8Array;
    if (end <= this.payload.length) frame = this.payload.subarray(this.offset, end);
    else {
      frame = new Uint8Array(this.silence);
      frame.set(this.payload.subarray(this.offset));
    }
    this.offset = end;
    if (this.offset >= this.payload.length) this.stop();
    return frame;
  }

  /** Ends the clip now (replaced, or its call ended): `done` resolves. Idempotent. */
  stop(): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveDone();
  }
}

/** Whether a source can be told it was replaced (a clip someone may be waiting on). */
export function isStoppable(source: unknown): source is { stop(): void } {
  return typeof (source as { stop?: unknown } | null)?.stop === 'function';
}
