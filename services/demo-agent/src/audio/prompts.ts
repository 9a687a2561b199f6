import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readWav, wavChannel } from '../../../common/src/audio/wav';
import { chime, concat, keyBeeps, RATE, silence, tone } from './tones';
import { resample } from '../../../common/src/audio/any-rate';

const run = promisify(execFile);

export const GREETING_TEXT = 'Hello, this is the demo agent. Say something, and I will say it back to you.';
export const MENU_TEXT = 'Demo menu. Press any key on your phone.';
export const KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'] as const;

const KEY_NAMES: Readonly<Record<string, string>> = { '*': 'star', '#': 'pound' };

export function pressedText(digit: string): string {
  return `You pressed ${KEY_NAMES[digit] ?? digit}.`;
}

/** Everything the agent says, rendered once at start-up as PCM16 16 kHz. */
export interface Prompts {
  /** 'espeak-ng' when a voice was found at start-up, else 'tones' */
  readonly voice: 'espeak-ng' | 'tones';
  readonly greeting: Int16Array;
  readonly menu: Int16Array;
  pressed(digit: string): Int16Array;
}

/** The espeak-ng binary on PATH, or null. */
export function findEspeak(command = 'espeak-ng'): string | null {
  const probe = spawnSync(command, ['--version'], { encoding: 'utf8', timeout: 5000 });
  return probe.status === 0 ? command : null;
}

/** Speaks `text` with espeak-ng and returns it as PCM16 at 16 kHz. */
export async function speak(command: string, text: string): Promise<Int16Array> {
  const { stdout } = await run(command, ['--stdout', '-v', 'en-us', '-s', '165', '--', text], {
    encoding: 'buffer',
    maxBuffer: 32 * 1024 * 1024,
    timeout: 20000,
  });
  const wav = readWav(stdout);
  return resample(wavChannel(wav), wav.sampleRate, RATE);
}

/** Renders the prompts with espeak-ng if `command` is given, else as tone patterns. */
export async function renderPrompts(command: string | null): Promise<Prompts> {
  if (command === null) {
    const pressed = new Map(KEYS.map((k) => [k, keyBeeps(k)] as const));
    return {
      voice: 'tones',
      greeting: chime(),
      menu: concat([tone([440], 300), silence(100), tone([440], 300)]),
      pressed: (digit) => pressed.get(digit as (typeof KEYS)[number]) ?? keyBeeps(digit),
    };
  }
  const [greeting, menu, ...keys] = await Promise.all([
    speak(command, GREETING_TEXT),
    speak(command, MENU_TEXT),
    ...KEYS.map((k) => speak(command, pressedText(k))),
  ]);
  const pressed = new Map(KEYS.map((k, i) => [k, keys[i] as Int16Array] as const));
  return {
    voice: 'espeak-ng',
    greeting: greeting,
    menu: menu,
    pressed: (digit) => pressed.get(digit as (typeof KEYS)[number]) ?? new Int16Array(0),
  };
}
