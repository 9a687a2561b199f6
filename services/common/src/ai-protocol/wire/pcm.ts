/**
 * PCM16LE ⇄ Int16Array and base64, the audio encodings every dialect carries.
 * Pure functions; the byte order on the wire is little-endian whatever the host's.
 */

/** 16 kHz mono, 20 ms: the frame the gateway sends and the AI platform receives. */
export const AI_SAMPLE_RATE = 16000;
export const FRAME_MS = 20;
export const FRAME_SAMPLES_16K = (AI_SAMPLE_RATE * FRAME_MS) / 1000; // 320
export const FRAME_BYTES_16K = FRAME_SAMPLES_16K * 2; // 640
/** μ-law at 8 kHz, 20 ms (Twilio Media Streams). */
export const FRAME_BYTES_ULAW = 160;

const HOST_IS_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Encodes samples as PCM16 little-endian bytes (a copy; the input is not retained). */
export function int16ToPcm16le(samples: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(samples.length * 2);
  if (HOST_IS_LE) {
    out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
  } else {
    for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i] ?? 0, i * 2);
  }
  return out;
}

/**
 * Decodes PCM16 little-endian bytes into a fresh, aligned Int16Array.
 * Returns null for an odd byte count: half a sample means the sender framed it wrong.
 */
export function pcm16leToInt16(bytes: Uint8Array): Int16Array | null {
  if (bytes.byteLength % 2 !== 0) return null;
  const out = new Int16Array(bytes.byteLength / 2);
  if (HOST_IS_LE) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  }
  return out;
}

/**
 * Strict base64 (RFC 4648 §4) decode. Node's decoder skips characters it does not
 * know, which would turn a corrupted frame into plausible noise; this refuses it.
 * Rather than a regular expression over every character (it was a few per cent of
 * the gateway's CPU), the decoded length gives the skipped characters away: strict
 * text of length 4n with p '=' decodes to exactly 3n − p bytes. Node also takes the
 * URL-safe alphabet (RFC 4648 §5), so '-' and '_' are looked for apart.
 */
export function decodeBase64(text: string): Buffer | null {
  const length = text.length;
  if (length % 4 !== 0) return null;
  const padding =
    length === 0 || text.charCodeAt(length - 1) !== 0x3d ? 0 : text.charCodeAt(length - 2) === 0x3d ? 2 : 1;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== (length / 4) * 3 - padding) return null;
  if (text.indexOf('-') !== -1 || text.indexOf('_') !== -1) return null;
  return bytes;
}

/** base64 PCM16LE → samples, or null when the text is not whole samples of strict base64. */
export function base64ToInt16(text: string): Int16Array | null {
  const bytes = decodeBase64(text);
  return bytes ? pcm16leToInt16(bytes) : null;
}

export function int16ToBase64(samples: Int16Array): string {
  // On a little-endian host the samples already are PCM16LE: encode them in place.
  if (HOST_IS_LE) return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString('base64');
  return int16ToPcm16le(samples).toString('base64');
}

/** Duration of `samples` at 16 kHz in milliseconds. */
export function durationMs16k(samples: number): number {
  return (samples * 1000) / AI_SAMPLE_RATE;
}
