import { renderPrompts, type Prompts } from './audio/prompts';
import { Conversation, ECHO_DELAY_MS, ECHO_MARK_EVERY, type Mode } from './conversation';

let prompts: Prompts;
beforeAll(async () => {
  prompts = await renderPrompts(null);
});

function setup(mode: Mode) {
  const out: (string | [string, number])[] = [];
  const conversation = new Conversation(
    mode,
    {
      speak: (pcm) => out.push(['speak', pcm.length]),
      echo: (payload) => out.push(['echo', payload.readInt16LE(0)]),
      text: (text) => out.push(`text:${text}`),
      mark: (name) => out.push(`mark:${name}`),
      clear: () => out.push('clear'),
    },
    prompts,
    { chunkMs: 100, leadMs: 100_000 },
  );
  return { conversation, out };
}

const frame = (n: number): Buffer => {
  const b = Buffer.alloc(640);
  b.writeInt16LE(n, 0);
  return b;
};

beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  expect(jest.getTimerCount()).toBe(0);
  jest.useRealTimers();
});

describe('Conversation', () => {
  test('echo: each frame comes back ECHO_DELAY_MS later, in order, with a mark every ECHO_MARK_EVERY frames', () => {
    const { conversation, out } = setup('echo');
    conversation.start(false);
    for (let i = 1; i <= ECHO_MARK_EVERY; i++) {
      conversation.onAudio(frame(i));
      jest.advanceTimersByTime(20);
    }
    // frame i arrived at (i − 1)·20 ms and is due ECHO_DELAY_MS later; the clock is at ECHO_MARK_EVERY·20 ms
    expect(out.filter((o) => o[0] === 'echo').length).toBe(ECHO_MARK_EVERY - ECHO_DELAY_MS / 20 + 1);
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out).toEqual([...Array.from({ length: ECHO_MARK_EVERY }, (_, i) => ['echo', i + 1]), 'mark:echo-1']);
    conversation.close();
  });

  test('greeting: text, the greeting audio and its mark; echo starts once the mark is acknowledged', () => {
    const { conversation, out } = setup('greeting');
    conversation.start(false);
    const spoken = out.filter((o) => o[0] === 'speak').reduce((n, o) => n + (o[1] as number), 0);
    expect(spoken).toBe(prompts.greeting.length);
    expect(out[0]).toMatch(/^text:Hello/);
    expect(out.at(-1)).toBe('mark:greeting');
    conversation.onAudio(frame(7));
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out.some((o) => o[0] === 'echo')).toBe(false);
    conversation.onMarkPlayed('greeting');
    conversation.onAudio(frame(8));
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out.at(-1)).toEqual(['echo', 8]);
    conversation.close();
  });

  test('greeting: a key press while it plays → clear, and echo starts', () => {
    const { conversation, out } = setup('greeting');
    conversation.start(false);
    conversation.onDtmf('1');
    expect(out.at(-1)).toBe('clear');
    conversation.onAudio(frame(3));
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out.at(-1)).toEqual(['echo', 3]);
    conversation.close();
  });

  test('greeting: without the mark coming back, echo starts anyway after the greeting plus a grace period', () => {
    const { conversation, out } = setup('greeting');
    conversation.start(false);
    jest.advanceTimersByTime((prompts.greeting.length / 16000) * 1000 + 2000);
    conversation.onAudio(frame(5));
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out.at(-1)).toEqual(['echo', 5]);
    conversation.close();
  });

  test('greeting after a reconnect: no second greeting, straight to echo', () => {
    const { conversation, out } = setup('greeting');
    conversation.start(true);
    conversation.onAudio(frame(9));
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out).toEqual([['echo', 9]]);
    conversation.close();
  });

  test('dtmf-menu: the menu, then each key clears what is playing and says which key it was', () => {
    const { conversation, out } = setup('dtmf-menu');
    conversation.start(false);
    expect(out.at(-1)).toBe('mark:menu');
    out.length = 0;
    conversation.onDtmf('5');
    expect(out[0]).toBe('clear');
    expect(out[1]).toBe('text:You pressed 5.');
    expect(out.filter((o) => o[0] === 'speak').reduce((n, o) => n + (o[1] as number), 0)).toBe(
      prompts.pressed('5').length,
    );
    expect(out.at(-1)).toBe('mark:pressed-5');
    out.length = 0;
    conversation.onDtmf('#');
    expect(out.slice(0, 2)).toEqual(['clear', 'text:You pressed pound.']);
    conversation.close();
  });

  test('hold stops the echo; resume brings it back', () => {
    const { conversation, out } = setup('echo');
    conversation.start(false);
    conversation.pause(true);
    conversation.onAudio(frame(1));
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    conversation.resume(true);
    conversation.onAudio(frame(2));
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out).toEqual([['echo', 2]]);
    conversation.close();
  });

  test('close() cancels pending echoes', () => {
    const { conversation, out } = setup('echo');
    conversation.start(false);
    conversation.onAudio(frame(1));
    conversation.close();
    jest.advanceTimersByTime(ECHO_DELAY_MS);
    expect(out).toEqual([]);
  });
});
