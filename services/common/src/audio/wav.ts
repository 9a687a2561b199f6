import { decodeAlaw, decodeUlaw } from './g711';

/**
 * RIFF/WAVE files (Microsoft/IBM Multimedia Programming Interface 1.0, "WAVE
 * form"): 16-bit PCM, and G.711 A-law (format 6) / μ-law (format 7) as telephony
 * captures are stored. Samples are interleaved by channel, little-endian.
 *
 *     "RIFF" <size> "WAVE" ("fmt " <16+> format channels rate byteRate align bits) … ("data" <size> samples)
 *
 * The one reader and writer of the tree: the gateway's call recordings, the demo
 * agent's espeak-ng prompts, the tests' and benches' fixtures.
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
/** WAVE_FORMAT_EXTENSIBLE: the real format code is the first two bytes of the SubFormat GUID (fmt offset 24). */
const FORMAT_EXTENSIBLE = 0xfffe;
/** RIFF header, `fmt ` chunk of a plain PCM file and the `data` chunk header. */
export const WAV_HEADER_BYTES = 44;

/**
 * Parses a WAV file of 16-bit PCM, A-law or μ-law. Throws TypeError for anything else.
 * A `data` size of 0 or one running past the end of the file means "until the end":
 * writers that stream (espeak-ng to a pipe, a recorder killed before it patched the
 * header) cannot know the length when they write it.
 */
export function readWav(file: Buffer): WavAudio {
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    throw new TypeError('not a RIFF/WAVE file');
  }
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | undefined;
  for (let o = 12; o + 8 <= file.length;) {
    const id = file.toString('ascii', o, o + 4);
    const size = file.readUInt32LE(o + 4);
    if (id === 'fmt ') {
      const body = file.subarray(o + 8, Math.min(o + 8 + size, file.length));
      if (body.length < 16) throw new TypeError('WAV fmt chunk is too short');
      const tag = body.readUInt16LE(0);
      fmt = {
        format: tag === FORMAT_EXTENSIBLE && body.length >= 26 ? body.readUInt16LE(24) : tag,
        channels: body.readUInt16LE(2),
        sampleRate: body.readUInt32LE(4),
        bits: body.readUInt16LE(14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new TypeError('WAV data chunk before fmt chunk');
      const body = file.subarray(o + 8, size === 0 ? file.length : Math.min(o + 8 + size, file.length));
      const { format, channels, sampleRate, bits } = fmt;
      if (format === FORMAT_PCM && bits === 16) {
        const pcm = new Int16Array(body.length >> 1);
        for (let i = 0; i < pcm.length; i++) pcm[i] = body.readInt16LE(2 * i);
        return { sampleRate, channels, pcm };
      }
      if (format === FORMAT_ULAW && bits === 8) return { sampleRate, channels, pcm: decodeUlaw(body) };
      if (format === FORMAT_ALAW && bits === 8) return { sampleRate, channels, pcm: decodeAlaw(body) };
      throw new TypeError(`WAV format ${format} with ${bits}-bit samples is not 16-bit PCM, A-law or μ-law`);
    }
    // Chunks are padded to an even length.
    o += 8 + size + (size & 1);
  }
  throw new TypeError('WAV file has no data chunk');
}

/** One channel of a file's interleaved samples (a copy; the first channel by default). */
export function wavChannel(audio: WavAudio, channel = 0): Int16Array {
  if (!Number.isInteger(channel) || channel < 0 || channel >= audio.channels)
    throw new TypeError(`channel ${channel} of ${audio.channels}`);
  if (audio.channels === 1) return audio.pcm.slice();
  const out = new Int16Array(Math.floor(audio.pcm.length / audio.channels));
  for (let i = 0; i < out.length; i++) out[i] = audio.pcm[i * audio.channels + channel] as number;
  return out;
}

/** The 44-byte header of a 16-bit PCM file (WAVE format 1) whose `data` holds `dataBytes`. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  const blockAlign = channels * 2;
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(FORMAT_PCM, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** A 16-bit PCM WAV file of interleaved samples. */
export function writeWav(pcm: Int16Array, sampleRate: number, channels = 1): Buffer {
  if (pcm.length % channels !== 0) throw new TypeError(`${pcm.length} samples do not divide into ${channels} channels`);
  const dataBytes = pcm.length * 2;
  const out = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  wavHeader(sampleRate, channels, dataBytes).copy(out, 0);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i] as number, WAV_HEADER_BYTES + 2 * i);
  return out;
}
