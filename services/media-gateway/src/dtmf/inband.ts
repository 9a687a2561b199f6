import type { DtmfDigit } from './rfc4733';

/**
 * In-band DTMF detection on decoded 8 kHz PCM, after ITU-T Q.23 (the 4×4 tone
 * grid) and Q.24 (receiver acceptance limits).
 *
 * Analysis: every 5 ms (HOP) a 32 ms Hann window (WINDOW) of the signal goes
 * through a Goertzel bank at the eight Q.23 frequencies. A window names a digit
 * only if all of these hold:
 *
 * 1. Level: each tone of the best row/column pair at least −30 dBm0 (the
 *    sensitivity limits of Q.24 differ between administrations; tones of
 *    −25 dBm0 are accepted with margin).
 * 2. Frequency (Q.24: accept ±1.5 %, reject beyond ±3.5 %): each tone's frequency
 *    is measured from the phase advance of its Goertzel output between windows one
 *    hop apart (unambiguous within ±100 Hz, accurate to about 1 Hz at 15 dB SNR)
 *    and must lie within ±2.5 % of nominal, halfway between the two limits.
 * 3. Twist: the low-group tone at most 8 dB above the high-group tone (normal
 *    twist) and at most 4 dB below it (reverse twist).
 * 4. Relative peak: every other frequency of each group at least 10 dB below the
 *    chosen one.
 * 5. Signal to other energy: the two tones (their bin energies corrected for the
 *    window's response at the measured frequency offset) carry at least 80 % of
 *    the window's energy. Speech spreads its energy over many harmonics and
 *    formants; this is the main talk-off guard.
 * 6. Second harmonics: the energy at twice each tone's measured frequency at least
 *    15 dB below the tone (DTMF generators are clean, voiced speech is a harmonic
 *    series). Skipped for the low tone of 2, 6 and D, whose second harmonic lies
 *    within 75 Hz of their own high tone and cannot be told apart from it.
 *
 * And over a whole press, each tone's measured frequency may not wander by more
 * than 1.5 % of nominal: a key press is a steady pair, while two sweeping
 * components (formant transitions, sirens, slow dual chirps) can pass through a
 * grid pair for 40 ms without ever holding it.
 *
 * Timing: a key press is measured on the amplitude of its two frequencies, not by
 * counting windows. With a symmetric window the amplitude is half its steady value
 * exactly when the window's centre is on a tone edge, so the start and end of a
 * tone are where the amplitude crosses half of its steady value, interpolated
 * between windows (about ±1 ms). Then:
 *
 * - a press is a run of windows naming the same digit; a gap shorter than
 *   `minPauseMs` (default 30 ms) between two such runs is an interruption, not
 *   a pause, and the runs are one press, so a 40 ms pause always separates two
 *   presses (Q.24's minimum pause) while short dropouts do not;
 * - a press is reported once, when its pause has lasted `minPauseMs` (or a
 *   different digit starts), with its measured duration, if it lasted at least
 *   `minToneMs` (default 35 ms, so that 40 ms tones, Q.24's minimum, are always
 *   accepted and 30 ms tones never) and at least MIN_VALID_WINDOWS windows named
 *   it.
 *
 * Detection therefore lags the end of a tone by `minPauseMs` plus half a window
 * (about 46 ms). Limit: two pure tones sweeping together slower than a few
 * hundred Hz/s can hold a grid pair within tolerance for 40 ms and more with
 * less than 1.5 % drift; that is a DTMF signal by these rules and is reported.
 */

export interface DtmfDetection {
  readonly digit: DtmfDigit;
  /** Measured tone duration, whole milliseconds. */
  readonly durationMs: number;
}

export interface InbandDtmfOptions {
  /** Quietest tone accepted, per frequency, in dBm0 (default −30). */
  readonly minLevelDbm0?: number;
  /** Shortest tone reported, in ms (default 35: Q.24's 40 ms minus measurement margin). */
  readonly minToneMs?: number;
  /** Shortest silence that separates two presses of one key, in ms (default 30). */
  readonly minPauseMs?: number;
}

const RATE = 8000;
/** Analysis window: 256 samples (32 ms), Hann. Resolves rows 73 Hz apart by > 30 dB. */
const WINDOW = 256;
/** Hop between windows: 40 samples (5 ms). */
const HOP = 40;

