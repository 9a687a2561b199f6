import { PCMA, PCMU } from '../../../common/src/audio/g711';
import { concatInt16, tone, toInt16 } from '../../../common/src/audio/signals';
import type { EncodedMusic } from '../moh/library';

/**
 * Call progress tones a caller hears from a menu's actions, per ITU-T E.180
 * (03/1998) §2 and its Supplement 2 (the 425 Hz tones most administrations use):
 * ringing tone 425 Hz, 1 s on / 4 s off; busy tone 425 Hz, 0.5 s on / 0.5 s off.
 * Level −13 dBm0 (E.180 §3: between −10 and −20 dBm0 for a single-frequency tone);
 * 0 dBm0 is a sine of amplitude 0.7·32767 ≈ 22 900 in G.711's 16-bit range.
 */

const RATE = 8000;
const TONE_HZ = 425;
const AMPLITUDE = 22_900 * 10 ** (-13 / 20);

function cadence(onMs: number, offMs: number, cycles: number): Int16Array {
  const on = toInt16(tone((RATE * onMs) / 1000, RATE, TONE_HZ, AMPLITUDE));
  const off = new Int16Array((RATE * offMs) / 1000);
  return concatInt16(Array.from({ length: cycles }, () => concatInt16([on, off])));
}

const RINGING = cadence(1000, 4000, 1);
/** Three cycles: what a caller hears before the gateway hangs up a busy action. */
const BUSY = cadence(500, 500, 3);

function encoded(name: string, pcm: Int16Array, codec: 'PCMU' | 'PCMA'): EncodedMusic {
  return { name, codec, payload: (codec === 'PCMA' ? PCMA : PCMU).encode(pcm) };
}

/** Ringing tone, one 5 s cadence (loop it with MusicLoop). */
export function ringingTone(codec: 'PCMU' | 'PCMA'): EncodedMusic {
  return encoded('ringing', RINGING, codec);
}

/** Busy tone, three 1 s cadences (3 s), played once. */
export function busyTone(codec: 'PCMU' | 'PCMA'): EncodedMusic {
  return encoded('busy', BUSY, codec);
}
