/**
 * What a waiting caller is told at each announcement of its queue: its place and
 * the expected wait, in English, spoken by the IVR's espeak-ng renderer (ivr/tts.ts,
 * which caches each sentence on disk by its text).
 */

/** Renders text to 8 kHz PCM (EspeakTts.speak). */
export type Speak = (text: string, voice?: string) => Promise<Int16Array>;

/** The sentence for a caller's place and expected wait (either may be left out). */
export function announcement(position: number | null, waitSeconds: number | null): string {
  const parts: string[] = [];
  if (position !== null)
    parts.push(position <= 1 ? 'You are next in the queue.' : `You are number ${position} in the queue.`);
  if (waitSeconds !== null) {
    const minutes = Math.max(1, Math.round(waitSeconds / 60));
    parts.push(`Your expected wait is about ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.`);
  }
  return parts.join(' ');
}

/**
 * Expected wait of a caller at `position` of `waiting`: the mean wait of the queue's
 * last answered callers (who mostly joined at the back) scaled by how far forward
 * this caller already is.
 */
export function expectedWait(meanWaitSeconds: number, position: number, waiting: number): number {
  return (meanWaitSeconds * Math.max(1, position)) / Math.max(1, waiting, position);
}