/** Q.23 low (row) and high (column) group frequencies, Hz. */
const ROWS = [697, 770, 852, 941] as const;
const COLUMNS = [1209, 1336, 1477, 1633] as const;
const FREQUENCIES: readonly number[] = [...ROWS, ...COLUMNS];
const KEYPAD: readonly (readonly DtmfDigit[])[] = [
  ['1', '2', '3', 'A'],
  ['4', '5', '6', 'B'],
  ['7', '8', '9', 'C'],
  ['*', '0', '#', 'D'],
];

/** 0 dBm0 as RMS on the G.711 16-bit scale (the digital milliwatt of G.711 Tables 5/6 decodes to RMS ≈ 16 000). */
const DBM0_RMS = 16000;
/** Q.24 frequency tolerance used: between the ±1.5 % that must be accepted and the ±3.5 % that must be rejected. */
const FREQUENCY_TOLERANCE = 0.025;
/** Normal twist (low group stronger) and reverse twist (high group stronger), as power ratios. */
const NORMAL_TWIST = 10 ** (8 / 10);
const REVERSE_TWIST = 10 ** (4 / 10);
/** Other frequencies of a group must be this much weaker than the chosen one (10 dB). */
const RELATIVE_PEAK = 10 ** (-10 / 10);
/** Share of the window energy the two tones must carry. */
const TONE_ENERGY_SHARE = 0.8;
/** Second harmonic at least 15 dB below its tone. */
const SECOND_HARMONIC = 10 ** (-15 / 10);
/** A second harmonic this close to the other tone of the pair is not checked (Hz). */
const HARMONIC_GUARD_HZ = 100;
/** Windows quieter than this in total are not analysed (−40 dBm0). */
const GATE_DBM0 = -40;
/** Largest spread of a tone's measured frequency over one press, as a share of nominal. */
const FREQUENCY_STABILITY = 0.015;
/** A press needs this many windows naming it (with WINDOW = 256 a 40 ms tone gives about 6). */
const MIN_VALID_WINDOWS = 3;
/** Invalid windows with the tone's amplitude still up (interference) end a press after this long. */
const MAX_INTERRUPTION_MS = 60;
/** Windows of amplitude history kept before a press's first valid window, to find its start edge. */
const LOOKBACK = Math.ceil(WINDOW / HOP) + 1;
/** Windows after the first (before the last) valid window whose peak is the steady amplitude. */
const SETTLE = Math.ceil(WINDOW / HOP);
/** Amplitude track kept per press, at most; the middle of a long press is dropped. */
const MAX_TRACK = 512;

/** Detector state: see the transition table in `transition()`. */
type DetectorState = 'idle' | 'tone' | 'gap';

interface TrackPoint {
  /** Window centre, in samples since the detector started. */
  readonly time: number;
  /** Amplitude of the digit's two frequencies (sum of the two, arbitrary units). */
  readonly amplitude: number;
}

interface Press {
  readonly digit: number;
  readonly row: number;
  readonly column: number;
  readonly track: TrackPoint[];
  /** Index in `track` of the first window naming the digit. */
  readonly firstValid: number;
  lastValid: number;
  validWindows: number;
  /** Smallest and largest frequency offsets (Hz) measured for the row and the column tone. */
  readonly offsets: { rowMin: number; rowMax: number; columnMin: number; columnMax: number };
  /** Sample time of the start edge, once measured. */
  start: number | undefined;
  /** Sample time the amplitude last fell through half (only while in 'gap'). */
  end: number | undefined;
}

interface WindowResult {
  readonly time: number;
  /** √(bin energy) of the eight frequencies. */
  readonly amplitudes: Readonly<Float64Array>;
  /** Digit index (row·4 + column) this window names, or −1. */
  readonly digit: number;
  /** Measured offsets from nominal (Hz) of the named digit's row and column tones. */
  readonly rowOffset: number;
  readonly columnOffset: number;
}

/** Amplitudes of a window too quiet to analyse (shared, never written). */
const SILENT: Readonly<Float64Array> = new Float64Array(8);

/** Precomputed per-frequency Goertzel terms. */
interface Bin {
  readonly frequency: number;
  readonly coefficient: number;
  readonly cos: number;
  readonly sin: number;
}

function makeBin(frequency: number): Bin {
  const w = (2 * Math.PI * frequency) / RATE;
  return { frequency, coefficient: 2 * Math.cos(w), cos: Math.cos(w), sin: Math.sin(w) };
}

