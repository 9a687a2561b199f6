/**
 * Packet loss concealment for G.711 at 8 kHz: ITU-T G.711 Appendix I (09/99),
 * "A high quality low-complexity algorithm for packet loss concealment with G.711".
 *
 * Ported from the Appendix's reference implementation (class `LowcFE`; method
 * names in brackets), working in its 10 ms units; the 20 ms frames of the RTP leg
 * are handled as two of them.
 *
 * - History [savespeech]: the last 48.75 ms are kept; output is delayed by
 *   3.75 ms (30 samples, POVERLAPMAX) so that the start of an erasure can be
 *   smoothed with samples not yet played.
 * - Pitch [findpitch]: normalised cross-correlation of the last 20 ms against the
 *   history at lags 40–120 samples (200–66.7 Hz), coarse at 2:1 decimation, then
 *   refined ±1 sample.
 * - First 10 ms of an erasure [dofe]: one pitch period from the end of the
 *   history is repeated; its last ¼ period is overlap-added with the ¼ period
 *   before it so the repetition has no seam, and the same ¼-period OLA replaces
 *   the end of the history (the delayed output) so the loss starts smoothly.
 * - 10–20 ms and 20–30 ms [dofe]: the pitch buffer grows to 2, then 3 periods
 *   (¼-period OLA between the old and new buffer), against the buzz of one
 *   period repeated.
 * - Attenuation [scalespeech]: from 10 ms on, the gain falls linearly by 20 % per
 *   10 ms (0.25 % per sample), reaching zero at 60 ms; after 60 ms the output is
 *   silence.
 * - First good frame [addtohistory, overlapaddatend]: the synthetic signal
 *   continued into the good frame is cross-faded with it over ¼ period plus 4 ms
 *   per further 10 ms lost (at most 10 ms), the synthetic part scaled by the gain
 *   reached.
 *
 * Deviation: arithmetic is float64 throughout; results can differ from a
 * single-precision build of the C code only in rounding.
 */

/** 10 ms at 8 kHz, the Appendix's processing unit. */
const FRAMESZ = 80;
/** Shortest pitch period searched: 5 ms (200 Hz). */
const PITCH_MIN = 40;
/** Longest pitch period searched: 15 ms (66.7 Hz). */
const PITCH_MAX = 120;
const PITCHDIFF = PITCH_MAX - PITCH_MIN;
/** Longest ¼-period overlap, and the output delay. */
const POVERLAPMAX = PITCH_MAX >> 2;
/** 3 periods of the longest pitch plus the overlap: 390 samples (48.75 ms). */
const HISTORYLEN = PITCH_MAX * 3 + POVERLAPMAX;
/** Coarse pitch search decimation. */
const NDEC = 2;
/** Correlation window: the last 20 ms. */
const CORRLEN = 160;
const CORRBUFLEN = CORRLEN + PITCH_MAX;
/** Floor for the energy normalisation, so near-silence does not produce huge correlations. */
const CORRMINPOWER = 250;
/** Extra end-of-erasure overlap per additional 10 ms lost: 4 ms. */
const EOVERLAPINCR = 32;
/** Gain lost per 10 ms after the first 10 ms. */
const ATTENFAC = 0.2;
const ATTENINCR = ATTENFAC / FRAMESZ;
/** After this many 10 ms units lost (60 ms) the output is silence. */
const MAX_SYNTH_UNITS = 6;

function clamp16(t: number): number {
  return t > 32767 ? 32767 : t < -32768 ? -32768 : t;
}

/**
 * Pitch estimate [findpitch] over a 390-sample history (its last 280 samples are used):
 * the lag in [40, 120] maximising the energy-normalised correlation of the last
 * 20 ms with the signal one lag earlier. Ties in the coarse search go to the
 * shorter lag, in the fine search to the first (longest) candidate, as in the reference.
 */
