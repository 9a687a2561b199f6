/** A frame ready for the socket: text (JSON) or binary. */
export type WireFrame = string | Uint8Array;

/**
 * What waits for the AI socket: caller audio (bounded, drop-oldest — fresh speech is
 * worth more than stale speech) and control frames (DTMF, mark acks, events; small,
 * bounded generously, also drop-oldest). Control frames go out first: a DTMF digit or
 * a mark acknowledgement is worth more than 20 ms of audio.
 */
export class OutboundQueue {
  private readonly audio: (WireFrame | undefined)[];
  private audioHead = 0;
  private audioCount = 0;
  private readonly control: WireFrame[] = [];
  private droppedAudioTotal = 0;
  private droppedControlTotal = 0;
  private droppedAudioSinceTake = 0;

  constructor(
    readonly maxAudioFrames: number,
    readonly maxControlFrames = 256,
  ) {
    if (!Number.isInteger(maxAudioFrames) || maxAudioFrames < 1)
      throw new TypeError('maxAudioFrames must be a positive integer');
    this.audio = new Array<WireFrame | undefined>(maxAudioFrames);
  }

  pushAudio(frame: WireFrame): void {
    if (this.audioCount === this.maxAudioFrames) {
      this.audio[this.audioHead] = undefined;
      this.audioHead = (this.audioHead + 1) % this.maxAudioFrames;
      this.audioCount--;
      this.droppedAudioTotal++;
      this.droppedAudioSinceTake++;
    }
    this.audio[(this.audioHead + this.audioCount) % this.maxAudioFrames] = frame;
    this.audioCount++;
  }

  pushControl(frame: WireFrame): void {
    if (this.control.length === this.maxControlFrames) {
      this.control.shift();
      this.droppedControlTotal++;
    }
    this.control.push(frame);
  }

  /** The next frame to send: control first, then the oldest audio. */
  shift(): { frame: WireFrame; kind: 'control' | 'audio' } | undefined {
    const control = this.control.shift();
    if (control !== undefined) return { frame: control, kind: 'control' };
    if (this.audioCount === 0) return undefined;
    const frame = this.audio[this.audioHead] as WireFrame;
    this.audio[this.audioHead] = undefined;
    this.audioHead = (this.audioHead + 1) % this.maxAudioFrames;
    this.audioCount--;
    return { frame, kind: 'audio' };
  }

  /** Audio frames dropped since the last call (the binary dialect reports gaps). */
  takeDroppedAudio(): number {
    const n = this.droppedAudioSinceTake;
    this.droppedAudioSinceTake = 0;
    return n;
  }

  /** Forgets queued audio (the call ended); control frames stay. */
  clearAudio(): void {
    this.audio.fill(undefined);
    this.audioHead = 0;
    this.audioCount = 0;
  }

  get audioLength(): number {
    return this.audioCount;
  }

  get controlLength(): number {
    return this.control.length;
  }

  get length(): number {
    return this.audioCount + this.control.length;
  }

  get droppedAudio(): number {
    return this.droppedAudioTotal;
  }

  get droppedControl(): number {
    return this.droppedControlTotal;
  }
}
