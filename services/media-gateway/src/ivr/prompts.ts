import { PCMA, PCMU } from '../../../common/src/audio/g711';
import { CodedError } from '../../../common/src/errors';
import { G711Clip } from '../media/clip';
import { EspeakTts, telephonePcm, TELEPHONE_RATE, TtsError, type TtsErrorCode } from './tts';

/**
 * Menu prompts, ready to send: text spoken by espeak-ng (tts.ts) or a WAV uploaded to
 * ivr_prompts, decoded, resampled to 8 kHz and encoded in the call's G.711 law once,
 * then kept in memory (least recently played first out, within `maxBytes`) and shared
 * by every call that plays it. An upload is keyed by its sha256 (read per call, one
 * small row), so a replaced file plays from the next call on.
 */

/** Prompts are cut here: ten minutes is no menu. */
const MAX_SAMPLES = TELEPHONE_RATE * 600;
const FRAME = 160;

export const PROMPT_ERRORS = {
  ERR_IVR_PROMPT_NOT_FOUND: 'no uploaded prompt has this name',
  ERR_IVR_PROMPT_FORMAT: 'the uploaded prompt is not a WAV this gateway can play',
} as const;
export type PromptErrorCode = keyof typeof PROMPT_ERRORS | TtsErrorCode;
export class PromptError extends CodedError<keyof typeof PROMPT_ERRORS> {}

/** The prompts table as the library reads it (store.ts). */
export interface PromptRows {
  /** The upload's sha256, or null when there is none by that name. */
  promptHash(name: string): Promise<string | null>;
  promptAudio(name: string): Promise<{ readonly audio: Buffer; readonly sha256: string } | null>;
}

export type PlayablePrompt = { readonly text: string; readonly voice?: string } | { readonly file: string };

export interface PromptLibraryOptions {
  readonly tts: EspeakTts;
  readonly rows: PromptRows;
  readonly maxBytes: number;
  readonly logger: { warn(m: string, meta?: object): unknown };
}

/** PCM16 8 kHz → whole 20 ms frames of G.711 (the last frame padded with silence). */
export function encodePrompt(pcm: Int16Array, codec: 'PCMU' | 'PCMA'): Uint8Array {
  const samples = Math.min(pcm.length, MAX_SAMPLES);
  const padded = new Int16Array(Math.ceil(samples / FRAME) * FRAME);
  padded.set(pcm.subarray(0, samples));
  return (codec === 'PCMA' ? PCMA : PCMU).encode(padded);
}

/** The code of a prompt failure, for logs and the gateway_ivr_prompt_failures_total metric. */
export function promptErrorCode(err: unknown): PromptErrorCode {
  return err instanceof PromptError || err instanceof TtsError ? err.code : 'ERR_IVR_PROMPT_FORMAT';
}

export class PromptLibrary {
  /** Insertion order is recency. */
  private readonly cache = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(private readonly options: PromptLibraryOptions) {}

  /** The prompt in `codec`, whole frames; throws PromptError / TtsError when it cannot be played. */
  async encoded(prompt: PlayablePrompt, codec: 'PCMU' | 'PCMA'): Promise<Uint8Array> {
    let key: string;
    let pcm: () => Promise<Int16Array>;
    if ('file' in prompt) {
      const hash = await this.options.rows.promptHash(prompt.file);
      if (hash === null) throw new PromptError('ERR_IVR_PROMPT_NOT_FOUND', `no prompt named '${prompt.file}'`);
      key = `${codec}:file:${prompt.file}:${hash}`;
      pcm = () => this.upload(prompt.file);
    } else {
      const { key: spoken } = this.options.tts.key(prompt.text, prompt.voice);
      key = `${codec}:tts:${spoken}`;
      pcm = () => this.options.tts.speak(prompt.text, prompt.voice);
    }
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const payload = encodePrompt(await pcm(), codec);
    this.admit(key, payload);
    return payload;
  }

  /** Bytes of encoded prompts in memory. */
  get cachedBytes(): number {
    return this.bytes;
  }

  private async upload(name: string): Promise<Int16Array> {
    const row = await this.options.rows.promptAudio(name);
    if (!row) throw new PromptError('ERR_IVR_PROMPT_NOT_FOUND', `no prompt named '${name}'`);
    let pcm: Int16Array;
    try {
      pcm = telephonePcm(row.audio);
    } catch (err) {
      throw new PromptError('ERR_IVR_PROMPT_FORMAT', `prompt '${name}': ${(err as Error).message}`);
    }
    if (pcm.length < FRAME) throw new PromptError('ERR_IVR_PROMPT_FORMAT', `prompt '${name}' is shorter than 20 ms`);
    return pcm;
  }

  private admit(key: string, payload: Uint8Array): void {
    const old = this.cache.get(key);
    if (old) this.bytes -= old.length;
    this.cache.delete(key);
    this.cache.set(key, payload);
    this.bytes += payload.length;
    for (const [k, v] of this.cache) {
      if (this.bytes <= this.options.maxBytes || k === key) break;
      this.cache.delete(k);
      this.bytes -= v.length;
    }
  }
}

/** One playing of an encoded prompt in the call's law. */
export function promptClip(payload: Uint8Array, codec: 'PCMU' | 'PCMA'): G711Clip {
  return new G711Clip(payload, codec === 'PCMA' ? PCMA : PCMU);
}
