import { findEspeak, KEYS, renderPrompts } from './prompts';

describe('renderPrompts', () => {
  test('without a voice → tone patterns, one per key', async () => {
    const prompts = await renderPrompts(null);
    expect(prompts.voice).toBe('tones');
    expect(prompts.greeting.length).toBeGreaterThan(8000);
    for (const key of KEYS) expect(prompts.pressed(key).length).toBeGreaterThan(0);
  });

  test('findEspeak → null for a command that is not there', () => {
    expect(findEspeak('espeak-ng-that-does-not-exist')).toBeNull();
  });

  test('with the voice found on this machine → speech at 16 kHz when it is espeak-ng, tones otherwise', async () => {
    const espeak = findEspeak();
    const prompts = await renderPrompts(espeak);
    expect(prompts.voice).toBe(espeak ? 'espeak-ng' : 'tones');
    // The greeting is a sentence: seconds of audio with a voice, under one second of chime without.
    const seconds = prompts.greeting.length / 16000;
    if (prompts.voice === 'espeak-ng') expect(seconds).toBeGreaterThan(2);
    else expect(seconds).toBeLessThan(1);
    expect(prompts.pressed('5').length).toBeGreaterThan(4000);
  }, 30_000);
});
