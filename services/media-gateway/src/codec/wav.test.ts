import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAlaw, encodeUlaw } from './g711';
import { readWav, writeWav } from './wav';

describe('WAV files', () => {
  test('stereo PCM16 written then read → same samples, rate and channels', () => {
    const pcm = Int16Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 65536) - 32768);
    const file = writeWav(pcm, 8000, 2);
    expect(file.length).toBe(44 + 4000);
    const back = readWav(file);
    expect([back.sampleRate, back.channels]).toEqual([8000, 2]);
    expect([...back.pcm]).toEqual([...pcm]);
  });

  test('μ-law and A-law files (format 7 and 6, with a fact chunk and odd padding) → decoded PCM16', () => {
    const pcm = Int16Array.from({ length: 801 }, (_, i) => Math.round(12000 * Math.sin(i / 5)));
    for (const [format, encode] of [
      [7, encodeUlaw],
      [6, encodeAlaw],
    ] as const) {
      const codes = Buffer.from(encode(pcm));
      const fmt = Buffer.alloc(8 + 18);
      fmt.write('fmt ', 0, 'ascii');
      fmt.writeUInt32LE(18, 4);
      fmt.writeUInt16LE(format, 8);
      fmt.writeUInt16LE(1, 10);
      fmt.writeUInt32LE(8000, 12);
      fmt.writeUInt32LE(8000, 16);
      fmt.writeUInt16LE(1, 20);
      fmt.writeUInt16LE(8, 22);
      const fact = Buffer.from('fact\x04\x00\x00\x00\x21\x03\x00\x00', 'latin1');
      const dataHeader = Buffer.alloc(8);
      dataHeader.write('data', 0, 'ascii');
      dataHeader.writeUInt32LE(codes.length, 4);
      const body = Buffer.concat([Buffer.from('WAVE', 'ascii'), fmt, fact, dataHeader, codes, Buffer.alloc(1)]);
      const riff = Buffer.alloc(8);
      riff.write('RIFF', 0, 'ascii');
      riff.writeUInt32LE(body.length, 4);
      const audio = readWav(Buffer.concat([riff, body]));
      expect(audio.pcm.length).toBe(801);
      expect(audio.channels).toBe(1);
      expect(readWav(writeWav(audio.pcm, 8000)).pcm).toEqual(audio.pcm);
    }
  });

  test('the committed talk-off speech fixture (sox, μ-law) → 8 kHz mono speech', () => {
    const file = readFileSync(join(__dirname, '..', 'dtmf', 'inband-talkoff.ulaw.wav'));
    const audio = readWav(file);
    expect([audio.sampleRate, audio.channels]).toEqual([8000, 1]);
    expect(audio.pcm.length).toBeGreaterThan(20 * 8000);
    // sox normalised it to a −1 dBFS peak before μ-law encoding.
    const peak = audio.pcm.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(Math.abs(20 * Math.log10(peak / 32767) + 1)).toBeLessThan(1);
  });

  test('not a WAV, unsupported format, or channel mismatch → TypeError', () => {
    expect(() => readWav(Buffer.from('hello world, not a wave'))).toThrow(TypeError);
    const float = writeWav(new Int16Array(4), 8000);
    float.writeUInt16LE(3, 20);
    expect(() => readWav(float)).toThrow(/format 3/);
    expect(() => writeWav(new Int16Array(3), 8000, 2)).toThrow(TypeError);
  });
});
