import { encodeNetstring, NetstringDecoder, NetstringError } from './netstring';

const text = (frames: Buffer[]): string[] => frames.map((f) => f.toString('utf8'));

describe('netstrings', () => {
  test('one complete frame → its payload', () => {
    expect(text(new NetstringDecoder().push(Buffer.from('5:hello,')))).toEqual(['hello']);
  });

  test('two frames in one chunk → both, in order', () => {
    expect(text(new NetstringDecoder().push(Buffer.from('5:hello,5:world,')))).toEqual(['hello', 'world']);
  });

  test('a frame split at every byte → delivered once, when complete', () => {
    const decoder = new NetstringDecoder();
    const wire = Buffer.from('12:hello, world,3:abc,');
    const out: string[] = [];
    for (const byte of wire) out.push(...text(decoder.push(Buffer.from([byte]))));
    expect(out).toEqual(['hello, world', 'abc']);
    expect(decoder.pendingBytes).toBe(0);
  });

  test('length counts bytes, not characters', () => {
    const decoder = new NetstringDecoder();
    const wire = encodeNetstring('{"user":"Zoë"}');
    expect(wire.toString('latin1').startsWith('15:')).toBe(true);
    expect(text(decoder.push(wire))).toEqual(['{"user":"Zoë"}']);
  });

  test('empty payload "0:," → one empty frame', () => {
    expect(text(new NetstringDecoder().push(Buffer.from('0:,')))).toEqual(['']);
  });

  test('missing trailing comma → NetstringError', () => {
    expect(() => new NetstringDecoder().push(Buffer.from('5:hello;'))).toThrow(NetstringError);
  });

  test('non-digit length → NetstringError', () => {
    expect(() => new NetstringDecoder().push(Buffer.from('{"event":1}'))).toThrow(/non-digit/);
  });

  test('leading zero → NetstringError', () => {
    expect(() => new NetstringDecoder().push(Buffer.from('05:hello,'))).toThrow(/leading zero/);
  });

  test('frame larger than the limit → NetstringError before buffering it', () => {
    expect(() => new NetstringDecoder(100).push(Buffer.from('101:'))).toThrow(/exceeds 100/);
    expect(() => new NetstringDecoder(100).push(Buffer.from('1000'))).toThrow(/digits/);
  });
});
