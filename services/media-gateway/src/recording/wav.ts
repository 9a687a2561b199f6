import { createWriteStream, openSync, writeSync, closeSync, type WriteStream } from 'node:fs';
import { WAV_HEADER_BYTES, wavHeader } from '../../../common/src/audio/wav';

/** Interleaves two mono frames of equal length into one stereo PCM16LE buffer. */
export function interleave(left: Int16Array, right: Int16Array): Buffer {
  const out = Buffer.alloc(left.length * 4);
  for (let i = 0; i < left.length; i++) {
    out.writeInt16LE(left[i] as number, i * 4);
    out.writeInt16LE(right[i] ?? 0, i * 4 + 2);
  }
  return out;
}

/**
 * A two-channel 8 kHz recording of one call: the caller on the left, the AI on the
 * right, one 20 ms frame pair per playout tick so both stay aligned. Written as it
 * goes; `close()` fixes the RIFF sizes and resolves with the byte count.
 */
export class StereoWavRecorder {
  private readonly stream: WriteStream;
  private dataBytes = 0;
  private closing: Promise<number> | null = null;

  constructor(
    readonly path: string,
    private readonly sampleRate = 8000,
  ) {
    this.stream = createWriteStream(path, { mode: 0o600 });
    this.stream.write(wavHeader(sampleRate, 2, 0));
  }

  write(caller: Int16Array, ai: Int16Array): void {
    if (this.closing) return;
    const chunk = interleave(caller, ai);
    this.dataBytes += chunk.length;
    this.stream.write(chunk);
  }

  close(): Promise<number> {
    this.closing ??= new Promise<number>((resolve, reject) => {
      this.stream.end(() => {
        try {
          const fd = openSync(this.path, 'r+');
          writeSync(fd, wavHeader(this.sampleRate, 2, this.dataBytes), 0, WAV_HEADER_BYTES, 0);
          closeSync(fd);
          resolve(WAV_HEADER_BYTES + this.dataBytes);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    return this.closing;
  }
}
