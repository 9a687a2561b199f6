import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureTone, tone, toInt16 } from '../../../common/src/audio/signals';
import { readWav, writeWav } from '../../../common/src/audio/wav';
import { EspeakTts, telephonePcm, ttsKey, type RunFile } from './tts';

const logger = { info: () => undefined, warn: () => undefined };
const hasEspeak = spawnSync('espeak-ng', ['--version']).status === 0;
/**
 * espeak-ng is installed by scripts/bootstrap.sh (npm test, CI): there its absence fails these
 * tests. Run without it (jest alone, on a bare checkout), they are skipped with a title saying so.
 */
const withEspeak = (title: string, fn: () => Promise<void>, timeoutMs?: number): void => {
  if (hasEspeak || process.env['CI']) test(title, fn, timeoutMs);
  else test.skip(`${title} (needs espeak-ng on PATH: scripts/bootstrap.sh installs it)`, fn, timeoutMs);
};
if (!hasEspeak) console.log('espeak-ng is not on PATH: its tests are skipped (CI=true fails them instead)');

function rms(pcm: Int16Array): number {
  let e = 0;
  for (const v of pcm) e += v * v;
  return Math.sqrt(e / Math.max(1, pcm.length));
}

describe('espeak-ng prompts', () => {
  withEspeak(
    'text → 8 kHz speech, written to the cache as <sha256(voice, text)>.wav; another gateway reads it instead of speaking',
    async () => {
      const cacheDir = mkdtempSync(join(tmpdir(), 'ivr-tts-'));
      const tts = new EspeakTts({ command: 'espeak-ng', defaultVoice: 'en-us', timeoutMs: 10_000, cacheDir, logger });
      const text = 'Press one for sales.';
      const [a, b] = await Promise.all([tts.speak(text), tts.speak(text)]);
      expect(tts.renders).toBe(1);
      expect(a).toBe(b);
      // About a second of speech, not silence.
      expect(a.length).toBeGreaterThan(4000);
      expect(a.length).toBeLessThan(8000 * 4);
      expect(rms(a)).toBeGreaterThan(500);
      const file = `${ttsKey('en-us', text)}.wav`;
      expect(readdirSync(cacheDir)).toEqual([file]);
      const cached = readWav(readFileSync(join(cacheDir, file)));
      expect(cached).toMatchObject({ sampleRate: 8000, channels: 1 });

      const restarted = new EspeakTts({
        command: 'espeak-ng',
        defaultVoice: 'en-us',
        timeoutMs: 10_000,
        cacheDir,
        logger,
      });
      expect(await restarted.speak(text)).toEqual(a);
      expect(restarted.renders).toBe(0);
      // Another voice is another prompt.
      expect(ttsKey('de', text)).not.toBe(ttsKey('en-us', text));
    },
  );

  withEspeak('a text that starts with a dash is spoken, not taken for an option', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'ivr-tts-'));
    const tts = new EspeakTts({ command: 'espeak-ng', defaultVoice: 'en-us', timeoutMs: 10_000, cacheDir, logger });
    const pcm = await tts.speak('--version please');
    expect(rms(pcm)).toBeGreaterThan(500);
  });

  test('a voice that is not a voice name, an empty or huge text → ERR_IVR_TTS_INPUT, nothing run', async () => {
    const runs: string[][] = [];
    const run: RunFile = async (_c, args) => void runs.push([...args]);
    const tts = new EspeakTts({
      command: 'espeak-ng',
      defaultVoice: 'en-us',
      timeoutMs: 1000,
      cacheDir: tmpdir(),
      logger,
      run,
    });
    expect(() => tts.speak('hello', '--stdout')).toThrow(expect.objectContaining({ code: 'ERR_IVR_TTS_INPUT' }));
    expect(() => tts.speak('hello', 'en us')).toThrow(expect.objectContaining({ code: 'ERR_IVR_TTS_INPUT' }));
    expect(() => tts.speak('   ')).toThrow(expect.objectContaining({ code: 'ERR_IVR_TTS_INPUT' }));
    expect(() => tts.speak('x'.repeat(4001))).toThrow(expect.objectContaining({ code: 'ERR_IVR_TTS_INPUT' }));
    expect(runs).toEqual([]);
  });

  test('espeak-ng killed at its timeout, missing, or writing no WAV → ERR_IVR_TTS_FAILED / _OUTPUT; nothing cached', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'ivr-tts-'));
    const slow: RunFile = async () => {
      throw Object.assign(new Error('killed'), { killed: true });
    };
    const tts = new EspeakTts({
      command: 'espeak-ng',
      defaultVoice: 'en-us',
      timeoutMs: 500,
      cacheDir,
      logger,
      run: slow,
    });
    await expect(tts.speak('slow')).rejects.toMatchObject({
      code: 'ERR_IVR_TTS_FAILED',
      message: 'espeak-ng took longer than 500 ms',
    });
    const missing = new EspeakTts({
      command: '/nonexistent/espeak-ng',
      defaultVoice: 'en-us',
      timeoutMs: 500,
      cacheDir,
      logger,
    });
    await expect(missing.speak('hello')).rejects.toMatchObject({ code: 'ERR_IVR_TTS_FAILED' });
    const silent = new EspeakTts({ command: 'true', defaultVoice: 'en-us', timeoutMs: 500, cacheDir, logger });
    await expect(silent.speak('hello')).rejects.toMatchObject({ code: 'ERR_IVR_TTS_OUTPUT' });
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  test('telephonePcm: a 44.1 kHz stereo WAV → 8 kHz mono (channels averaged), a 1 kHz tone kept', () => {
    const n = 44100;
    const left = toInt16(tone(n, 44100, 1000, 8000));
    // The right channel is silent: the mix is the left at half its level.
    const right = new Int16Array(n);
    const stereo = new Int16Array(2 * n);
    for (let i = 0; i < n; i++) {
      stereo[2 * i] = left[i] as number;
      stereo[2 * i + 1] = right[i] as number;
    }
    const pcm = telephonePcm(writeWav(stereo, 44100, 2));
    expect(pcm.length).toBe(8000);
    const t = measureTone(pcm.subarray(400, 7600), 8000, 1000);
    expect(t.amplitude).toBeGreaterThan(3900);
    expect(t.amplitude).toBeLessThan(4100);
  });
});
