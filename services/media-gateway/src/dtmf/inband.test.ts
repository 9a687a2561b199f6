import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeUlaw, encodeUlaw } from '../../../common/src/audio/g711';
import { gaussianNoise, mix, sweep, tone, toInt16 } from '../../../common/src/audio/signals';
import { readWav } from '../../../common/src/audio/wav';
import { type DtmfDetection, InbandDtmfDetector, wantsInbandDtmf } from './inband';

const RATE = 8000;
const ROWS = [697, 770, 852, 941];
const COLUMNS = [1209, 1336, 1477, 1633];
const KEYPAD = ['123A', '456B', '789C', '*0#D'];
const ALL_DIGITS = '0123456789*#ABCD'.split('');
/** Peak amplitude of a 0 dBm0 sine on the G.711 16-bit scale (RMS 16 000, the digital milliwatt's). */
const DBM0_PEAK = 16000 * Math.SQRT2;

interface ToneOptions {
  /** Level of each tone, dBm0 (default −10). */
  readonly dbm0?: number;
  /** Low-group tone level minus high-group tone level, dB: positive is normal twist, negative reverse. */
  readonly twistDb?: number;
  /** Relative frequency deviation of the row / column tone (0.014 = +1.4 %). */
  readonly rowDeviation?: number;
  readonly columnDeviation?: number;
}

function dtmfTone(digit: string, ms: number, o: ToneOptions = {}): Float64Array {
  const row = KEYPAD.findIndex((k) => k.includes(digit));
  const column = (KEYPAD[row] as string).indexOf(digit);
  const length = Math.round((ms * RATE) / 1000);
  const level = DBM0_PEAK * 10 ** ((o.dbm0 ?? -10) / 20);
  const twist = o.twistDb ?? 0;
  return mix(
    tone(length, RATE, (ROWS[row] as number) * (1 + (o.rowDeviation ?? 0)), level * 10 ** (twist / 40), 0.3),
    tone(length, RATE, (COLUMNS[column] as number) * (1 + (o.columnDeviation ?? 0)), level * 10 ** (-twist / 40), 1.1),
  );
}

const silence = (ms: number): Float64Array => new Float64Array(Math.round((ms * RATE) / 1000));