export function findPitch(pitchbuf: Float64Array): number {
  if (pitchbuf.length !== HISTORYLEN)
    throw new TypeError(`pitch history must hold ${HISTORYLEN} samples, got ${pitchbuf.length}`);
  const l = HISTORYLEN - CORRLEN;
  const r = HISTORYLEN - CORRBUFLEN;

  // Coarse search, every other lag and every other sample.
  let rp = r;
  let energy = 0;
  let corr = 0;
  for (let i = 0; i < CORRLEN; i += NDEC) {
    const v = pitchbuf[rp + i] as number;
    energy += v * v;
    corr += v * (pitchbuf[l + i] as number);
  }
  let bestcorr = corr / Math.sqrt(Math.max(energy, CORRMINPOWER));
  let bestmatch = 0;
  for (let j = NDEC; j <= PITCHDIFF; j += NDEC) {
    const out = pitchbuf[rp] as number;
    const inc = pitchbuf[rp + CORRLEN] as number;
    energy += inc * inc - out * out;
    rp += NDEC;
    corr = 0;
    for (let i = 0; i < CORRLEN; i += NDEC) corr += (pitchbuf[rp + i] as number) * (pitchbuf[l + i] as number);
    corr /= Math.sqrt(Math.max(energy, CORRMINPOWER));
    if (corr >= bestcorr) {
      bestcorr = corr;
      bestmatch = j;
    }
  }

  // Fine search around the coarse winner, every lag and every sample.
  const j0 = Math.max(0, bestmatch - (NDEC - 1));
  const k = Math.min(PITCHDIFF, bestmatch + (NDEC - 1));
  rp = r + j0;
  energy = 0;
  corr = 0;
  for (let i = 0; i < CORRLEN; i++) {
    const v = pitchbuf[rp + i] as number;
    energy += v * v;
    corr += v * (pitchbuf[l + i] as number);
  }
  bestcorr = corr / Math.sqrt(Math.max(energy, CORRMINPOWER));
  bestmatch = j0;
  for (let i = j0 + 1; i <= k; i++) {
    const out = pitchbuf[rp] as number;
    const inc = pitchbuf[rp + CORRLEN] as number;
    energy += inc * inc - out * out;
    rp++;
    corr = 0;
    for (let n = 0; n < CORRLEN; n++) corr += (pitchbuf[rp + n] as number) * (pitchbuf[l + n] as number);
    corr /= Math.sqrt(Math.max(energy, CORRMINPOWER));
    if (corr > bestcorr) {
      bestcorr = corr;
      bestmatch = i;
    }
  }
  return PITCH_MAX - bestmatch;
}

/**
 * G.711 Appendix I concealment for one stream. Feed every 20 ms slot in order:
 * `good(frame)` when a frame arrived (decoded PCM), `lost()` when it did not.
 * Both return the 20 ms to play, 3.75 ms (`delaySamples`) behind the input.
 */
export class G711Plc {
  /** Output lags input by this many samples (3.75 ms). */
  static readonly delaySamples = POVERLAPMAX;
  /** Samples per 20 ms frame at 8 kHz. */
  static readonly frameSamples = 2 * FRAMESZ;

  private erasecnt = 0;
  private poverlap = 0;
  private poffset = 0;
  private pitch = 0;
  private pitchblen = 0;
  private pitchbufstart = 0;
  private readonly pitchbuf = new Float64Array(HISTORYLEN);
  private readonly lastq = new Float64Array(POVERLAPMAX);
  private readonly history = new Int16Array(HISTORYLEN);
  private readonly tmp = new Int16Array(FRAMESZ);

  /** 10 ms units concealed in the current erasure (0 when the last frame was good). */
  get erasedUnits(): number {
    return this.erasecnt;
  }

  /** A received frame (a multiple of 10 ms; normally 160 samples) → the frame to play, in `out` if given (same length). */
  good(frame: Int16Array, out: Int16Array = new Int16Array(frame.length)): Int16Array {
    checkLength(frame.length);
    if (out.length !== frame.length) throw new TypeError(`output holds ${out.length} samples, needs ${frame.length}`);
    out.set(frame);
    for (let o = 0; o < out.length; o += FRAMESZ) this.addToHistory(out.subarray(o, o + FRAMESZ));
    return out;
  }

  /** A missing frame (`samples`, a multiple of 10 ms; normally 160) → the concealed frame to play. */
  lost(samples: number = G711Plc.frameSamples): Int16Array {
    checkLength(samples);
    const out = new Int16Array(samples);
    for (let o = 0; o < samples; o += FRAMESZ) this.conceal(out.subarray(o, o + FRAMESZ));
    return out;
  }

  /** Forget history and any erasure in progress. */
  reset(): void {
    this.erasecnt = 0;
    this.history.fill(0);
  }

  /** [dofe] Synthesise 10 ms into `out`. */
  private conceal(out: Int16Array): void {
    const end = HISTORYLEN;
    if (this.erasecnt === 0) {
      for (let i = 0; i < HISTORYLEN; i++) this.pitchbuf[i] = this.history[i] as number;
      this.pitch = findPitch(this.pitchbuf);
      this.poverlap = this.pitch >> 2;
      // Keep the original last ¼ period: later OLAs restart from it.
      this.lastq.set(this.pitchbuf.subarray(end - this.poverlap, end));
      this.poffset = 0;
      this.pitchblen = this.pitch;
      this.pitchbufstart = end - this.pitchblen;
      this.overlapAddPitchBuffer();
      // The delayed output not yet played ends with the smoothed ¼ period.
      for (let i = 0; i < this.poverlap; i++)
        this.history[HISTORYLEN - this.poverlap + i] = this.pitchbuf[end - this.poverlap + i] as number;
      this.getSynthetic(out, 0, FRAMESZ);
    } else if (this.erasecnt === 1 || this.erasecnt === 2) {
      // Continue the old buffer for ¼ period, then cross-fade into one a period longer.
      const tail = this.tmp;
      const saveoffset = this.poffset;
      this.getSynthetic(tail, 0, this.poverlap);
      this.poffset = saveoffset;
      while (this.poffset > this.pitch) this.poffset -= this.pitch;
      this.pitchblen += this.pitch;
      this.pitchbufstart = end - this.pitchblen;
      this.overlapAddPitchBuffer();
      this.getSynthetic(out, 0, FRAMESZ);
      overlapAddInt16(tail, out, out, this.poverlap);
      this.scale(out);
    } else if (this.erasecnt >= MAX_SYNTH_UNITS) {
      out.fill(0);
    } else {
      this.getSynthetic(out, 0, FRAMESZ);
      this.scale(out);
    }
    this.erasecnt++;
    this.saveSpeech(out);
  }

