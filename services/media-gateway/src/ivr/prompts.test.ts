import { tmpdir } from 'node:os';
import { PCMU } from '../../../common/src/audio/g711';
import { measureTone, tone, toInt16 } from '../../../common/src/audio/signals';
import { writeWav } from '../../../common/src/audio/wav';
import { encodePrompt, PromptLibrary, type PromptRows } from './prompts';
import { EspeakTts, type RunFile } from './tts';

const logger = { info: () => undefined, warn: () => undefined };

function rows(files: Record<string, { audio: Buffer; sha256: string }>) {
  const reads: string[] = [];
  const r: PromptRows = {
    promptHash: async (name) => files[name]?.sha256 ?? null,
    promptAudio: async (name) => {
      reads.push(name);
      return files[name] ?? null;
    },
  };
  return { r, reads };
}

const noTts = (run: RunFile = async () => undefined) =>
  new EspeakTts({ command: 'espeak-ng', defaultVoice: 'en-us', timeoutMs: 1000, cacheDir: tmpdir(), logger, run });

describe('prompt library', () => {
  test('an uploaded 16 kHz stereo WAV → whole frames of the call law at 8 kHz; cached until its sha256 changes', async () => {
    const left = toInt16(tone(16000, 16000, 600, 6000));
    const stereo = new Int16Array(32000);
    for (let i = 0; i < 16000; i++) stereo[2 * i] = stereo[2 * i + 1] = left[i] as number;
    const files = { 'welcome.wav': { audio: writeWav(stereo, 16000, 2), sha256: 'a'.repeat(64) } };
    const { r, reads } = rows(files);
    const lib = new PromptLibrary({ tts: noTts(), rows: r, maxBytes: 1 << 20, logger });
    const payload = await lib.encoded({ file: 'welcome.wav' }, 'PCMU');
    expect(payload.length).toBe(8000);
    expect(measureTone(PCMU.decode(payload), 8000, 600, 400, 7200).amplitude).toBeGreaterThan(5800);
    await lib.encoded({ file: 'welcome.wav' }, 'PCMU');
    expect(reads).toEqual(['welcome.wav']);
    // Each law is its own entry; a replaced upload (new sha256) is read again.
    await lib.encoded({ file: 'welcome.wav' }, 'PCMA');
    files['welcome.wav'].sha256 = 'b'.repeat(64);
    await lib.encoded({ file: 'welcome.wav' }, 'PCMU');
    expect(reads).toEqual(['welcome.wav', 'welcome.wav', 'welcome.wav']);
  });

  test('no such upload → ERR_IVR_PROMPT_NOT_FOUND; not a WAV, or shorter than 20 ms → ERR_IVR_PROMPT_FORMAT', async () => {
    const { r } = rows({
      'junk.wav': { audio: Buffer.from('RIFF....WAVEjunk'), sha256: 'c'.repeat(64) },
      'mp3.wav': { audio: Buffer.from('ID3\x03\x00\x00\x00'), sha256: 'd'.repeat(64) },
      'tiny.wav': { audio: writeWav(new Int16Array(40), 8000), sha256: 'e'.repeat(64) },
    });
    const lib = new PromptLibrary({ tts: noTts(), rows: r, maxBytes: 1 << 20, logger });
    await expect(lib.encoded({ file: 'missing.wav' }, 'PCMU')).rejects.toMatchObject({
      code: 'ERR_IVR_PROMPT_NOT_FOUND',
    });
    for (const file of ['junk.wav', 'mp3.wav', 'tiny.wav'])
      await expect(lib.encoded({ file }, 'PCMU')).rejects.toMatchObject({ code: 'ERR_IVR_PROMPT_FORMAT' });
  });

  test('memory is bounded: the least recently played prompt goes first', async () => {
    const second = (sha: string) => ({ audio: writeWav(new Int16Array(8000).fill(1000), 8000), sha256: sha });
    const { r, reads } = rows({ 'a.wav': second('a'), 'b.wav': second('b'), 'c.wav': second('c') });
    const lib = new PromptLibrary({ tts: noTts(), rows: r, maxBytes: 16_000, logger });
    await lib.encoded({ file: 'a.wav' }, 'PCMU');
    await lib.encoded({ file: 'b.wav' }, 'PCMU');
    await lib.encoded({ file: 'a.wav' }, 'PCMU');
    await lib.encoded({ file: 'c.wav' }, 'PCMU'); // b goes
    expect(lib.cachedBytes).toBe(16_000);
    await lib.encoded({ file: 'a.wav' }, 'PCMU');
    await lib.encoded({ file: 'b.wav' }, 'PCMU');
    expect(reads).toEqual(['a.wav', 'b.wav', 'c.wav', 'b.wav']);
  });

  test('encodePrompt pads the last frame with silence', () => {
    const out = encodePrompt(new Int16Array(170).fill(5000), 'PCMA');
    expect(out.length).toBe(320);
    expect(out[200]).toBe(0xd5);
  });
});