const BINS: readonly Bin[] = FREQUENCIES.map(makeBin);

/** Hann window and its sums. */
const HANN = Float64Array.from({ length: WINDOW }, (_, m) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (m + 0.5)) / WINDOW));
const HANN_SUM = HANN.reduce((s, v) => s + v, 0);
const HANN_SUM_SQ = HANN.reduce((s, v) => s + v * v, 0);
/** |X|² of a bin → windowed energy of the tone it holds (for a tone on the bin). */
const BIN_TO_ENERGY = (2 * HANN_SUM_SQ) / (HANN_SUM * HANN_SUM);

/** Windowed energy of a tone at `dbm0`. */
function toneEnergy(dbm0: number): number {
  const r = DBM0_RMS * 10 ** (dbm0 / 20);
  return r * r * HANN_SUM_SQ;
}

/**
 * The window's amplitude response at `offsetHz` from the bin, relative to on-bin,
 * as a table over 0…160 Hz in 0.25 Hz steps (computed from the window itself).
 */
const RESPONSE_STEP_HZ = 0.25;
const RESPONSE = (() => {
  const table = new Float64Array(641);
  const centre = (WINDOW - 1) / 2;
  for (let i = 0; i < table.length; i++) {
    const dw = (2 * Math.PI * i * RESPONSE_STEP_HZ) / RATE;
    let re = 0;
    for (let m = 0; m < WINDOW; m++) re += (HANN[m] as number) * Math.cos(dw * (m - centre));
    table[i] = Math.abs(re) / HANN_SUM;
  }
  return table;
})();

function windowResponse(offsetHz: number): number {
  const x = Math.min(Math.abs(offsetHz) / RESPONSE_STEP_HZ, RESPONSE.length - 1.001);
  const i = Math.floor(x);
  const f = x - i;
  return (RESPONSE[i] as number) * (1 - f) + (RESPONSE[i + 1] as number) * f;
}

/** Smallest share of a tone's energy left in its bin anywhere within the frequency tolerance (≈ 0.08, at 1633 Hz + 2.5 %). */
const EDGE_RESPONSE = Math.min(...FREQUENCIES.map((f) => windowResponse(FREQUENCY_TOLERANCE * f) ** 2)) * 0.9;

/** |X(f)|² over `y` by Goertzel, for the second-harmonic checks at measured (non-grid) frequencies. */
function goertzel(y: Float64Array, frequency: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / RATE);
  let s1 = 0;
  let s2 = 0;
  for (let m = 0; m < y.length; m++) {
    const s0 = (y[m] as number) + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coefficient * s1 * s2;
}

function wrapPhase(p: number): number {
  return p - 2 * Math.PI * Math.round(p / (2 * Math.PI));
}

/**
 * Streaming DTMF detector for one audio direction. Feed consecutive decoded
 * 8 kHz frames (any length); each call returns the key presses that ended.
 */
export class InbandDtmfDetector {
  private readonly minToneSamples: number;
  private readonly minPauseSamples: number;
  private readonly minToneEnergy: number;
  private readonly gateEnergy = toneEnergy(GATE_DBM0);

  /** The latest WINDOW samples; the last HOP are filled as input arrives. */
  private readonly buffer = new Float64Array(WINDOW);
  private readonly windowed = new Float64Array(WINDOW);
  private filled = 0;
  private samples = 0;
  /** Σx² over `buffer`, unwindowed. Integer-exact in a double (256 · 2^30 < 2^53), so it never drifts. */
  private rawEnergy = 0;

  /** Goertzel outputs (v = s1 − e^{−jω}·s2) of the previous and current window, re/im per frequency. */
  private previous = new Float64Array(16);
  private current = new Float64Array(16);
  private previousAnalysed = false;

  /** The last LOOKBACK windows, oldest first. */
  private readonly recent: WindowResult[] = [];
  private state: DetectorState = 'idle';
  private press: Press | undefined;
  private readonly out: DtmfDetection[] = [];

  constructor(options: InbandDtmfOptions = {}) {
    this.minToneSamples = ((options.minToneMs ?? 35) * RATE) / 1000;
    this.minPauseSamples = ((options.minPauseMs ?? 30) * RATE) / 1000;
    this.minToneEnergy = toneEnergy(options.minLevelDbm0 ?? -30);
  }