  /** [addtohistory] A good 10 ms after an erasure is cross-faded with the continued synthetic signal. */
  private addToHistory(s: Int16Array): void {
    if (this.erasecnt > 0) {
      const olen = Math.min(this.poverlap + (this.erasecnt - 1) * EOVERLAPINCR, FRAMESZ);
      const synthetic = this.tmp;
      this.getSynthetic(synthetic, 0, olen);
      this.overlapAddAtEnd(s, synthetic, olen);
      this.erasecnt = 0;
    }
    this.saveSpeech(s);
  }

  /** OLA of the saved last ¼ period with the ¼ period before the pitch buffer start, written over the buffer's end. */
  private overlapAddPitchBuffer(): void {
    const cnt = this.poverlap;
    const o = HISTORYLEN - cnt;
    const r = this.pitchbufstart - cnt;
    const incr = 1 / cnt;
    let lw = 1 - incr;
    let rw = incr;
    for (let i = 0; i < cnt; i++) {
      this.pitchbuf[o + i] = clamp16(lw * (this.lastq[i] as number) + rw * (this.pitchbuf[r + i] as number));
      lw -= incr;
      rw += incr;
    }
  }

  /** Reads `sz` samples of the circular pitch buffer into `out`, advancing `poffset`. */
  private getSynthetic(out: Int16Array, offset: number, sz: number): void {
    let o = offset;
    let left = sz;
    while (left > 0) {
      const cnt = Math.min(this.pitchblen - this.poffset, left);
      const from = this.pitchbufstart + this.poffset;
      for (let i = 0; i < cnt; i++) out[o + i] = Math.trunc(this.pitchbuf[from + i] as number);
      this.poffset += cnt;
      if (this.poffset === this.pitchblen) this.poffset = 0;
      o += cnt;
      left -= cnt;
    }
  }

  /** [scalespeech] Gain ramp for the current 10 ms: from 1 − 0.2·(erasecnt − 1), down 0.25 % per sample. */
  private scale(out: Int16Array): void {
    let g = 1 - (this.erasecnt - 1) * ATTENFAC;
    for (let i = 0; i < FRAMESZ; i++) {
      out[i] = Math.trunc((out[i] as number) * g);
      g -= ATTENINCR;
    }
  }

  /** Cross-fade from the (attenuated) synthetic signal `f` into the good samples `s`, in place. */
  private overlapAddAtEnd(s: Int16Array, f: Int16Array, cnt: number): void {
    const incr = 1 / cnt;
    const gain = Math.max(0, 1 - (this.erasecnt - 1) * ATTENFAC);
    const incrg = incr * gain;
    let lw = (1 - incr) * gain;
    let rw = incr;
    for (let i = 0; i < cnt; i++) {
      s[i] = Math.trunc(clamp16(lw * (f[i] as number) + rw * (s[i] as number)));
      lw -= incrg;
      rw += incr;
    }
  }

  /** Appends 10 ms to the history and replaces it with the 10 ms that is now 3.75 ms old. */
  private saveSpeech(s: Int16Array): void {
    this.history.copyWithin(0, FRAMESZ, HISTORYLEN);
    this.history.set(s, HISTORYLEN - FRAMESZ);
    s.set(this.history.subarray(HISTORYLEN - FRAMESZ - POVERLAPMAX, HISTORYLEN - POVERLAPMAX));
  }
}

/** Linear cross-fade of `cnt` samples from l to r into o (o may alias r). */
function overlapAddInt16(l: Int16Array, r: Int16Array, o: Int16Array, cnt: number): void {
  const incr = 1 / cnt;
  let lw = 1 - incr;
  let rw = incr;
  for (let i = 0; i < cnt; i++) {
    o[i] = Math.trunc(clamp16(lw * (l[i] as number) + rw * (r[i] as number)));
    lw -= incr;
    rw += incr;
  }
}

function checkLength(samples: number): void {
  if (samples <= 0 || samples % FRAMESZ !== 0)
    throw new TypeError(`PLC frames are multiples of ${FRAMESZ} samples (10 ms), got ${samples}`);
}