function concatSignals(...parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Each digit as a `ms` tone followed by a `pauseMs` silence, after 50 ms of silence. */
function sequence(digits: readonly string[], o: ToneOptions = {}, ms = 60, pauseMs = 60): Float64Array {
  return concatSignals(silence(50), ...digits.flatMap((d) => [dtmfTone(d, ms, o), silence(pauseMs)]), silence(100));
}

/** The signal through G.711 μ-law (as it arrives from the RTP leg), in 20 ms frames. */
function detect(signal: ArrayLike<number>, frame: number = 160, detector = new InbandDtmfDetector()): DtmfDetection[] {
  const pcm = decodeUlaw(encodeUlaw(toInt16(signal)));
  const found: DtmfDetection[] = [];
  for (let i = 0; i < pcm.length; i += frame) found.push(...detector.process(pcm.subarray(i, i + frame)));
  found.push(...detector.flush());
  return found;
}

const digits = (found: readonly DtmfDetection[]): string => found.map((d) => d.digit).join('');

describe('InbandDtmfDetector: Q.23 digits and Q.24 acceptance', () => {
  test('all 16 digits, 60 ms tones with 60 ms pauses → each reported once, in order, with its duration', () => {
    const found = detect(sequence(ALL_DIGITS));
    expect(digits(found)).toBe(ALL_DIGITS.join(''));
    for (const d of found) expect(Math.abs(d.durationMs - 60)).toBeLessThanOrEqual(2);
  });

  test.each([
    ['+1.4 % on both tones', { rowDeviation: 0.014, columnDeviation: 0.014 }],
    ['−1.4 % on both tones', { rowDeviation: -0.014, columnDeviation: -0.014 }],
    ['+1.4 % low, −1.4 % high', { rowDeviation: 0.014, columnDeviation: -0.014 }],
    ['−1.4 % low, +1.4 % high', { rowDeviation: -0.014, columnDeviation: 0.014 }],
  ])('off-nominal by %s (inside ±1.5 %%) → all 16 digits detected', (_, deviation) => {
    expect(digits(detect(sequence(ALL_DIGITS, deviation)))).toBe(ALL_DIGITS.join(''));
  });

  test.each([
    ['+3.6 % on both tones', { rowDeviation: 0.036, columnDeviation: 0.036 }],
    ['−3.6 % on both tones', { rowDeviation: -0.036, columnDeviation: -0.036 }],
    ['+3.6 % on the low tone only', { rowDeviation: 0.036 }],
    ['−3.6 % on the low tone only', { rowDeviation: -0.036 }],
    ['+3.6 % on the high tone only', { columnDeviation: 0.036 }],
    ['−3.6 % on the high tone only', { columnDeviation: -0.036 }],
  ])('off-nominal by %s (beyond ±3.5 %%) → nothing detected', (_, deviation) => {
    expect(detect(sequence(ALL_DIGITS, deviation))).toEqual([]);
  });

  test.each([20, 30])('%i ms tones → rejected (shorter than 40 ms)', (ms) => {
    expect(detect(sequence(ALL_DIGITS, {}, ms))).toEqual([]);
  });

  test.each([40, 45])('%i ms tones → accepted, duration measured within 2 ms', (ms) => {
    const found = detect(sequence(ALL_DIGITS, {}, ms));
    expect(digits(found)).toBe(ALL_DIGITS.join(''));
    for (const d of found) expect(Math.abs(d.durationMs - ms)).toBeLessThanOrEqual(2);
  });

  test.each([
    { twist: 'normal twist 7 dB (high tone weaker)', twistDb: 7, outcome: 'all 16 detected' },
    { twist: 'normal twist 10 dB', twistDb: 10, outcome: 'none detected' },
    { twist: 'reverse twist 3 dB (low tone weaker)', twistDb: -3, outcome: 'all 16 detected' },
    { twist: 'reverse twist 6 dB', twistDb: -6, outcome: 'none detected' },
  ])('$twist → $outcome', ({ twistDb, outcome }) => {
    const found = detect(sequence(ALL_DIGITS, { twistDb }));
    expect(digits(found)).toBe(outcome === 'none detected' ? '' : ALL_DIGITS.join(''));
  });

  test.each([
    { dbm0: -3, outcome: 'all 16 detected' },
    { dbm0: -25, outcome: 'all 16 detected' },
    { dbm0: -35, outcome: 'none detected' },
  ])('tones at $dbm0 dBm0 each → $outcome', ({ dbm0, outcome }) => {
    expect(digits(detect(sequence(ALL_DIGITS, { dbm0 })))).toBe(outcome === 'none detected' ? '' : ALL_DIGITS.join(''));
  });

  test.each([1, 2, 3])('all 16 digits in white noise at 15 dB SNR (seed %i) → each detected once', (seed) => {
    const clean = sequence(ALL_DIGITS, { dbm0: -10 });
    // Signal power: two tones of −10 dBm0; noise 15 dB below it.
    const signalPower = (2 * (DBM0_PEAK * 10 ** (-10 / 20)) ** 2) / 2;
    const noisy = mix(clean, gaussianNoise(clean.length, Math.sqrt(signalPower / 10 ** 1.5), seed));
    expect(digits(detect(noisy))).toBe(ALL_DIGITS.join(''));
  });
});

describe('InbandDtmfDetector: one report per key press', () => {
  test('same key twice with 50 ms of silence between → two reports', () => {
    const found = detect(concatSignals(silence(50), dtmfTone('7', 60), silence(50), dtmfTone('7', 60), silence(100)));
    expect(found.map((d) => d.digit)).toEqual(['7', '7']);
  });

  test('same key twice with a 40 ms pause (Q.24 minimum) → two reports', () => {
    expect(
      digits(detect(concatSignals(silence(50), dtmfTone('#', 60), silence(40), dtmfTone('#', 60), silence(100)))),
    ).toBe('##');
  });

  test('a 20 ms dropout inside one press → one report spanning it', () => {
    const found = detect(concatSignals(silence(50), dtmfTone('9', 60), silence(20), dtmfTone('9', 60), silence(100)));
    expect(found.map((d) => d.digit)).toEqual(['9']);
    expect(Math.abs((found[0] as DtmfDetection).durationMs - 140)).toBeLessThanOrEqual(2);
  });

  test('a key held for 3 s → one report of about 3000 ms', () => {
    const found = detect(concatSignals(silence(50), dtmfTone('0', 3000), silence(100)));
    expect(found.map((d) => d.digit)).toEqual(['0']);
    expect(Math.abs((found[0] as DtmfDetection).durationMs - 3000)).toBeLessThanOrEqual(2);
  });

  test('two different keys back to back, no pause → both reported', () => {
    expect(digits(detect(concatSignals(silence(50), dtmfTone('1', 80), dtmfTone('2', 80), silence(100))))).toBe('12');
  });

  test('report comes after the tone ends (within 60 ms), never while it sounds', () => {
    const signal = decodeUlaw(encodeUlaw(toInt16(concatSignals(silence(40), dtmfTone('5', 100), silence(200)))));
    const detector = new InbandDtmfDetector();
    const reportedAt: number[] = [];
    for (let i = 0; i < signal.length; i += 160)
      if (detector.process(signal.subarray(i, i + 160)).length > 0) reportedAt.push(i + 160);
    const toneEndsAt = (40 + 100) * 8;
    expect(reportedAt).toHaveLength(1);
    expect(reportedAt[0]).toBeGreaterThan(toneEndsAt);
    expect((reportedAt[0] as number) - toneEndsAt).toBeLessThanOrEqual(60 * 8);
  });

  test('frames of 1, 80, 160, 333 or 4000 samples → the same reports', () => {
    const signal = sequence(['3', '3', 'B', '*'], {}, 50, 45);
    const reference = detect(signal);
    expect(digits(reference)).toBe('33B*');
    for (const frame of [1, 80, 333, 4000]) expect(detect(signal, frame)).toEqual(reference);
  });

  test('stream ending during a tone → flush() reports it', () => {
    const detector = new InbandDtmfDetector();
    const pcm = toInt16(concatSignals(silence(50), dtmfTone('A', 80)));
    expect(detector.process(pcm)).toEqual([]);
    expect(detector.flush().map((d) => d.digit)).toEqual(['A']);
  });

  test('reset() → no memory of a tone in progress', () => {
    const detector = new InbandDtmfDetector();
    detector.process(toInt16(concatSignals(silence(50), dtmfTone('6', 40))));
    detector.reset();
    expect(detect(concatSignals(dtmfTone('6', 30), silence(200)), 160, detector)).toEqual([]);
  });
});

/** Glottal pulse train at f0 through three formant resonators (Klatt-style cascade), peak-normalised. */
function vowel(
  formants: readonly (readonly [number, number])[],
  f0: (n: number) => number,
  length: number,
  peak: number,
): Float64Array {
  let signal = new Float64Array(length);
  let phase = 0;
  for (let n = 0; n < length; n++) {
    phase += f0(n) / RATE;
    if (phase >= 1) {
      phase -= 1;
      signal[n] = 1;
    }
  }
  for (const [frequency, bandwidth] of formants) {
    const r = Math.exp((-Math.PI * bandwidth) / RATE);
    const c = 2 * r * Math.cos((2 * Math.PI * frequency) / RATE);
    const out = new Float64Array(length);
    for (let n = 0; n < length; n++) out[n] = (signal[n] as number) + c * (out[n - 1] ?? 0) - r * r * (out[n - 2] ?? 0);
    signal = out;
  }
  const max = signal.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return signal.map((v) => (v / max) * peak);
}

/** Peterson & Barney average formant frequencies and typical bandwidths (Hz). */
const VOWELS: Record<string, readonly (readonly [number, number])[]> = {
  a: [
    [730, 90],
    [1090, 110],
    [2440, 170],
  ],
  i: [
    [270, 60],
    [2290, 100],
    [3010, 120],
  ],
  u: [
    [300, 60],
    [870, 90],
    [2240, 120],
  ],
  e: [
    [530, 70],
    [1840, 100],
    [2480, 120],
  ],
  o: [
    [570, 70],
    [840, 80],
    [2410, 120],
  ],
  ae: [
    [660, 80],
    [1720, 100],
    [2410, 120],
  ],
  er: [
    [490, 70],
    [1350, 90],
    [1690, 110],
  ],
  uh: [
    [520, 80],
    [1190, 90],
    [2390, 120],
  ],
};

/** A mono 8 kHz WAV file as PCM16. */
function readSpeech(path: string): Int16Array {
  const audio = readWav(readFileSync(path));
  if (audio.sampleRate !== RATE || audio.channels !== 1) throw new Error(`${path} is not mono 8 kHz`);
  return audio.pcm;
}

function scaled(pcm: Int16Array, peakDbfs: number): Float64Array {
  const peak = pcm.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  const gain = (32767 * 10 ** (peakDbfs / 20)) / peak;
  return Float64Array.from(pcm, (v) => v * gain);
}

const FIXTURE = join(__dirname, 'inband-talkoff.ulaw.wav');

describe('the talk-off fixture', () => {
  test('the committed talk-off speech fixture (sox, μ-law) → 8 kHz mono speech', () => {
    const audio = readWav(readFileSync(FIXTURE));
    expect([audio.sampleRate, audio.channels]).toEqual([8000, 1]);
    expect(audio.pcm.length).toBeGreaterThan(20 * 8000);
    // sox normalised it to a −1 dBFS peak before μ-law encoding.
    const peak = audio.pcm.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(Math.abs(20 * Math.log10(peak / 32767) + 1)).toBeLessThan(1);
  });
});

/** Speech to test talk-off on: the committed fixture, plus fresh espeak-ng speech when espeak-ng and sox are installed. */
function speechSources(): [string, () => Int16Array][] {
  const sources: [string, () => Int16Array][] = [
    ['committed espeak-ng fixture (4 voices, 23 s)', () => readSpeech(FIXTURE)],
  ];
  const has = (bin: string): boolean => {
    try {
      execFileSync(bin, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (has('espeak-ng') && has('sox')) {
    const text =
      'Good morning. I am calling about the bill I received last week; the amount looks wrong to me. ' +
      'Could you read me the last four digits, seven, three, nine, one? Thanks, that sounds right. Bye!';
    for (const [voice, pitch] of [
      ['en-us', '20'],
      ['en-us+f3', '60'],
      ['en-gb+m2', '45'],
      ['en+f4', '95'],
    ] as const) {
      sources.push([
        `espeak-ng ${voice} pitch ${pitch}, generated now`,
        () => {
          const dir = mkdtempSync(join(tmpdir(), 'talkoff-'));
          try {
            execFileSync('espeak-ng', ['-v', voice, '-p', pitch, '-s', '165', '-w', join(dir, 'raw.wav'), text]);
            execFileSync('sox', [
              join(dir, 'raw.wav'),
              '-r',
              '8000',
              '-c',
              '1',
              '-b',
              '16',
              '-e',
              'signed-integer',
              join(dir, 'speech.wav'),
            ]);
            return readSpeech(join(dir, 'speech.wav'));
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ]);
    }
  }
  return sources;
}

describe('InbandDtmfDetector: talk-off', () => {
  test('8 vowels at every pitch from 80 to 320 Hz (steady) → no detection', () => {
    const found: string[] = [];
    for (const [name, formants] of Object.entries(VOWELS)) {
      for (let f0 = 80; f0 <= 320; f0 += 2) {
        const hits = detect(vowel(formants, () => f0, 2400, 20000));
        if (hits.length > 0) found.push(`${name}@${f0}: ${digits(hits)}`);
      }
    }
    expect(found).toEqual([]);
  });

  test('vowels with gliding pitch (80↔300 Hz, as in intonation) → no detection', () => {
    const found: string[] = [];
    for (const [name, formants] of Object.entries(VOWELS)) {
      for (const [from, to] of [
        [80, 200],
        [200, 80],
        [150, 300],
        [300, 150],
      ] as const) {
        const hits = detect(vowel(formants, (n) => from + ((to - from) * n) / 8000, 8000, 20000));
        if (hits.length > 0) found.push(`${name} ${from}→${to}: ${digits(hits)}`);
      }
    }
    expect(found).toEqual([]);
  });

  test('single chirps across the band, slow and fast → no detection', () => {
    const found: string[] = [];
    for (const [from, to] of [
      [300, 3400],
      [3400, 300],
      [650, 1000],
      [1150, 1700],
    ] as const) {
      for (const seconds of [0.2, 1, 4]) {
        const hits = detect(sweep(seconds * RATE, RATE, from, to, 20000));
        if (hits.length > 0) found.push(`${from}→${to} in ${seconds}s: ${digits(hits)}`);
      }
    }
    expect(found).toEqual([]);
  });

  test('two simultaneous chirps sweeping at formant-transition rates (1–10 kHz/s) → no detection', () => {
    const found: string[] = [];
    for (const rate of [1000, 2000, 5000, 10000]) {
      for (const direction of [1, -1]) {
        const length = Math.round((500 / rate) * RATE);
        const low = direction > 0 ? [600, 1100] : [1100, 600];
        const high = direction > 0 ? [1150, 1650] : [1650, 1150];
        const hits = detect(
          mix(
            sweep(length, RATE, low[0] as number, low[1] as number, 8000),
            sweep(length, RATE, high[0] as number, high[1] as number, 8000),
          ),
        );
        if (hits.length > 0) found.push(`${rate} Hz/s ${direction}: ${digits(hits)}`);
      }
    }
    expect(found).toEqual([]);
  });

  test.each(speechSources())('real speech: %s, at −1, −10 and −25 dBFS peak → no detection', (_, load) => {
    const speech = load();
    expect(speech.length).toBeGreaterThan(5 * RATE);
    for (const peak of [-1, -10, -25]) expect(detect(scaled(speech, peak))).toEqual([]);
  });

  test('a key pressed while the caller speaks quietly (speech 20 dB below the tones) → that key, once', () => {
    const speech = scaled(readSpeech(FIXTURE), -30).subarray(0, 4 * RATE);
    const tones = concatSignals(silence(1500), dtmfTone('8', 80, { dbm0: -8 }), silence(2420));
    expect(digits(detect(mix(speech, tones)))).toBe('8');
  });
});

describe('wantsInbandDtmf: the per-call policy', () => {
  test('auto → a detector only on calls without telephone-event; always / never → regardless', () => {
    expect(wantsInbandDtmf('auto', null)).toBe(true);
    expect(wantsInbandDtmf('auto', 101)).toBe(false);
    expect(wantsInbandDtmf('always', 101)).toBe(true);
    expect(wantsInbandDtmf('always', null)).toBe(true);
    expect(wantsInbandDtmf('never', null)).toBe(false);
    expect(wantsInbandDtmf('never', 101)).toBe(false);
  });
});
