import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAlaw, encodeUlaw } from './g711';
import { readWav, wavChannel, wavHeader, writeWav } from './wav';

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

  test('not a WAV, unsupported format, or channel mismatch → TypeError', () => {
    expect(() => readWav(Buffer.from('hello world, not a wave'))).toThrow(TypeError);
    const float = writeWav(new Int16Array(4), 8000);
    float.writeUInt16LE(3, 20);
    expect(() => readWav(float)).toThrow(/format 3/);
    expect(() => writeWav(new Int16Array(3), 8000, 2)).toThrow(TypeError);
  });

  test('header → a valid 8 kHz stereo PCM16 RIFF header with the data size', () => {
    const h = wavHeader(8000, 2, 6400);
    expect(h.toString('ascii', 0, 4)).toBe('RIFF');
    expect(h.readUInt32LE(4)).toBe(36 + 6400);
    expect(h.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(h.readUInt16LE(20)).toBe(1);
    expect(h.readUInt16LE(22)).toBe(2);
    expect(h.readUInt32LE(24)).toBe(8000);
    expect(h.readUInt32LE(28)).toBe(32000);
    expect(h.readUInt16LE(32)).toBe(4);
    expect(h.readUInt32LE(40)).toBe(6400);
  });

  test('espeak-ng\'s stdout WAV (data size 0x7ffff000, "until the end") → 22 050 Hz samples', () => {
    const bytes = readFileSync(join(__dirname, 'fixtures', 'espeak-ng-1.51-yes.wav'));
    expect(bytes.readUInt32LE(40)).toBe(0x7ffff000);
    const audio = readWav(bytes);
    expect(audio.sampleRate).toBe(22050);
    expect(audio.pcm.length).toBe((bytes.length - 44) / 2);
    expect(Math.max(...audio.pcm)).toBeGreaterThan(3000);
  });

  test('a data size of 0 (a recorder killed before it patched the header) → every sample to the end', () => {
    const file = writeWav(Int16Array.of(5, -5, 7), 8000);
    file.writeUInt32LE(0, 40);
    expect([...readWav(file).pcm]).toEqual([5, -5, 7]);
  });

  test('skips unknown chunks (odd-sized ones padded) and takes the first channel of stereo', () => {
    const audio = readWav(wavWithList(2, 8000, [1, -1, 2, -2, 3, -3]));
    expect({ sampleRate: audio.sampleRate, samples: wavChannel(audio) }).toEqual({
      sampleRate: 8000,
      samples: new Int16Array([1, 2, 3]),
    });
  });

  test('WAVE_FORMAT_EXTENSIBLE with a PCM SubFormat (as libsndfile writes for baresip) → its PCM16 samples', () => {
    const samples = Int16Array.from([1, -2, 300, -32768, 32767]);
    const fmt = Buffer.alloc(40);
    fmt.writeUInt16LE(0xfffe, 0); // WAVE_FORMAT_EXTENSIBLE
    fmt.writeUInt16LE(1, 2);
    fmt.writeUInt32LE(16000, 4);
    fmt.writeUInt32LE(32000, 8);
    fmt.writeUInt16LE(2, 12);
    fmt.writeUInt16LE(16, 14);
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(16, 18); // valid bits
    fmt.writeUInt32LE(4, 20); // channel mask: front centre
    fmt.writeUInt16LE(1, 24); // SubFormat KSDATAFORMAT_SUBTYPE_PCM, 0x0001 + the fixed GUID tail
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(fmt, 26);
    const data = Buffer.from(samples.buffer);
    const head = Buffer.alloc(12);
    head.write('RIFF', 0, 'ascii');
    head.writeUInt32LE(4 + 8 + fmt.length + 8 + data.length, 4);
    head.write('WAVE', 8, 'ascii');
    const chunk = (id: string, body: Buffer): Buffer => {
      const h = Buffer.alloc(8);
      h.write(id, 0, 'ascii');
      h.writeUInt32LE(body.length, 4);
      return Buffer.concat([h, body]);
    };
    const audio = readWav(Buffer.concat([head, chunk('fmt ', fmt), chunk('data', data)]));
    expect(audio.sampleRate).toBe(16000);
    expect(audio.channels).toBe(1);
    expect(Array.from(audio.pcm)).toEqual(Array.from(samples));
  });

  test('not RIFF/WAVE, or 8-bit PCM → error', () => {
    expect(() => readWav(Buffer.from('hello world, not a wav'))).toThrow('not a RIFF/WAVE file');
    const eightBit = wavWithList(1, 8000, [1, 2]);
    eightBit.writeUInt16LE(8, 34);
    expect(() => readWav(eightBit)).toThrow('is not 16-bit PCM');
  });
});

/** A PCM16 file with a LIST chunk of odd size between `fmt ` and `data`. */
function wavWithList(channels: number, rate: number, samples: number[]): Buffer {
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
