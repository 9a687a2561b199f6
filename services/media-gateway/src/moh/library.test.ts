import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAlaw, encodeUlaw } from '../../../common/src/audio/g711';
import { readWav, writeWav } from '../../../common/src/audio/wav';
import { holdMusicPath, HoldMusicError, MusicLibrary, MusicLoop, telephoneAudio } from './library';
import { generateHoldTune, TUNE_SAMPLES } from './tune';

const quiet = { info: () => undefined, warn: () => undefined };

function sine(hz: number, samples: number, rate: number): Int16Array {
  return Int16Array.from({ length: samples }, (_, n) => Math.round(8000 * Math.sin((2 * Math.PI * hz * n) / rate)));
}

function setup(maxBytes = 10_000_000): {
  dir: string;
  cache: string;
  library: MusicLibrary;
  refused: string[];
  warnings: string[];
} {
  const root = mkdtempSync(join(tmpdir(), 'moh-'));
  const dir = join(root, 'music');
  const cache = join(root, 'cache');
  mkdirSync(dir);
  const refused: string[] = [];
  const warnings: string[] = [];
  const library = new MusicLibrary({
    musicDir: dir,
    cacheDir: cache,
    maxBytes,
    logger: { info: () => undefined, warn: (m: string) => warnings.push(m) },
    onRefused: (code) => refused.push(code),
  });
  return { dir, cache, library, refused, warnings };
}

describe('hold music file names', () => {
  const { dir } = setup();
  writeFileSync(join(dir, 'jazz.wav'), writeWav(sine(440, 800, 8000), 8000));

  test('a bare .wav name resolves inside the directory', async () => {
    await expect(holdMusicPath(dir, 'jazz.wav')).resolves.toBe(join(dir, 'jazz.wav'));
  });

  test.each(['../jazz.wav', '..', 'sub/jazz.wav', '/etc/passwd', '.hidden.wav', 'jazz.mp3', 'jazz.wav\0.txt', ''])(
    '%j is refused as a name, before the file system is asked',
    async (name) => {
      await expect(holdMusicPath(dir, name)).rejects.toMatchObject({ code: 'ERR_HOLD_MUSIC_NAME' });
    },
  );

  test('a link that leads out of the directory is refused', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'moh-outside-'));
    writeFileSync(join(outside, 'secret.wav'), writeWav(sine(440, 800, 8000), 8000));
    symlinkSync(join(outside, 'secret.wav'), join(dir, 'escape.wav'));
    await expect(holdMusicPath(dir, 'escape.wav')).rejects.toMatchObject({ code: 'ERR_HOLD_MUSIC_OUTSIDE' });
  });

  test('a missing file is unreadable', async () => {
    await expect(holdMusicPath(dir, 'nope.wav')).rejects.toBeInstanceOf(HoldMusicError);
  });
});

describe('telephoneAudio', () => {
  test('16 kHz stereo becomes 8 kHz mono, cut to whole 20 ms frames', () => {
    const left = sine(500, 16000 + 100, 16000);
    const stereo = new Int16Array(left.length * 2);
    left.forEach((v, i) => (stereo[2 * i] = v));
    const pcm = telephoneAudio(writeWav(stereo, 16000, 2));
    expect(pcm.length).toBe(8000);
  });

  test('other rates and non-WAV files are refused with a stable code', () => {
    expect(() => telephoneAudio(writeWav(sine(500, 4410, 44100), 44100))).toThrow(
      expect.objectContaining({ code: 'ERR_HOLD_MUSIC_FORMAT' }),
    );
    expect(() => telephoneAudio(Buffer.from('ID3 not a wav at all'))).toThrow(
      expect.objectContaining({ code: 'ERR_HOLD_MUSIC_FORMAT' }),
    );
  });
});

describe('MusicLibrary', () => {
  test('start() writes the generated default tune to the cache directory', async () => {
    const { cache, library } = setup();
    await library.start();
    const wav = readWav(readFileSync(join(cache, 'default.wav')));
    expect(wav.sampleRate).toBe(8000);
    expect(Array.from(wav.pcm)).toEqual(Array.from(generateHoldTune()));
  });

  test('each piece is encoded once per codec, however many calls hold with it at once', async () => {
    const { dir, library } = setup();
    writeFileSync(join(dir, 'jazz.wav'), writeWav(sine(440, 8000, 8000), 8000));
    const first = await Promise.all([1, 2, 3, 4, 5].map(() => library.music('jazz.wav', 'PCMU')));
    const again = await library.music('jazz.wav', 'PCMU');
    expect(library.encodes).toBe(1);
    expect(new Set([...first, again]).size).toBe(1);
    expect(Buffer.from(again.payload)).toEqual(Buffer.from(encodeUlaw(sine(440, 8000, 8000))));
    await library.music('jazz.wav', 'PCMA');
    await library.music(null, 'PCMA');
    await library.music(null, 'PCMA');
    expect(library.encodes).toBe(3);
  });

  test('a missing or hostile piece plays the default tune instead, logged and counted', async () => {
    const { library, refused, warnings } = setup();
    const music = await library.music('../../etc/passwd', 'PCMA');
    expect(music.name).toBe('default');
    const missing = await library.music('gone.wav', 'PCMA');
    expect(missing.name).toBe('default');
    expect(refused).toEqual(['ERR_HOLD_MUSIC_NAME', 'ERR_HOLD_MUSIC_UNREADABLE']);
    expect(warnings).toHaveLength(2);
    expect(Array.from(decodeAlaw(music.payload).subarray(0, 5))).toHaveLength(5);
  });

  test('memory stays within maxBytes: the least recently used piece goes first', async () => {
    const { dir, library } = setup(20_000);
    for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, `${n}.wav`), writeWav(sine(440, 8000, 8000), 8000));
    await library.music('a.wav', 'PCMU');
    await library.music('b.wav', 'PCMU');
    await library.music('a.wav', 'PCMU');
    await library.music('c.wav', 'PCMU');
    expect(library.cachedBytes).toBeLessThanOrEqual(20_000);
    expect(library.encodes).toBe(3);
    await library.music('a.wav', 'PCMU');
    expect(library.encodes).toBe(3);
    await library.music('b.wav', 'PCMU');
    expect(library.encodes).toBe(4);
  });
});

describe('MusicLoop', () => {
  test('plays the piece frame by frame and starts again with no gap', async () => {
    const library = new MusicLibrary({ musicDir: tmpdir(), cacheDir: tmpdir(), maxBytes: 1e7, logger: quiet });
    const music = await library.music(null, 'PCMU');
    const loop = new MusicLoop(music);
    const frames = TUNE_SAMPLES / 160;
    const played: Uint8Array[] = [];
    for (let i = 0; i < frames + 2; i++) played.push(Uint8Array.from(loop.next()));
    expect(played.every((f) => f.length === 160)).toBe(true);
    expect(Buffer.concat(played.slice(0, frames))).toEqual(Buffer.from(music.payload));
    expect(played[frames]).toEqual(played[0]);
    expect(played[frames + 1]).toEqual(played[1]);
  });
});
