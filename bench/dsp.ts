/**
 * Per-call audio DSP cost, per 20 ms frame, on this machine.
 *
 * Each stage of the media gateway's audio path runs over real speech (the
 * espeak-ng fixture of the in-band DTMF tests, looped) and is timed per 20 ms
 * frame, next to a naive implementation of the same work written here, so the
 * figures read in context:
 *
 *   RTP in   G.711 μ-law decode (table) + 2× upsample (polyphase half-band, 14 MACs/sample)
 *            vs. per-sample G.711 formula + direct-form 55-tap FIR over the zero-stuffed signal
 *   RTP out  2× downsample (polyphase half-band) + μ-law encode (table)
 *            vs. direct-form 55-tap FIR at 16 kHz, then decimate + per-sample segment search
 *   PLC      G.711 Appendix I: a good frame, and a lost frame starting an erasure
 *            (pitch search: coarse 2:1 + fine, vs. exhaustive full-rate search)
 *   DTMF     in-band detector on speech (every window analysed) and on silence (gated)
 *            vs. direct DFT (Math.cos/sin per sample) at the 8 frequencies on the same windows
 *
 * and the sum for one full-duplex call as a share of one core.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/dsp.js   (BENCH_DSP_FRAMES=20000 to tune)
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { decodeUlaw, encodeUlaw } from '../services/common/src/audio/g711';
import { readWav } from '../services/common/src/audio/wav';
import { findPitch, G711Plc } from '../services/media-gateway/src/dsp/plc';
import { Downsampler2x, HALFBAND_TAPS, Upsampler2x } from '../services/common/src/audio/resampler';
import { InbandDtmfDetector } from '../services/media-gateway/src/dtmf/inband';
import { REPO_ROOT } from '../scripts/stack/env';

const FRAMES = Number(process.env['BENCH_DSP_FRAMES'] ?? 20000);
const FRAME_NS = 20e6;

const speech = readWav(readFileSync(join(REPO_ROOT, 'services/media-gateway/src/dtmf/inband-talkoff.ulaw.wav'))).pcm;
const FRAME_COUNT = Math.floor(speech.length / 160);
const frames8k = Array.from({ length: FRAME_COUNT }, (_, i) => speech.slice(i * 160, (i + 1) * 160));
const ulawFrames = frames8k.map((f) => encodeUlaw(f));
const frames16k = (() => {
  const up = new Upsampler2x();
  return frames8k.map((f) => up.process(f));
})();
const silentFrame = new Int16Array(160);

let sink = 0;

/**
 * CPU ns per call of `work(i)`, after a warm-up. CPU time (user + system of this
 * process), not wall time, so that other load on the machine does not count.
 */
function time(work: (i: number) => void): number {
  for (let i = 0; i < Math.min(2000, FRAMES); i++) work(i);
  const start = process.cpuUsage();
  for (let i = 0; i < FRAMES; i++) work(i);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / FRAMES;
}

// ---- naive baselines -------------------------------------------------------

/** μ-law decode from the G.711 definition, per sample (no table). */
function naiveUlawDecode(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const c = ~(bytes[i] as number) & 0xff;
    const exponent = (c >> 4) & 7;
    const magnitude = ((((c & 0x0f) << 3) + 0x84) << exponent) - 0x84;
    out[i] = c & 0x80 ? -magnitude : magnitude;
  }
  return out;
}

/** μ-law encode by searching the segment per sample (no table). */
function naiveUlawEncode(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    let s = pcm[i] as number;
    const sign = s < 0 ? 0 : 0x80;
    s = Math.min((s < 0 ? ~s : s) >> 2, 8158) + 33;
    let segment = 0;
    while (segment < 7 && s >= 64 << segment) segment++;
    out[i] = (sign | ((7 - segment) << 4) | (15 - ((s >> (segment + 1)) & 15))) & 0xff;
  }
  return out;
}

/** Direct-form FIR with every one of the 55 taps, zeros included. */
class NaiveFir {
  private readonly history = new Float64Array(HALFBAND_TAPS.length);
  private at = 0;

