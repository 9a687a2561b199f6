import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interleave, StereoWavRecorder } from './wav';

describe('WAV recording', () => {
  test('interleave → caller left, AI right', () => {
    const out = interleave(Int16Array.of(1, -2), Int16Array.of(300, -400));
    expect([out.readInt16LE(0), out.readInt16LE(2), out.readInt16LE(4), out.readInt16LE(6)]).toEqual([
      1, 300, -2, -400,
    ]);
  });

  test('a recorded call → a file whose header sizes match its frames', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'wav-')), 'call.wav');
    const rec = new StereoWavRecorder(path);
    for (let i = 0; i < 50; i++) rec.write(new Int16Array(160).fill(i), new Int16Array(160).fill(-i));
    const bytes = await rec.close();
    const file = readFileSync(path);
    expect(bytes).toBe(44 + 50 * 160 * 4);
    expect(file.length).toBe(bytes);
    expect(file.readUInt32LE(40)).toBe(50 * 160 * 4);
    expect(file.readInt16LE(44 + 49 * 640)).toBe(49);
    expect(file.readInt16LE(44 + 49 * 640 + 2)).toBe(-49);
  });
});