  /** Feeds decoded 8 kHz PCM; returns the presses that ended in it, in order. */
  process(frame8k: Int16Array): DtmfDetection[] {
    const start = WINDOW - HOP;
    for (let i = 0; i < frame8k.length; i++) {
      const x = frame8k[i] as number;
      this.buffer[start + this.filled] = x;
      this.rawEnergy += x * x;
      this.filled++;
      this.samples++;
      if (this.filled === HOP) {
        this.step(this.analyse());
        for (let m = 0; m < HOP; m++) this.rawEnergy -= (this.buffer[m] as number) ** 2;
        this.buffer.copyWithin(0, HOP);
        this.filled = 0;
      }
    }
    return this.out.splice(0);
  }

  /** Ends the stream: a press still sounding or in its pause is measured to now and reported. */
  flush(): DtmfDetection[] {
    if (this.press) this.finish(this.press, this.press.end ?? this.samples - WINDOW / 2);
    this.transition('idle');
    this.press = undefined;
    return this.out.splice(0);
  }

  /** Forgets everything, as if freshly constructed. */
  reset(): void {
    this.buffer.fill(0);
    this.filled = 0;
    this.samples = 0;
    this.rawEnergy = 0;
    this.previousAnalysed = false;
    this.recent.length = 0;
    this.state = 'idle';
    this.press = undefined;
    this.out.length = 0;
  }

  /**
   * State machine, one edge per analysed window:
   *
   *     idle ──digit──► tone ──no digit──► gap ──pause ≥ min──► idle (report)
   *                      ▲  ◄──same digit, pause < min──┘  │
   *                      └───────────other digit───────────┘ (report, start anew)
   */
  private transition(to: DetectorState): void {
    const from = this.state;
    const legal =
      (from === 'idle' && (to === 'tone' || to === 'idle')) ||
      (from === 'tone' && (to === 'tone' || to === 'gap' || to === 'idle')) ||
      (from === 'gap' && (to === 'tone' || to === 'gap' || to === 'idle'));
    if (!legal) throw new Error(`DTMF detector: illegal transition ${from} → ${to}`);
    this.state = to;
  }

  /** Analyses the window now in the buffer. */
  private analyse(): WindowResult {
    const time = this.samples - WINDOW / 2;
    // The Hann window is ≤ 1, so a window quiet before windowing is quiet after: skip it without windowing.
    if (this.rawEnergy < this.gateEnergy) {
      this.previousAnalysed = false;
      return { time, amplitudes: SILENT, digit: -1, rowOffset: 0, columnOffset: 0 };
    }
    const y = this.windowed;
    let total = 0;
    for (let m = 0; m < WINDOW; m++) {
      const v = (this.buffer[m] as number) * (HANN[m] as number);
      y[m] = v;
      total += v * v;
    }
    if (total < this.gateEnergy) {
      this.previousAnalysed = false;
      return { time, amplitudes: SILENT, digit: -1, rowOffset: 0, columnOffset: 0 };
    }
    const amplitudes = new Float64Array(8);
    const energies = this.goertzelBank(y, amplitudes);
    const digit = this.previousAnalysed ? this.classify(y, energies, total) : -1;
    const rowOffset = digit >= 0 ? this.offsetHz(digit >> 2) : 0;
    const columnOffset = digit >= 0 ? this.offsetHz(4 + (digit & 3)) : 0;
    const swap = this.previous;
    this.previous = this.current;
    this.current = swap;
    this.previousAnalysed = true;
    return { time, amplitudes, digit, rowOffset, columnOffset };
  }