  push(x: number): number {
    const h = this.history;
    h[this.at] = x;
    let acc = 0;
    let k = this.at;
    for (let m = 0; m < HALFBAND_TAPS.length; m++) {
      acc += (HALFBAND_TAPS[m] as number) * (h[k] as number);
      k = k === 0 ? h.length - 1 : k - 1;
    }
    this.at = (this.at + 1) % h.length;
    return acc;
  }
}

function saturate(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

function naiveUpsample(fir: NaiveFir, in8k: Int16Array): Int16Array {
  const out = new Int16Array(in8k.length * 2);
  for (let i = 0; i < in8k.length; i++) {
    out[2 * i] = saturate(2 * fir.push(in8k[i] as number));
    out[2 * i + 1] = saturate(2 * fir.push(0));
  }
  return out;
}

function naiveDownsample(fir: NaiveFir, in16k: Int16Array): Int16Array {
  const out = new Int16Array(in16k.length >> 1);
  for (let i = 0; i < in16k.length; i++) {
    const y = fir.push(in16k[i] as number);
    if (i % 2 === 1) out[i >> 1] = saturate(y);
  }
  return out;
}

/** Exhaustive normalised cross-correlation over every lag 40–120 at full rate (what Appendix I's 2:1 coarse search avoids). */
function naiveFindPitch(history: Float64Array): number {
  const l = history.length - 160;
  let best = -Infinity;
  let bestLag = 40;
  for (let lag = 40; lag <= 120; lag++) {
    let corr = 0;
    let energy = 0;
    for (let i = 0; i < 160; i++) {
      const v = history[l - lag + i] as number;
      corr += v * (history[l + i] as number);
      energy += v * v;
    }
    const c = corr / Math.sqrt(Math.max(energy, 250));
    if (c > best) {
      best = c;
      bestLag = lag;
    }
  }
  return bestLag;
}

/** The detector's analysis done by direct DFT: every 40 samples, a 256-sample Hann window, 8 frequencies. */
class NaiveDftBank {
  private readonly buffer = new Float64Array(256);
  private filled = 0;
  private static readonly HANN = Float64Array.from(
    { length: 256 },
    (_, m) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (m + 0.5)) / 256),
  );
  private static readonly FREQUENCIES = [697, 770, 852, 941, 1209, 1336, 1477, 1633];

  process(frame: Int16Array): number {
    let total = 0;
    for (let i = 0; i < frame.length; i++) {
      this.buffer[216 + this.filled] = frame[i] as number;
      if (++this.filled === 40) {
        for (const f of NaiveDftBank.FREQUENCIES) {
          let re = 0;
          let im = 0;
          const w = (2 * Math.PI * f) / 8000;
          for (let m = 0; m < 256; m++) {
            const v = (this.buffer[m] as number) * (NaiveDftBank.HANN[m] as number);
            re += v * Math.cos(w * m);
            im -= v * Math.sin(w * m);
          }
          total += re * re + im * im;
        }
        this.buffer.copyWithin(0, 40);
        this.filled = 0;
      }
    }
    return total;
  }
}

// The baselines compute the same thing, or the comparison would mean nothing.
{
  const all = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
  const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
  if (naiveUlawEncode(all).some((c, i) => c !== encodeUlaw(all)[i])) throw new Error('naive μ-law encoder disagrees');
  if (naiveUlawDecode(codes).some((v, i) => v !== decodeUlaw(codes)[i]))
    throw new Error('naive μ-law decoder disagrees');
  const up = new Upsampler2x().process(speech.subarray(0, 8000));
  const naiveUp = naiveUpsample(new NaiveFir(), speech.subarray(0, 8000));
  if (up.some((v, i) => Math.abs(v - (naiveUp[i] as number)) > 1)) throw new Error('naive upsampler disagrees');
  const down = new Downsampler2x().process(up);
  const naiveDown = naiveDownsample(new NaiveFir(), up);
  if (down.some((v, i) => Math.abs(v - (naiveDown[i] as number)) > 1)) throw new Error('naive downsampler disagrees');
}

// ---- measurements ----------------------------------------------------------

interface Row {
  readonly stage: string;
  readonly ns: number;
  readonly baseline?: number;
  readonly inCallTotal: boolean;
}

const rows: Row[] = [];

