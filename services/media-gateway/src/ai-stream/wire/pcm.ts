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

// RFC 4648 §4 alphabet with padding. No `u` flag: it makes V8 much slower on long strings.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict base64 (RFC 4648 §4) decode. Node's decoder skips characters it does not
 * know, which would turn a corrupted frame into plausible noise; this refuses it.
 */
export function decodeBase64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return null;
  return Buffer.from(text, 'base64');
}

/** base64 PCM16LE → samples, or null when the text is not whole samples of strict base64. */
export function base64ToInt16(text: string): Int16Array | null {
  const bytes = decodeBase64(text);
  return bytes ? pcm16leToInt16(bytes) : null;
}

export function int16ToBase64(samples: Int16Array): string {
  return int16ToPcm16le(samples).toString('base64');
}

/** Duration of `samples` at 16 kHz in milliseconds. */
export function durationMs16k(samples: number): number {
  return (samples * 1000) / AI_SAMPLE_RATE;
}
