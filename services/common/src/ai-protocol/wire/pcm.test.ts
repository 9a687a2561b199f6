import { base64ToInt16, decodeBase64, int16ToBase64, int16ToPcm16le, pcm16leToInt16 } from './pcm';

describe('PCM16LE', () => {
  test('samples → little-endian bytes, low byte first', () => {
    expect([...int16ToPcm16le(new Int16Array([1, -2, 0x1234]))]).toEqual([0x01, 0x00, 0xfe, 0xff, 0x34, 0x12]);
  });

  test('bytes → samples round-trips every 16-bit value', () => {
    const all = new Int16Array(65536).map((_, i) => i - 32768);
    expect(pcm16leToInt16(int16ToPcm16le(all))).toEqual(all);
  });

  test('bytes at an odd offset of a shared buffer decode into an aligned copy', () => {
    const backing = Buffer.from([0xaa, 0x01, 0x00, 0xff, 0x7f]);
    expect(pcm16leToInt16(backing.subarray(1))).toEqual(new Int16Array([1, 32767]));
  });

  test('an odd byte count is not PCM16 → null', () => {
    expect(pcm16leToInt16(Buffer.from([1, 2, 3]))).toBeNull();
  });
});

describe('base64', () => {
  test('round-trips audio', () => {
    const samples = new Int16Array([0, 1000, -1000, 32767, -32768]);
    expect(base64ToInt16(int16ToBase64(samples))).toEqual(samples);
  });

  test('characters outside RFC 4648 §4 are refused rather than skipped', () => {
    expect(decodeBase64('AAAA!AAA')).toBeNull();
    expect(decodeBase64('AAA')).toBeNull();
    expect(decodeBase64('AA-_')).toBeNull();
    expect(decodeBase64('AAA=')).toEqual(Buffer.from([0, 0]));
    expect(decodeBase64('AA==')).toEqual(Buffer.from([0]));
    expect(decodeBase64('')).toEqual(Buffer.alloc(0));
    for (const bad of ['AA=A', 'A===', '====', 'AA\nA', 'AAA\u00e9', 'AB==AAAA', 'AAAA AAA', 'AAA\u20ac'])
      expect(decodeBase64(bad)).toBeNull();
  });

  test('the decoded-length check agrees with the RFC 4648 §4 grammar on random strings of base64, URL-safe and stray characters', () => {
    const grammar = /^[A-Za-z0-9+/]*={0,2}$/;
    const alphabet = 'AB+/=-_ !\n\u00e9Z09a';
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 20000; i++) {
      let text = '';
      const length = 4 * (1 + Math.floor(random() * 3));
      for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
      expect(decodeBase64(text) === null).toBe(!grammar.test(text));
    }
  });
});