{
  const up = new Upsampler2x();
  const fir = new NaiveFir();
  const ns = time((i) => (sink += up.process(decodeUlaw(ulawFrames[i % FRAME_COUNT] as Uint8Array))[5] as number));
  const baseline = time(
    (i) => (sink += naiveUpsample(fir, naiveUlawDecode(ulawFrames[i % FRAME_COUNT] as Uint8Array))[5] as number),
  );
  rows.push({ stage: 'RTP in: μ-law decode + 8→16 kHz', ns, baseline, inCallTotal: true });
}
{
  const down = new Downsampler2x();
  const fir = new NaiveFir();
  const ns = time((i) => (sink += encodeUlaw(down.process(frames16k[i % FRAME_COUNT] as Int16Array))[5] as number));
  const baseline = time(
    (i) => (sink += naiveUlawEncode(naiveDownsample(fir, frames16k[i % FRAME_COUNT] as Int16Array))[5] as number),
  );
  rows.push({ stage: 'RTP out: 16→8 kHz + μ-law encode', ns, baseline, inCallTotal: true });
}
{
  const plc = new G711Plc();
  const ns = time((i) => (sink += plc.good(frames8k[i % FRAME_COUNT] as Int16Array)[3] as number));
  rows.push({ stage: 'PLC: good frame', ns, inCallTotal: true });
}
{
  // One lost frame after four good ones: the lost frame starts an erasure (pitch search + OLA).
  const plc = new G711Plc();
  const pattern = time(
    (i) => (sink += (i % 5 === 4 ? plc.lost() : plc.good(frames8k[i % FRAME_COUNT] as Int16Array))[3] as number),
  );
  const good = new G711Plc();
  const goodOnly = time((i) => (sink += good.good(frames8k[i % FRAME_COUNT] as Int16Array)[3] as number));
  const history = Float64Array.from(speech.subarray(48000, 48390));
  const pitch = time(() => (sink += findPitch(history)));
  const naivePitch = time(() => (sink += naiveFindPitch(history)));
  rows.push({ stage: 'PLC: lost frame (erasure start)', ns: 5 * pattern - 4 * goodOnly, inCallTotal: false });
  rows.push({ stage: 'PLC: pitch search alone', ns: pitch, baseline: naivePitch, inCallTotal: false });
}
{
  const detector = new InbandDtmfDetector();
  const naive = new NaiveDftBank();
  const ns = time((i) => (sink += detector.process(frames8k[i % FRAME_COUNT] as Int16Array).length));
  const baseline = time((i) => (sink += naive.process(frames8k[i % FRAME_COUNT] as Int16Array)));
  rows.push({ stage: 'DTMF in-band: speech', ns, baseline, inCallTotal: true });
  const quiet = new InbandDtmfDetector();
  rows.push({
    stage: 'DTMF in-band: silence (gated)',
    ns: time(() => (sink += quiet.process(silentFrame).length)),
    inCallTotal: false,
  });
}

const fmt = (ns: number): string => (ns / 1000).toFixed(2).padStart(9);
console.log(
  `DSP CPU time per 20 ms frame, ${FRAMES} frames of real speech per figure (Node ${process.version}, ${process.arch}, load average ${loadavg()[0]?.toFixed(1)})\n`,
);
console.log(
  `${'stage'.padEnd(36)} ${'µs/frame'.padStart(9)} ${'% core'.padStart(7)} ${'naive µs'.padStart(9)} ${'speed-up'.padStart(8)}`,
);
for (const r of rows) {
  const share = ((100 * r.ns) / FRAME_NS).toFixed(3).padStart(7);
  const base = r.baseline === undefined ? ''.padStart(9) : fmt(r.baseline);
  const ratio = r.baseline === undefined ? '' : `${(r.baseline / r.ns).toFixed(1)}×`.padStart(8);
  console.log(`${r.stage.padEnd(36)} ${fmt(r.ns)} ${share} ${base} ${ratio}`);
}
const perCall = rows.filter((r) => r.inCallTotal).reduce((s, r) => s + r.ns, 0);
console.log(
  `\nOne full-duplex call (RTP in + RTP out + PLC good frame + DTMF on speech): ${(perCall / 1000).toFixed(2)} µs per 20 ms ` +
    `= ${((100 * perCall) / FRAME_NS).toFixed(3)} % of one core → DSP alone would fit ${Math.floor(FRAME_NS / perCall)} calls per core.`,
);
if (sink === 0.5) console.log('unreachable');
