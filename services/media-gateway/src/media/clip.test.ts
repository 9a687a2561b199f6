import { PCMA, PCMU } from '../../../common/src/audio/g711';
import { G711Clip, isStoppable } from './clip';

describe('G711Clip', () => {
  test('from PCM → encoded once in the codec, 20 ms frames, the last padded with silence, then silence', () => {
    const pcm = new Int16Array(200).fill(8000);
    const clip = G711Clip.fromPcm(pcm, 'PCMA');
    expect(clip.durationMs).toBe(40);
    const first = clip.next();
    expect(first).toHaveLength(160);
    expect(first.every((b) => b === PCMA.encode(new Int16Array([8000]))[0])).toBe(true);
    const second = clip.next();
    expect(second.subarray(40).every((b) => b === PCMA.silence)).toBe(true);
    expect(second[0]).toBe(first[0]);
    expect(clip.ended).toBe(true);
    expect(clip.next().every((b) => b === PCMA.silence)).toBe(true);
  });

  test('done resolves on the last frame, not before; stop() resolves it at once and is idempotent', async () => {
    const clip = new G711Clip(new Uint8Array(320), PCMU);
    let done = false;
    void clip.done.then(() => (done = true));
    clip.next();
    await Promise.resolve();
    expect(done).toBe(false);
    clip.next();
    await Promise.resolve();
    expect(done).toBe(true);
    const other = new G711Clip(new Uint8Array(16000), PCMU);
    other.stop();
    other.stop();
    await expect(other.done).resolves.toBeUndefined();
    expect(isStoppable(other)).toBe(true);
    expect(isStoppable({ next: () => new Uint8Array(160) })).toBe(false);
  });

  test('an empty clip is over at once', async () => {
    const clip = new G711Clip(new Uint8Array(0), PCMU);
    await expect(clip.done).resolves.toBeUndefined();
    expect(clip.next().every((b) => b === PCMU.silence)).toBe(true);
  });
});
