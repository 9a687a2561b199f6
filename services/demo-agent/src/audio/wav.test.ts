import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseWav } from './wav';

function wav(channels: number, rate: number, samples: number[]): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => data.writeInt16LE(s, i * 2));
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE(rate * 2 * channels, 8);
  fmt.writeUInt16LE(2 * channels, 12);
  fmt.writeUInt16LE(16, 14);
  const chunk = (id: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.write(id, 0, 'ascii');
    head.writeUInt32LE(body.length, 4);
    return Buffer.concat([head, body, Buffer.alloc(body.length & 1)]); // RIFF pads odd chunks
  };
  const body = Buffer.concat([
    Buffer.from('WAVE'),
    chunk('fmt ', fmt),
    chunk('LIST', Buffer.from('INFOxyz')),
    chunk('data', data),
  ]);
  return Buffer.concat([Buffer.from('RIFF'), Buffer.from(new Uint32Array([body.length]).buffer), body]);
}

describe('parseWav', () => {
  test('espeak-ng\'s stdout WAV (data size 0x7ffff000, "until the end") → 22 050 Hz samples', () => {
    const bytes = readFileSync(join(__dirname, 'fixtures', 'espeak-ng-1.51-yes.wav'));
    expect(bytes.readUInt32LE(40)).toBe(0x7ffff000);
    const pcm = parseWav(bytes);
    expect(pcm.sampleRate).toBe(22050);
    expect(pcm.samples.length).toBe((bytes.length - 44) / 2);
    expect(Math.max(...pcm.samples)).toBeGreaterThan(3000);
  });

  test('skips unknown chunks (odd-sized ones padded) and takes the first channel of stereo', () => {
    const pcm = parseWav(wav(2, 8000, [1, -1, 2, -2, 3, -3]));
    expect(pcm).toEqual({ sampleRate: 8000, samples: new Int16Array([1, 2, 3]) });
  });

  test('not RIFF/WAVE, or not 16-bit PCM → error', () => {
    expect(() => parseWav(Buffer.from('hello world, not a wav'))).toThrow('not a RIFF/WAVE file');
    const eightBit = wav(1, 8000, [1, 2]);
    eightBit.writeUInt16LE(8, 34);
    expect(() => parseWav(eightBit)).toThrow('is not 16-bit PCM');
  });
});
