import { FRAME_SAMPLES_16K, PlayoutQueue, type MarkAck } from './playout';

const ms = (n: number, value = 1000): Int16Array => new Int16Array(n * 16).fill(value);

function queue(maxMs?: number): { q: PlayoutQueue; acks: MarkAck[] } {
  const acks: MarkAck[] = [];
  return { q: new PlayoutQueue((a) => acks.push(a), maxMs), acks };
}

describe('PlayoutQueue', () => {
  test('AI audio in odd-sized chunks → whole 20 ms frames, in order', () => {
    const { q } = queue();
    const ramp = Int16Array.from({ length: 1000 }, (_, i) => i);
    q.push(ramp.subarray(0, 333));
    q.push(ramp.subarray(333));
    const a = q.nextFrame();
    const b = q.nextFrame();
    const c = q.nextFrame();
    expect(a?.length).toBe(FRAME_SAMPLES_16K);
    expect(Array.from(a!.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(b![0]).toBe(320);
    expect(c![0]).toBe(640);
  });

  test('nothing queued → null (the caller plays comfort silence)', () => {
    const { q } = queue();
    expect(q.nextFrame()).toBeNull();
  });

  test('a short tail waits one tick for more audio, then plays padded with silence', () => {
    const { q } = queue();
    q.push(ms(10));
    expect(q.nextFrame()).toBeNull();
    const f = q.nextFrame();
    expect(f![159]).toBe(1000);
    expect(f![160]).toBe(0);
    expect(q.queuedMs).toBe(0);
  });

  test("a mark is acknowledged after the audio before it played, with that audio's length", () => {
    const { q, acks } = queue();
    q.push(ms(60));
    q.mark('greeting');
    q.push(ms(40));
    q.mark('question');
    q.nextFrame();
    q.nextFrame();
    expect(acks).toEqual([]);
    q.nextFrame();
    expect(acks).toEqual([{ name: 'greeting', playedMs: 60, truncated: false }]);
    q.nextFrame();
    q.nextFrame();
    expect(acks[1]).toEqual({ name: 'question', playedMs: 40, truncated: false });
  });

  test('a mark with nothing queued is acknowledged at once', () => {
    const { q, acks } = queue();
    q.mark('empty');
    expect(acks).toEqual([{ name: 'empty', playedMs: 0, truncated: false }]);
  });

  test('clear (barge-in) stops playback at the next frame and truncates pending marks honestly', () => {
    const { q, acks } = queue();
    q.push(ms(100));
    q.mark('long');
    q.push(ms(100));
    q.mark('later');
    q.nextFrame();
    q.nextFrame(); // 40 ms of 'long' played
    q.clear();
    expect(q.nextFrame()).toBeNull();
    expect(acks).toEqual([
      { name: 'long', playedMs: 40, truncated: true },
      { name: 'later', playedMs: 0, truncated: true },
    ]);
    // Audio after the clear plays normally and its marks count from the clear.
    q.push(ms(20));
    q.mark('after');
    q.nextFrame();
    expect(acks[2]).toEqual({ name: 'after', playedMs: 20, truncated: false });
  });

  test('beyond maxQueuedMs the oldest audio is dropped, never unbounded growth', () => {
    const { q } = queue(100);
    for (let i = 0; i < 10; i++) q.push(ms(20, i));
    expect(q.queuedMs).toBe(100);
    expect(q.nextFrame()![0]).toBe(5);
    expect(q.stats().samplesDropped).toBe(100 * 16);
  });
});
