/**
 * The default music on hold: four bars of a gentle tune (I–vi–IV–V in C major, a
 * music-box melody over a soft pad and an arpeggio), synthesised here so the project
 * ships no recording, needs no licence and downloads nothing.
 *
 *   bar:      1: C         2: Am        3: F         4: G
 *   melody:   E5 G5 C6──   B5 A5 E5──   F5 A5 C6 A5  G5 F5/E5 D5──
 *
 * Made for the telephone band: 8 kHz, every partial below 3.6 kHz (no aliasing),
 * nothing below 250 Hz (a phone would not carry it). Each note has a short attack
 * and an exponential decay, so nothing starts or stops with a click. The notes are
 * rendered onto a circular buffer: a tail that rings past the last bar lands on the
 * first, so the loop joins like any other two samples. The length is a whole
 * number of 20 ms frames. Pure and deterministic: the same samples on every gateway.
 */

export const TUNE_RATE = 8000;
/** 93.75 beats a minute: a beat is exactly 32 frames of 20 ms. */
const BEAT_SAMPLES = 5120;
const BEATS = 16;
export const TUNE_SAMPLES = BEAT_SAMPLES * BEATS;
/** Highest partial kept: the G.711 band ends at 4 kHz, a little headroom below it. */
const MAX_PARTIAL_HZ = 3600;
/** Peak of the mix: −12 dBFS, loud enough to reassure, soft enough not to annoy. */
const PEAK = 32767 * 10 ** (-12 / 20);

/** Equal temperament from A4 = 440 Hz; `semitones` above A4. */
function pitch(semitones: number): number {
  return 440 * 2 ** (semitones / 12);
}
const NOTE: Record<string, number> = {
  C4: pitch(-9),
  D4: pitch(-7),
  E4: pitch(-5),
  F4: pitch(-4),
  G4: pitch(-2),
  A4: pitch(0),
  B4: pitch(2),
  C5: pitch(3),
  D5: pitch(5),
  E5: pitch(7),
  F5: pitch(8),
  G5: pitch(10),
  A5: pitch(12),
  B5: pitch(14),
  C6: pitch(15),
};

interface Voice {
  /** Partial amplitudes: 1st (fundamental), 2nd, 3rd… */
  readonly partials: readonly number[];
  readonly attackMs: number;
  /** Time for the note to fall to 1/e. */
  readonly decayMs: number;
  readonly gain: number;
}

/** A bell-like, music-box melody voice. */
const MELODY: Voice = { partials: [1, 0.35, 0.12, 0.05], attackMs: 6, decayMs: 700, gain: 0.55 };
/** A soft arpeggio under it. */
const ARPEGGIO: Voice = { partials: [1, 0.2, 0.05], attackMs: 10, decayMs: 260, gain: 0.16 };
/** The chord pad: slow to swell, slow to fade. */
const PAD: Voice = { partials: [1, 0.15], attackMs: 120, decayMs: 2600, gain: 0.1 };

/** [note, start beat, beats] */
const MELODY_NOTES: ReadonlyArray<readonly [string, number, number]> = [
  ['E5', 0, 1],
  ['G5', 1, 1],
  ['C6', 2, 2],
  ['B5', 4, 1],
  ['A5', 5, 1],
  ['E5', 6, 2],
  ['F5', 8, 1],
  ['A5', 9, 1],
  ['C6', 10, 1],
  ['A5', 11, 1],
  ['G5', 12, 1],
  ['F5', 13, 0.5],
  ['E5', 13.5, 0.5],
  ['D5', 14, 2],
];
const CHORDS: ReadonlyArray<readonly string[]> = [
  ['C4', 'E4', 'G4'],
  ['A4', 'C5', 'E4'],
  ['F4', 'A4', 'C5'],
  ['G4', 'B4', 'D5'],
];

/** Adds one note to the circular buffer `out`, starting at sample `start`. */
function addNote(out: Float64Array, voice: Voice, hz: number, start: number): void {
  const attack = (voice.attackMs / 1000) * TUNE_RATE;
  const tau = (voice.decayMs / 1000) * TUNE_RATE;
  // Rendered until it is 60 dB down (6.9 time constants), at most once round the loop.
  const length = Math.min(out.length, Math.ceil(attack + tau * 6.9));
  const fade = Math.exp(-1 / tau);
  for (const [k, amp] of voice.partials.entries()) {
    const f = hz * (k + 1);
    if (f >= MAX_PARTIAL_HZ || amp <= 0) continue;
    // sin(ωn) by rotating a phasor: a multiply-add a sample instead of a Math.sin.
    const c = Math.cos((2 * Math.PI * f) / TUNE_RATE);
    const s = Math.sin((2 * Math.PI * f) / TUNE_RATE);
    let re = 1;
    let im = 0;
    let decay = 1;
    for (let n = 0; n < length; n++) {
      // Raised-cosine attack, then exponential decay: no step anywhere.
      let env: number;
      if (n < attack) env = 0.5 - 0.5 * Math.cos((Math.PI * n) / attack);
      else {
        env = decay;
        decay *= fade;
      }
      const i = (start + n) % out.length;
      out[i] = (out[i] as number) + voice.gain * amp * env * im;
      const next = re * c - im * s;
      im = im * c + re * s;
      re = next;
    }
  }
}

/** The default hold tune, PCM16 at 8 kHz, {@link TUNE_SAMPLES} samples, loopable end to start. */
export function generateHoldTune(): Int16Array {
  const mix = new Float64Array(TUNE_SAMPLES);
  for (const [name, beat] of MELODY_NOTES) addNote(mix, MELODY, NOTE[name] as number, Math.round(beat * BEAT_SAMPLES));
  CHORDS.forEach((chord, bar) => {
    const barStart = bar * 4 * BEAT_SAMPLES;
    for (const name of chord) addNote(mix, PAD, NOTE[name] as number, barStart);
    // Eighth-note arpeggio: root, third, fifth, third… up and down the chord.
    for (let eighth = 0; eighth < 8; eighth++) {
      const name = chord[[0, 1, 2, 1][eighth % 4] as number] as string;
      addNote(mix, ARPEGGIO, NOTE[name] as number, barStart + (eighth * BEAT_SAMPLES) / 2);
    }
  });
  let peak = 0;
  for (const v of mix) peak = Math.max(peak, Math.abs(v));
  const scale = peak > 0 ? PEAK / peak : 0;
  const out = new Int16Array(TUNE_SAMPLES);
  for (let n = 0; n < TUNE_SAMPLES; n++) out[n] = Math.round((mix[n] as number) * scale);
  return out;
}
