import { mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { PCMA, PCMU, type G711Codec } from '../../../common/src/audio/g711';
import { Downsampler2x } from '../../../common/src/audio/resampler';
import { readWav, wavChannel, writeWav } from '../../../common/src/audio/wav';
import { HOLD_MUSIC_NAME_PATTERN } from '../../../common/src/calls/hold-music';
import { CodedError } from '../../../common/src/errors';
import { generateHoldTune, TUNE_RATE } from './tune';

/**
 * Music on hold, ready to send: each piece decoded and encoded to PCMU or PCMA once,
 * kept in memory (least recently used first out, within `maxBytes`), and shared by
 * every call that holds with it. A piece is the default tune (generated at start and
 * written to `cacheDir/default.wav` for operators to listen to) or a number's own WAV
 * file under `musicDir`, named by `numbers.hold_music`.
 *
 * The name comes from the database, which the API fills: it is checked again here
 * (a bare file name, no path), and the file's real path must stay inside `musicDir`
 * (a symbolic link out of it is refused). Anything that cannot be played (missing,
 * refused, not a WAV, an unsupported rate, too long) falls back to the default tune,
 * with a log line and a metric: a caller on hold always hears music.
 */

const NAME = new RegExp(HOLD_MUSIC_NAME_PATTERN);
/** The generated tune's name in the cache and in logs. */
export const DEFAULT_MUSIC = 'default';
/** Ten minutes at 8 kHz: longer files are cut there (a loop that long is never heard through). */
const MAX_SAMPLES = 8000 * 600;
/** A WAV file bigger than this is not read at all (16-bit stereo 48 kHz for ten minutes is ~110 MB). */
const MAX_FILE_BYTES = 128 * 1024 * 1024;

export const HOLD_MUSIC_ERRORS = {
  ERR_HOLD_MUSIC_NAME: 'not a bare .wav file name',
  ERR_HOLD_MUSIC_OUTSIDE: 'the file is outside the hold music directory',
  ERR_HOLD_MUSIC_UNREADABLE: 'the file cannot be read',
  ERR_HOLD_MUSIC_FORMAT: 'the file is not a WAV this gateway can play',
} as const;
export type HoldMusicErrorCode = keyof typeof HOLD_MUSIC_ERRORS;
export class HoldMusicError extends CodedError<HoldMusicErrorCode> {}

/** One piece in one codec: whole 20 ms frames of G.711, played from the start, round and round. */
export interface EncodedMusic {
  readonly name: string;
  readonly codec: 'PCMU' | 'PCMA';
  readonly payload: Uint8Array;
}

export interface MusicLibraryOptions {
  /** Where numbers' WAV files are (HOLD_MUSIC_DIR). */
  readonly musicDir: string;
  /** Where the generated default tune is written (HOLD_MUSIC_CACHE_DIR). */
  readonly cacheDir: string;
  /** Encoded music kept in memory, all pieces and codecs together. */
  readonly maxBytes: number;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
  /** Counts pieces that could not be played (the default played instead), by error code. */
  readonly onRefused?: (code: HoldMusicErrorCode) => void;
}

/**
 * Checks a `hold_music` name and returns the file's real path inside `dir`; throws a
 * {@link HoldMusicError} for a name with a path in it, or a file that resolves
 * (through links) outside the directory.
 */
export async function holdMusicPath(dir: string, name: string): Promise<string> {
  if (!NAME.test(name)) throw new HoldMusicError('ERR_HOLD_MUSIC_NAME', HOLD_MUSIC_ERRORS.ERR_HOLD_MUSIC_NAME);
  let root: string;
  let file: string;
  try {
    root = await realpath(dir);
    file = await realpath(join(root, name));
  } catch (err) {
    throw new HoldMusicError('ERR_HOLD_MUSIC_UNREADABLE', (err as Error).message);
  }
  if (!file.startsWith(root + sep))
    throw new HoldMusicError('ERR_HOLD_MUSIC_OUTSIDE', HOLD_MUSIC_ERRORS.ERR_HOLD_MUSIC_OUTSIDE);
  return file;
}

/** PCM16 8 kHz mono from a WAV file of 8 or 16 kHz, mono or stereo (the left channel). */
export function telephoneAudio(wav: Buffer): Int16Array {
  let audio;
  try {
    audio = readWav(wav);
  } catch (err) {
    throw new HoldMusicError('ERR_HOLD_MUSIC_FORMAT', (err as Error).message);
  }
  const mono = wavChannel(audio, 0);
  let pcm: Int16Array;
  if (audio.sampleRate === 8000) pcm = mono;
  else if (audio.sampleRate === 16000) pcm = new Downsampler2x().process(mono);
  else throw new HoldMusicError('ERR_HOLD_MUSIC_FORMAT', `${audio.sampleRate} Hz: hold music must be 8000 or 16000 Hz`);
  const frames = Math.floor(Math.min(pcm.length, MAX_SAMPLES) / 160);
  if (frames === 0) throw new HoldMusicError('ERR_HOLD_MUSIC_FORMAT', 'shorter than 20 ms');
  return pcm.subarray(0, frames * 160);
}

export class MusicLibrary {
  /** Insertion order is recency: a hit moves its entry to the end. */
  private readonly cache = new Map<string, Promise<EncodedMusic>>();
  private readonly sizes = new Map<string, number>();
  private bytes = 0;
  private defaultPcm: Int16Array | null = null;
  /** How many times a piece was decoded and encoded (what the cache saves). */
  encodes = 0;

  constructor(private readonly options: MusicLibraryOptions) {}

  /** Generates the default tune and writes it to the cache directory (kept in memory if that fails). */
  async start(): Promise<void> {
    const pcm = this.defaultTune();
    const path = join(this.options.cacheDir, `${DEFAULT_MUSIC}.wav`);
    try {
      await mkdir(this.options.cacheDir, { recursive: true });
      await writeFile(path, writeWav(pcm, TUNE_RATE));
      this.options.logger.info('default hold music generated', { path, seconds: pcm.length / TUNE_RATE });
    } catch (err) {
      this.options.logger.warn('default hold music not written to its cache directory; it plays from memory', {
        path,
        error: (err as Error).message,
      });
    }
  }

  /** The music for a number (`name` from numbers.hold_music; null: the default) in `codec`. */
  async music(name: string | null, codec: 'PCMU' | 'PCMA'): Promise<EncodedMusic> {
    if (name === null) return this.load(DEFAULT_MUSIC, codec);
    try {
      return await this.load(name, codec);
    } catch (err) {
      const code = err instanceof HoldMusicError ? err.code : 'ERR_HOLD_MUSIC_UNREADABLE';
      this.options.onRefused?.(code);
      this.options.logger.warn("a number's hold music cannot be played; the default plays instead", {
        hold_music: name,
        code,
        error: (err as Error).message,
      });
      return this.load(DEFAULT_MUSIC, codec);
    }
  }

  /** Bytes of encoded music in memory. */
  get cachedBytes(): number {
    return this.bytes;
  }

  private load(name: string, codec: 'PCMU' | 'PCMA'): Promise<EncodedMusic> {
    const key = `${codec}:${name}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    // The promise is cached at once: calls held together while it encodes share one encode.
    const loading = this.encode(name, codec === 'PCMA' ? PCMA : PCMU);
    this.cache.set(key, loading);
    loading.then(
      (music) => this.admit(key, music.payload.length),
      () => this.cache.delete(key),
    );
    return loading;
  }

  private async encode(name: string, codec: G711Codec): Promise<EncodedMusic> {
    let pcm: Int16Array;
    if (name === DEFAULT_MUSIC) pcm = this.defaultTune();
    else {
      const path = await holdMusicPath(this.options.musicDir, name);
      const size = await stat(path).then(
        (s) => s.size,
        (err: Error) => {
          throw new HoldMusicError('ERR_HOLD_MUSIC_UNREADABLE', err.message);
        },
      );
      if (size > MAX_FILE_BYTES) throw new HoldMusicError('ERR_HOLD_MUSIC_FORMAT', `${size} bytes is too big`);
      const file = await readFile(path).catch((err: Error) => {
        throw new HoldMusicError('ERR_HOLD_MUSIC_UNREADABLE', err.message);
      });
      pcm = telephoneAudio(file);
    }
    this.encodes++;
    return { name, codec: codec.name, payload: codec.encode(pcm) };
  }

  private defaultTune(): Int16Array {
    this.defaultPcm ??= generateHoldTune();
    return this.defaultPcm;
  }

  /** Counts a loaded piece, then drops the least recently used ones beyond maxBytes (never the newest). */
  private admit(key: string, size: number): void {
    if (!this.cache.has(key)) return;
    this.sizes.set(key, size);
    this.bytes += size;
    for (const old of this.cache.keys()) {
      if (this.bytes <= this.options.maxBytes) break;
      if (old === key) continue;
      const oldSize = this.sizes.get(old);
      // Still loading: not counted yet, so nothing to free.
      if (oldSize === undefined) continue;
      this.cache.delete(old);
      this.sizes.delete(old);
      this.bytes -= oldSize;
    }
  }
}

/**
 * A call's place in its music: the next 20 ms of G.711 on each tick, from the start
 * of the piece, and round again from its end with no gap (the piece is whole frames).
 */
export class MusicLoop {
  private offset = 0;

  constructor(private readonly music: EncodedMusic) {}

  get codec(): 'PCMU' | 'PCMA' {
    return this.music.codec;
  }

  /** The next 160 bytes; a view into the shared piece, not to be written to. */
  next(): Uint8Array {
    const payload = this.music.payload;
    const frame = payload.subarray(this.offset, this.offset + 160);
    this.offset += 160;
    if (this.offset >= payload.length) this.offset = 0;
    return frame;
  }
}
