/**
 * Tone prompts for when no speech synthesiser is installed. Pure functions producing
 * PCM16 at 16 kHz, each tone shaped with 5 ms raised-cosine ramps so it starts and
 * stops without clicks.
 */

export const RATE = 16000;
const RAMP_MS = 5;

/** A tone of one or more summed sine frequencies (Hz), `ms` long, peak `amplitude` (0–1). */
export function tone(frequencies: readonly number[], ms: number, amplitude = 0.3, rate = RATE): Int16Array {
  const n = Math.round((ms * rate) / 1000);
  const ramp = Math.min(Math.round((RAMP_MS * rate) / 1000), n >> 1);
  const out = new Int16Array(n);
  const scale = (amplitude * 32767) / Math.max(1, frequencies.length);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (const f of frequencies) v += Math.sin((2 * Math.PI * f * i) / rate);
    let gain = 1;
    if (i < ramp) gain = 0.5 - 0.5 * Math.cos((Math.PI * i) / ramp);
    else if (i >= n - ramp) gain = 0.5 - 0.5 * Math.cos((Math.PI * (n - 1 - i)) / ramp);
    out[i] = Math.round(v * scale * gain);
  }
  return out;
}

export function silence(ms: number, rate = RATE): Int16Array {
  return new Int16Array(Math.round((ms * rate) / 1000));
}

export function concat(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `count` beeps of `ms` each, `gapMs` apart. */
export function beeps(count: number, frequency: number, ms: number, gapMs: number): Int16Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) parts.push(silence(gapMs));
    parts.push(tone([frequency], ms));
  }
  return concat(parts);
}

/** C5–E5–G5: the greeting when there is no voice. */
export function chime(): Int16Array {
  return concat([tone([523.25], 200), silence(50), tone([659.25], 200), silence(50), tone([783.99], 300)]);
}

/**
 * Which key was pressed, as beeps: digit n → n short beeps (0 → ten), A–D → 11–14,
 * `*` → one long low beep, `#` → two. Deliberately not the key's own DTMF pair, which
 * the gateway's in-band detector could hear again if the caller's phone echoed it.
 */
export function keyBeeps(digit: string): Int16Array {
  if (digit === '*') return beeps(1, 400, 600, 150);
  if (digit === '#') return beeps(2, 400, 600, 150);
  const n = /^[0-9]$/.test(digit) ? Number(digit) || 10 : 'ABCD'.indexOf(digit) + 11;
  if (n < 1) throw new TypeError(`not a DTMF key: ${digit}`);
  return beeps(n, 880, 120, 80);
}
