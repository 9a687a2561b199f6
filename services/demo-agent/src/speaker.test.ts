import { Speaker } from './speaker';

const ms = (n: number): Int16Array => new Int16Array((n * 16000) / 1000).fill(100);

function setup(options = { chunkMs: 100, leadMs: 300 }) {
  const sent: (number | string)[] = [];
  const speaker = new Speaker(
    { audio: (pcm) => sent.push((pcm.length * 1000) / 16000), mark: (name) => sent.push(name) },
    options,
  );
  return { speaker, sent };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  expect(jest.getTimerCount()).toBe(0);
  jest.useRealTimers();
});

describe('Speaker', () => {
  test('sends chunks up to leadMs ahead of real time, then one chunk per chunk of real time', () => {
    const { speaker, sent } = setup();
    speaker.say(ms(1000), 'done');
    expect(sent).toEqual([100, 100, 100]);
    jest.advanceTimersByTime(100);
    expect(sent).toEqual([100, 100, 100, 100]);
    // chunk k goes out once less than 300 ms are queued ahead: the last at t = 620 ms
    jest.advanceTimersByTime(600);
    expect(sent).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 'done']);
    expect(speaker.speaking).toBe(true);
    jest.advanceTimersByTime(300);
    expect(speaker.speaking).toBe(false);
  });

  test('a mark follows the last chunk of its prompt, before the next prompt', () => {
    const { speaker, sent } = setup();
    speaker.say(ms(150), 'first');
    speaker.say(ms(50), 'second');
    expect(sent).toEqual([100, 50, 'first', 50, 'second']);
  });

  test('clear() forgets what was not sent, including its mark, and says whether anything was playing', () => {
    const { speaker, sent } = setup();
    expect(speaker.clear()).toBe(false);
    speaker.say(ms(1000), 'never');
    expect(speaker.clear()).toBe(true);
    jest.advanceTimersByTime(2000);
    expect(sent).toEqual([100, 100, 100]);
  });

  test('pause() stops sending; resume() carries on from the same place', () => {
    const { speaker, sent } = setup();
    speaker.say(ms(600), 'end');
    speaker.pause();
    jest.advanceTimersByTime(1000);
    expect(sent).toEqual([100, 100, 100]);
    speaker.resume();
    jest.advanceTimersByTime(1000);
    expect(sent).toEqual([100, 100, 100, 100, 100, 100, 'end']);
  });

  test('close() stops everything for good', () => {
    const { speaker, sent } = setup();
    speaker.say(ms(1000));
    speaker.close();
    speaker.say(ms(100));
    jest.advanceTimersByTime(2000);
    expect(sent).toEqual([100, 100, 100]);
  });
});
