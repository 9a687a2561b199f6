/**
 * Hold audio for a caller whose AI is away (reconnecting): a soft, slow three-note
 * chime, −24 dBFS, each note faded in and out so it never clicks. Generated, so it
 * needs no file and no licence; 20 ms frames at 8 kHz.
 */
const RATE = 8000;
const FRAME = 160;
const NOTE_HZ = [523.25, 659.25, 783.99, 659.25];
const NOTE_SAMPLES = RATE * 0.45;
const GAP_SAMPLES = RATE * 0.15;
const AMPLITUDE = 32767 * 10 ** (-24 / 20);
const FADE = RATE * 0.03;

export class HoldAudio {
  private position = 0;

  next(): Int16Array {
    const frame = new Int16Array(FRAME);
    const period = NOTE_SAMPLES + GAP_SAMPLES;
    for (let i = 0; i < FRAME; i++, this.position++) {
      const inCycle = this.position % (period * NOTE_HZ.length);
      const note = Math.floor(inCycle / period);
      const t = inCycle - note * period;
      if (t >= NOTE_SAMPLES) continue;
      const envelope = Math.min(1, t / FADE, (NOTE_SAMPLES - t) / FADE);
      frame[i] = Math.round(AMPLITUDE * envelope * Math.sin((2 * Math.PI * (NOTE_HZ[note] as number) * t) / RATE));
    }
    return frame;
  }
}
