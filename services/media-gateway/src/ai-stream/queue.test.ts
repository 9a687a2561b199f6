import { OutboundQueue } from './queue';

describe('OutboundQueue', () => {
  test('audio beyond the bound drops the oldest frames and counts them', () => {
    const q = new OutboundQueue(3);
    for (const f of ['a1', 'a2', 'a3', 'a4', 'a5']) q.pushAudio(f);
    expect(q.audioLength).toBe(3);
    expect(q.droppedAudio).toBe(2);
    expect([q.shift()?.frame, q.shift()?.frame, q.shift()?.frame, q.shift()]).toEqual(['a3', 'a4', 'a5', undefined]);
  });

  test('control frames leave before audio, in their own order', () => {
    const q = new OutboundQueue(4);
    q.pushAudio('a1');
    q.pushControl('c1');
    q.pushAudio('a2');
    q.pushControl('c2');
    expect(Array.from({ length: 4 }, () => q.shift())).toEqual([
      { frame: 'c1', kind: 'control' },
      { frame: 'c2', kind: 'control' },
      { frame: 'a1', kind: 'audio' },
      { frame: 'a2', kind: 'audio' },
    ]);
  });

  test('control frames are bounded too, oldest dropped and counted', () => {
    const q = new OutboundQueue(1, 2);
    q.pushControl('c1');
    q.pushControl('c2');
    q.pushControl('c3');
    expect(q.droppedControl).toBe(1);
    expect(q.shift()?.frame).toBe('c2');
  });

  test('takeDroppedAudio reports drops since the last call once', () => {
    const q = new OutboundQueue(1);
    q.pushAudio('a1');
    q.pushAudio('a2');
    q.pushAudio('a3');
    expect(q.takeDroppedAudio()).toBe(2);
    expect(q.takeDroppedAudio()).toBe(0);
    expect(q.droppedAudio).toBe(2);
  });

  test('clearAudio forgets audio but keeps control frames', () => {
    const q = new OutboundQueue(5);
    q.pushAudio('a1');
    q.pushControl('c1');
    q.clearAudio();
    expect(q.length).toBe(1);
    expect(q.shift()?.frame).toBe('c1');
  });

  test('wraps around its ring many times without losing order', () => {
    const q = new OutboundQueue(4);
    const out: string[] = [];
    for (let i = 0; i < 100; i++) {
      q.pushAudio(`a${i}`);
      if (i % 3 === 0) out.push(q.shift()?.frame as string);
    }
    while (q.length > 0) out.push(q.shift()?.frame as string);
    const numbers = out.map((f) => Number(f.slice(1)));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(numbers.length + q.droppedAudio).toBe(100);
  });
});
