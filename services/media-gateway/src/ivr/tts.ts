import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resample } from '../../../common/src/audio/any-rate';
import { readWav, writeWav } from '../../../common/src/audio/wav';
import { CodedError } from '../../../common/src/errors';

/**
 * Text prompts spoken by espeak-ng on the gateway. A text is rendered once: to a WAV
 * in a temporary directory (execFile, no shell, killed past `timeoutMs`), read back,
 * mixed to mono and resampled to the telephone leg's 8 kHz, then kept as an 8 kHz
 * WAV under `cacheDir`, named by sha256(voice, text), so the next call (on this gateway,
 * after a restart too) reads the file instead of speaking again. Renders of the same
 * text at once share one espeak-ng run.
 */

export const TELEPHONE_RATE = 8000;
/** A voice name espeak-ng knows (`en-us`, `de`, `en+f3`); anything else could be taken for an option. */
export const VOICE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_+-]{0,39}$/;
/** Longer texts are refused: a menu prompt is a few sentences, and espeak-ng's time grows with the text. */
export const MAX_TEXT_CHARS = 4000;

export const TTS_ERRORS = {
  ERR_IVR_TTS_INPUT: 'the text or voice cannot be spoken',
  ERR_IVR_TTS_FAILED: 'espeak-ng failed or timed out',
  ERR_IVR_TTS_OUTPUT: 'espeak-ng wrote no usable audio',
} as const;
export type TtsErrorCode = keyof typeof TTS_ERRORS;
export class TtsError extends CodedError<TtsErrorCode> {}

/** Runs a program without a shell; rejects on a non-zero exit or the timeout. */
export type RunFile = (command: string, args: readonly string[], options: { timeoutMs: number }) => Promise<void>;

export const runFile: RunFile = (command, args, { timeoutMs }) =>
  new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err) => {
      // ExecFileException is no Error type (an Omit<> of one): rebuilt with what the caller reads.
      if (err) reject(Object.assign(new Error(err.message), { killed: err.killed === true }));
      else resolve();
    });
  });

export interface TtsOptions {
  /** The espeak-ng binary (IVR_TTS_COMMAND). */
  readonly command: string;
  /** Voice of prompts that name none (IVR_TTS_VOICE). */
  readonly defaultVoice: string;
  readonly timeoutMs: number;
  /** IVR_PROMPT_CACHE_DIR. */
  readonly cacheDir: string;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
  /** Replaced in unit tests. */
  readonly run?: RunFile;
}

/** The cache key of a spoken prompt: sha256 of the voice and the text (a newline between: no voice has one). */
export function ttsKey(voice: string, text: string): string {
  return createHash('sha256').update(`${voice}\n${text}`, 'utf8').digest('hex');
}

/** PCM16 mono at 8 kHz from a WAV of any rate the reader takes; stereo channels are averaged. */
export function telephonePcm(file: Buffer): Int16Array {
  const wav = readWav(file);
  if (wav.channels < 1) throw new TypeError('WAV has no channels');
  let mono: Int16Array;
  if (wav.channels === 1) mono = wav.pcm;
  else {
    mono = new Int16Array(Math.floor(wav.pcm.length / wav.channels));
    for (let i = 0; i < mono.length; i++) {
      let sum = 0;
      for (let c = 0; c < wav.channels; c++) sum += wav.pcm[i * wav.channels + c] as number;
      mono[i] = Math.round(sum / wav.channels);
    }
  }
  return wav.sampleRate === TELEPHONE_RATE ? mono.slice() : resample(mono, wav.sampleRate, TELEPHONE_RATE);
}

export class EspeakTts {
  private readonly pending = new Map<string, Promise<Int16Array>>();
  private readonly run: RunFile;
  /** espeak-ng runs (what the caches save). */
  renders = 0;

  constructor(private readonly options: TtsOptions) {
    this.run = options.run ?? runFile;
  }

  /** The key `text` in `voice` (default: IVR_TTS_VOICE) is cached under; throws TtsError for what cannot be spoken. */
  key(text: string, voice?: string): { key: string; voice: string } {
    const v = voice ?? this.options.defaultVoice;
    if (!VOICE_PATTERN.test(v))
      throw new TtsError('ERR_IVR_TTS_INPUT', `voice '${v.slice(0, 50)}' is not a voice name`);
    if (text.trim() === '' || text.length > MAX_TEXT_CHARS)
      throw new TtsError('ERR_IVR_TTS_INPUT', `text must be 1..${MAX_TEXT_CHARS} characters`);
    return { key: ttsKey(v, text), voice: v };
  }

  /** `text` spoken in `voice`, PCM16 8 kHz: from the disk cache, or rendered now (and written there). */
  speak(text: string, voice?: string): Promise<Int16Array> {
    const { key, voice: v } = this.key(text, voice);
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const job = this.load(key, text, v).finally(() => this.pending.delete(key));
    this.pending.set(key, job);
    return job;
  }

  private async load(key: string, text: string, voice: string): Promise<Int16Array> {
    const cached = join(this.options.cacheDir, `${key}.wav`);
    try {
      return telephonePcm(await readFile(cached));
    } catch {
      // Not cached yet (or a damaged file, which the render below replaces).
    }
    const pcm = await this.render(text, voice);
    try {
      await mkdir(this.options.cacheDir, { recursive: true });
      // Written aside and renamed: a gateway reading it at the same time never sees half a file.
      const partial = `${cached}.${process.pid}.partial`;
      await writeFile(partial, writeWav(pcm, TELEPHONE_RATE));
      await rename(partial, cached);
    } catch (err) {
      this.options.logger.warn('spoken prompt not written to the prompt cache directory', {
        dir: this.options.cacheDir,
        error: (err as Error).message,
      });
    }
    return pcm;
  }

  private async render(text: string, voice: string): Promise<Int16Array> {
    const dir = await mkdtemp(join(tmpdir(), 'sipai-tts-'));
    const out = join(dir, 'prompt.wav');
    const started = Date.now();
    try {
      this.renders++;
      // `--` ends the options: a text starting with '-' is spoken, not parsed.
      await this.run(this.options.command, ['-v', voice, '-w', out, '--', text], {
        timeoutMs: this.options.timeoutMs,
      }).catch((err: Error & { killed?: boolean }) => {
        throw new TtsError(
          'ERR_IVR_TTS_FAILED',
          err.killed ? `espeak-ng took longer than ${this.options.timeoutMs} ms` : err.message,
        );
      });
      let pcm: Int16Array;
      try {
        pcm = telephonePcm(await readFile(out));
      } catch (err) {
        throw new TtsError('ERR_IVR_TTS_OUTPUT', (err as Error).message);
      }
      if (pcm.length === 0) throw new TtsError('ERR_IVR_TTS_OUTPUT', 'espeak-ng wrote no samples');
      this.options.logger.info('prompt spoken by espeak-ng', {
        voice,
        chars: text.length,
        seconds: pcm.length / TELEPHONE_RATE,
        render_ms: Date.now() - started,
      });
      return pcm;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
