/**
 * The part of RIFF/WAVE this agent reads: 16-bit PCM, mono or first channel of many.
 * espeak-ng writes its stdout WAV before knowing the length, so a `data` size running
 * past the end of the buffer means "until the end".
 */
export interface Pcm {
  readonly sampleRate: number;
  readonly samples: Int16Array;
}

export function parseWav(bytes: Buffer): Pcm {
  if (bytes.length < 12 || bytes.toString('ascii', 0, 4) !== 'RIFF' || bytes.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let format: { channels: number; sampleRate: number; bits: number; tag: number } | undefined;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString('ascii', at, at + 4);
    const size = bytes.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      format = {
        tag: bytes.readUInt16LE(body),
        channels: bytes.readUInt16LE(body + 2),
        sampleRate: bytes.readUInt32LE(body + 4),
        bits: bytes.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!format) throw new Error('WAVE data before its format');
      if (format.tag !== 1 || format.bits !== 16)
        throw new Error(`WAVE format ${format.tag}/${format.bits} bits is not 16-bit PCM`);
      const frameBytes = 2 * format.channels;
      const end = Math.min(bytes.length, body + size);
      const frames = Math.floor((end - body) / frameBytes);
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = bytes.readInt16LE(body + i * frameBytes);
      return { sampleRate: format.sampleRate, samples };
    }
    at = body + size + (size & 1);
  }
  throw new Error('WAVE file has no data chunk');
}
