import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav, wavChannel } from '../../../common/src/audio/wav';

/**
 * Queue announcements ("you are number 2 in the queue…") spoken by espeak-ng and
 * kept in memory as 8 kHz PCM by sha256(voice + text): a queue says the same few
 * sentences over and over. A deliberately small renderer for queues alone; IVR
 * prompts have their own (ivr/) with a disk cache.
 */

/** espeak-ng's own rate (its WAV output is always this). */
const ESPEAK_RATE = 22050;
const MAX_CACHED = 256;
const RENDER_TIMEOUT_MS = 10_000;

export type Speak = (text: string, voice?: string) => Promise<Int16Array>;

/** 8 kHz from any rate: a moving average over the source span of each output sample (anti-alias enough for speech), then linear steps. */
export function resampleTo8k(pcm: Int16Array, rate: number): Int16Array {
  if (rate === 8000) return pcm;
  const ratio = rate / 8000;
  const out = new Int16Array(Math.floor(pcm.length / ratio));
  const half = Math.max(0, Math.floor(ratio / 2));
  for (let i = 0; i < out.length; i++) {
    const centre = Math.floor(i * ratio);
    let sum = 0;
    let n = 0;
    for (let k = centre - half; k <= centre + half; k++) {
      if (k < 0 || k >= pcm.length) continue;
      sum += pcm[k] as number;
      n++;
    }
    out[i] = n === 0 ? 0 : Math.round(sum / n);
  }
  return out;
}

/** The English sentence for a caller's place and expected wait. */
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

/** An espeak-ng renderer with its memory cache; `command` is the binary (espeak-ng on PATH by default). */
export function espeakSpeaker(command = 'espeak-ng'): Speak {
  const cache = new Map<string, Promise<Int16Array>>();
  return (text, voice = 'en') => {
    const key = createHash('sha256').update(`${voice}\n${text}`).digest('hex');
    const hit = cache.get(key);
    if (hit) return hit;
    const rendering = render(command, text, voice);
    cache.set(key, rendering);
    rendering.catch(() => cache.delete(key));
    if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
    return rendering;
  };
}

async function render(command: string, text: string, voice: string): Promise<Int16Array> {
  const dir = await mkdtemp(join(tmpdir(), 'queue-announce-'));
  try {
    const file = join(dir, 'a.wav');
    // Arguments, never a shell: the text is ours, but it goes through no parser of /bin/sh.
    await new Promise<void>((resolve, reject) =>
      execFile(command, ['-v', voice, '-s', '165', '-w', file, '--', text], { timeout: RENDER_TIMEOUT_MS }, (err) =>
        err ? reject(new Error(`espeak-ng: ${err.message}`)) : resolve(),
      ),
    );
    const wav = readWav(await readFile(file));
    return resampleTo8k(wavChannel(wav, 0), wav.sampleRate || ESPEAK_RATE);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
