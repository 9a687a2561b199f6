import { createWriteStream, openSync, writeSync, closeSync, type WriteStream } from 'node:fs';

/** RIFF/WAVE header for 16-bit PCM (WAVE format 1). Sizes patched on close. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  const blockAlign = channels * 2;
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

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
          writeSync(fd, wavHeader(this.sampleRate, 2, this.dataBytes), 0, 44, 0);
          closeSync(fd);
          resolve(44 + this.dataBytes);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    return this.closing;
  }
}