  /** Eight interleaved Goertzel filters; fills `current` with v and `amplitudes` with √energy, returns energies. */
  private goertzelBank(y: Float64Array, amplitudes: Float64Array): Float64Array {
    const c0 = (BINS[0] as Bin).coefficient;
    const c1 = (BINS[1] as Bin).coefficient;
    const c2 = (BINS[2] as Bin).coefficient;
    const c3 = (BINS[3] as Bin).coefficient;
    const c4 = (BINS[4] as Bin).coefficient;
    const c5 = (BINS[5] as Bin).coefficient;
    const c6 = (BINS[6] as Bin).coefficient;
    const c7 = (BINS[7] as Bin).coefficient;
    let a0 = 0, b0 = 0, a1 = 0, b1 = 0, a2 = 0, b2 = 0, a3 = 0, b3 = 0; // prettier-ignore
    let a4 = 0, b4 = 0, a5 = 0, b5 = 0, a6 = 0, b6 = 0, a7 = 0, b7 = 0; // prettier-ignore
    for (let m = 0; m < WINDOW; m++) {
      const x = y[m] as number;
      let t = x + c0 * a0 - b0;
      b0 = a0;
      a0 = t; // prettier-ignore
      t = x + c1 * a1 - b1;
      b1 = a1;
      a1 = t; // prettier-ignore
      t = x + c2 * a2 - b2;
      b2 = a2;
      a2 = t; // prettier-ignore
      t = x + c3 * a3 - b3;
      b3 = a3;
      a3 = t; // prettier-ignore
      t = x + c4 * a4 - b4;
      b4 = a4;
      a4 = t; // prettier-ignore
      t = x + c5 * a5 - b5;
      b5 = a5;
      a5 = t; // prettier-ignore
      t = x + c6 * a6 - b6;
      b6 = a6;
      a6 = t; // prettier-ignore
      t = x + c7 * a7 - b7;
      b7 = a7;
      a7 = t; // prettier-ignore
    }
    const s1 = [a0, a1, a2, a3, a4, a5, a6, a7];
    const s2 = [b0, b1, b2, b3, b4, b5, b6, b7];
    const energies = new Float64Array(8);
    for (let k = 0; k < 8; k++) {
      const bin = BINS[k] as Bin;
      const p = s1[k] as number;
      const q = s2[k] as number;
      // v = s1 − e^{−jω}·s2: the DFT at ω up to the factor e^{−jω(N−1)}, common to every window.
      const re = p - bin.cos * q;
      const im = bin.sin * q;
      this.current[2 * k] = re;
      this.current[2 * k + 1] = im;
      const e = (re * re + im * im) * BIN_TO_ENERGY;
      energies[k] = e;
      amplitudes[k] = Math.sqrt(e);
    }
    return energies;
  }

  /** Frequency offset (Hz) of bin k's tone, from the phase advance over one hop. */
  private offsetHz(k: number): number {
    const re =
      (this.current[2 * k] as number) * (this.previous[2 * k] as number) +
      (this.current[2 * k + 1] as number) * (this.previous[2 * k + 1] as number);
    const im =
      (this.current[2 * k + 1] as number) * (this.previous[2 * k] as number) -
      (this.current[2 * k] as number) * (this.previous[2 * k + 1] as number);
    const w0 = (2 * Math.PI * (BINS[k] as Bin).frequency) / RATE;
    return (wrapPhase(Math.atan2(im, re) - w0 * HOP) * RATE) / (2 * Math.PI * HOP);
  }

  /** The Q.24 checks (see the module comment); the digit index or −1. */
  private classify(y: Float64Array, e: Float64Array, total: number): number {
    let row = 0;
    for (let k = 1; k < 4; k++) if ((e[k] as number) > (e[row] as number)) row = k;
    let column = 4;
    for (let k = 5; k < 8; k++) if ((e[k] as number) > (e[column] as number)) column = k;
    const er = e[row] as number;
    const ec = e[column] as number;
    // Cheap early exit before measuring frequencies: too weak even for a tone at the edge of the tolerance.
    if (er < this.minToneEnergy * EDGE_RESPONSE || ec < this.minToneEnergy * EDGE_RESPONSE) return -1;
    // 4. Relative peak within each group.
    for (let k = 0; k < 4; k++) if (k !== row && (e[k] as number) > er * RELATIVE_PEAK) return -1;
    for (let k = 4; k < 8; k++) if (k !== column && (e[k] as number) > ec * RELATIVE_PEAK) return -1;
    // 2. Frequency, from the phase advance since the previous window.
    const fr = FREQUENCIES[row] as number;
    const fc = FREQUENCIES[column] as number;
    const dr = this.offsetHz(row);
    const dc = this.offsetHz(column);
    if (Math.abs(dr) > FREQUENCY_TOLERANCE * fr || Math.abs(dc) > FREQUENCY_TOLERANCE * fc) return -1;
    // The bins are at nominal frequencies; undo the window's loss at the measured offset.
    const tr = er / windowResponse(dr) ** 2;
    const tc = ec / windowResponse(dc) ** 2;
    // 1. Level.
    if (tr < this.minToneEnergy || tc < this.minToneEnergy) return -1;
    // 3. Twist.
    if (tr > tc * NORMAL_TWIST || tc > tr * REVERSE_TWIST) return -1;
    // 5. Signal to other energy.
    if (tr + tc < TONE_ENERGY_SHARE * total) return -1;
    // 6. Second harmonics, at twice the measured frequencies.
    const hr = 2 * (fr + dr);
    const hc = 2 * (fc + dc);
    if (Math.abs(hr - (fc + dc)) >= HARMONIC_GUARD_HZ && goertzel(y, hr) * BIN_TO_ENERGY > tr * SECOND_HARMONIC)
      return -1;
    if (hc < RATE / 2 && goertzel(y, hc) * BIN_TO_ENERGY > tc * SECOND_HARMONIC) return -1;
    return row * 4 + (column - 4);
  }

