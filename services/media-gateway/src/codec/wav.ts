import { decodeAlaw, decodeUlaw } from './g711';

/**
 * RIFF/WAVE files (Microsoft/IBM Multimedia Programming Interface 1.0, "WAVE
 * form"): 16-bit PCM, and G.711 A-law (format 6) / μ-law (format 7) as telephony
 * captures are stored. Samples are interleaved by channel, little-endian.
 *
 *     "RIFF" <size> "WAVE" ("fmt " <16+> format channels rate byteRate align bits) … ("data" <size> samples)
 */
export interface WavAudio {
  readonly sampleRate: number;
  readonly channels: number;
  /** Interleaved PCM16 (G.711 data is decoded). */
  readonly pcm: Int16Array;
}

const FORMAT_PCM = 1;
const FORMAT_ALAW = 6;
const FORMAT_ULAW = 7;

/** Parses a WAV file of 16-bit PCM, A-law or μ-law. Throws TypeError for anything else. */
export function readWav(file: Buffer): WavAudio {
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    throw new TypeError('not a RIFF/WAVE file');
  }
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | undefined;
  for (let o = 12; o + 8 <= file.length;) {
    const id = file.toString('ascii', o, o + 4);
    const size = file.readUInt32LE(o + 4);
    const body = file.subarray(o + 8, Math.min(o + 8 + size, file.length));
    if (id === 'fmt ') {
      if (body.length < 16) throw new TypeError('WAV fmt chunk is too short');
      fmt = {
        format: body.readUInt16LE(0),
        channels: body.readUInt16LE(2),
        sampleRate: body.readUInt32LE(4),
        bits: body.readUInt16LE(14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new TypeError('WAV data chunk before fmt chunk');
      const { format, channels, sampleRate, bits } = fmt;
      if (format === FORMAT_PCM && bits === 16) {
        const pcm = new Int16Array(body.length >> 1);
        for (let i = 0; i < pcm.length; i++) pcm[i] = body.readInt16LE(2 * i);
        return { sampleRate, channels, pcm };
      }
      if (format === FORMAT_ULAW && bits === 8) return { sampleRate, channels, pcm: decodeUlaw(body) };
      if (format === FORMAT_ALAW && bits === 8) return { sampleRate, channels, pcm: decodeAlaw(body) };
      throw new TypeError(`WAV format ${format} with ${bits}-bit samples is not supported`);
    }
    // Chunks are padded to an even length.
    o += 8 + size + (size & 1);
  }
  throw new TypeError('WAV file has no data chunk');
}

/** A 16-bit PCM WAV file of interleaved samples. */
export function writeWav(pcm: Int16Array, sampleRate: number, channels = 1): Buffer {
  if (pcm.length % channels !== 0) throw new TypeError(`${pcm.length} samples do not divide into ${channels} channels`);
  const dataBytes = pcm.length * 2;
  const out = Buffer.alloc(44 + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(FORMAT_PCM, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * channels * 2, 28);
  out.writeUInt16LE(channels * 2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i] as number, 44 + 2 * i);
  return out;
}