  /** Advances the press state machine by one analysed window. */
  private step(w: WindowResult): void {
    this.recent.push(w);
    if (this.recent.length > LOOKBACK) this.recent.shift();
    const press = this.press;
    if (!press) {
      if (w.digit >= 0) this.begin(w, undefined);
      else this.transition('idle');
      return;
    }

    const index = this.append(press, w);
    if (w.digit === press.digit) {
      if (this.state === 'gap' && press.end !== undefined) {
        // The same digit again: an interruption, or a new press if the pause was long enough.
        const reference = steadyAmplitude(press.track, press.lastValid - SETTLE, press.lastValid);
        const restart = risingEdge(press.track, index, reference) ?? w.time;
        if (restart - press.end >= this.minPauseSamples) {
          this.finish(press, press.end);
          this.begin(w, restart);
          return;
        }
      }
      press.end = undefined;
      press.lastValid = index;
      press.validWindows++;
      noteOffsets(press, w);
      this.measureStart(press, false);
      this.transition('tone');
      return;
    }

    if (w.digit >= 0) {
      // A different digit with no pause between: the old press ends here.
      this.finish(press, press.end ?? this.fallingEdge(press) ?? w.time);
      this.begin(w, undefined);
      return;
    }

    this.transition('gap');
    this.measureStart(press, false);
    press.end ??= this.fallingEdge(press);
    const lastValidTime = (press.track[press.lastValid] as TrackPoint).time;
    const reference = steadyAmplitude(press.track, press.lastValid - SETTLE, press.lastValid);
    const quiet = pairAmplitude(w, press.row, press.column) < reference / 2;
    if (press.end !== undefined && quiet && w.time - press.end >= this.minPauseSamples) {
      this.finish(press, press.end);
      this.idle();
    } else if (w.time - lastValidTime >= (MAX_INTERRUPTION_MS * RATE) / 1000 + this.minPauseSamples) {
      // The tone's frequencies stayed up without a valid window for too long (speech, noise): end at the last valid window.
      this.finish(press, press.end ?? lastValidTime + HOP / 2);
      this.idle();
    }
  }

  private idle(): void {
    this.press = undefined;
    this.transition('idle');
  }

  /** A press starts at window `w` (the last of `recent`); its start edge is measured now or once settled. */
  private begin(w: WindowResult, start: number | undefined): void {
    const row = w.digit >> 2;
    const column = 4 + (w.digit & 3);
    const track = this.recent.map((r) => ({ time: r.time, amplitude: pairAmplitude(r, row, column) }));
    const offsets = { rowMin: w.rowOffset, rowMax: w.rowOffset, columnMin: w.columnOffset, columnMax: w.columnOffset };
    this.press = {
      digit: w.digit,
      row,
      column,
      track,
      firstValid: track.length - 1,
      lastValid: track.length - 1,
      validWindows: 1,
      offsets,
      start,
      end: undefined,
    };
    this.transition('tone');
  }

  /** Adds a window to the press's amplitude track; returns its index. Long presses lose their middle. */
  private append(press: Press, w: WindowResult): number {
    press.track.push({ time: w.time, amplitude: pairAmplitude(w, press.row, press.column) });
    const drop = press.firstValid + SETTLE + 1;
    if (press.track.length > MAX_TRACK && press.start !== undefined && press.lastValid - SETTLE > drop) {
      press.track.splice(drop, 1);
      press.lastValid--;
    }
    return press.track.length - 1;
  }

  /** Start edge: where the amplitude rose through half of its value once settled. */
  private measureStart(press: Press, force: boolean): void {
    if (press.start !== undefined) return;
    if (!force && press.track.length - 1 - press.firstValid < SETTLE) return;
    const reference = steadyAmplitude(press.track, press.firstValid, press.firstValid + SETTLE);
    press.start = risingEdge(press.track, press.firstValid, reference) ?? (press.track[0] as TrackPoint).time;
  }

  /** End edge: where the amplitude fell through half of its value before the last valid window; undefined while it has not. */
  private fallingEdge(press: Press): number | undefined {
    const reference = steadyAmplitude(press.track, press.lastValid - SETTLE, press.lastValid);
    const half = reference / 2;
    const t = press.track;
    let p = press.lastValid;
    while (p > 0 && (t[p] as TrackPoint).amplitude < half) p--;
    for (let j = p + 1; j < t.length; j++) {
      const b = t[j] as TrackPoint;
      if (b.amplitude < half) return crossing(t[j - 1] as TrackPoint, b, half);
    }
    return undefined;
  }

  /** Reports a press ending at `end` if it was long enough, named by enough windows, and steady in frequency. */
  private finish(press: Press, end: number): void {
    this.measureStart(press, true);
    const duration = end - (press.start as number);
    const o = press.offsets;
    const steady =
      o.rowMax - o.rowMin <= FREQUENCY_STABILITY * (FREQUENCIES[press.row] as number) &&
      o.columnMax - o.columnMin <= FREQUENCY_STABILITY * (FREQUENCIES[press.column] as number);
    if (duration >= this.minToneSamples && press.validWindows >= MIN_VALID_WINDOWS && steady) {
      const digit = (KEYPAD[press.row] as readonly DtmfDigit[])[press.column - 4] as DtmfDigit;
      this.out.push({ digit, durationMs: Math.round((duration * 1000) / RATE) });
    }
  }
}

function noteOffsets(press: Press, w: WindowResult): void {
  const o = press.offsets;
  o.rowMin = Math.min(o.rowMin, w.rowOffset);
  o.rowMax = Math.max(o.rowMax, w.rowOffset);
  o.columnMin = Math.min(o.columnMin, w.columnOffset);
  o.columnMax = Math.max(o.columnMax, w.columnOffset);
}

function pairAmplitude(w: WindowResult, row: number, column: number): number {
  return (w.amplitudes[row] as number) + (w.amplitudes[column] as number);
}

/** Largest amplitude over track[from … to], clamped to the track. */
function steadyAmplitude(track: readonly TrackPoint[], from: number, to: number): number {
  let m = 0;
  for (let i = Math.max(0, from); i <= Math.min(track.length - 1, to); i++)
    m = Math.max(m, (track[i] as TrackPoint).amplitude);
  return m;
}

/** Scanning back from `from`, where the amplitude rose through half of `reference`; undefined if it was never below. */
function risingEdge(track: readonly TrackPoint[], from: number, reference: number): number | undefined {
  const half = reference / 2;
  let p = from;
  while (p < track.length - 1 && (track[p] as TrackPoint).amplitude < half) p++;
  for (let j = p; j > 0; j--) {
    const a = track[j - 1] as TrackPoint;
    if (a.amplitude < half) return crossing(a, track[j] as TrackPoint, half);
  }
  return undefined;
}

/** Time at which the amplitude, linear between two windows, equals `level`. */
function crossing(a: TrackPoint, b: TrackPoint, level: number): number {
  const span = b.amplitude - a.amplitude;
  if (span === 0) return (a.time + b.time) / 2;
  const f = Math.min(1, Math.max(0, (level - a.amplitude) / span));
  return a.time + f * (b.time - a.time);
}

/** GATEWAY_INBAND_DTMF: when a call's audio is searched for DTMF tones. */
export type InbandDtmfPolicy = 'auto' | 'always' | 'never';

/**
 * Whether a call gets an in-band detector. `auto`: only when telephone-event was not
 * negotiated, i.e. when tones in the audio are the only way the caller's keys can
 * arrive; a caller that negotiated RFC 4733 sends its keys as events, and the
 * detector (a Goertzel bank over every 20 ms frame) is the costliest per-frame DSP.
 * `always` also catches a far end that negotiates events but sends tones anyway.
 */
export function wantsInbandDtmf(policy: InbandDtmfPolicy, telephoneEventPt: number | null): boolean {
  return policy === 'always' || (policy === 'auto' && telephoneEventPt === null);
}
