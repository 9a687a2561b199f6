import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNgDict, encodeNgDict, NgDecodeError, ngDict, ngList, ngNumber, ngString } from './ng';

const FIXTURES = join(__dirname, '../../../../../tests/media-relay/fixtures');

describe('NG dictionaries (bencode)', () => {
  it('encodes the README ping exactly: d7:command4:pinge', () => {
    expect(encodeNgDict({ command: 'ping' }).toString()).toBe('d7:command4:pinge');
  });

  it('decodes the README pong: d6:result4:ponge', () => {
    expect(decodeNgDict(Buffer.from('d6:result4:ponge'))).toEqual({ result: 'pong' });
  });

  it('encodes nested lists, dictionaries and integers, with sorted keys', () => {
    const encoded = encodeNgDict({ command: 'offer', codec: { transcode: ['PCMU'], mask: ['PCMA'] }, ptime: 20 });
    expect(encoded.toString()).toBe('d5:codecd4:maskl4:PCMAe9:transcodel4:PCMUee7:command5:offer5:ptimei20ee');
  });

  it('leaves undefined values out', () => {
    expect(encodeNgDict({ command: 'delete', 'to-tag': undefined }).toString()).toBe('d7:command6:deletee');
  });

  it('counts string lengths in bytes, so UTF-8 round-trips', () => {
    const dict = { sdp: 's=Grüße\r\n' };
    const encoded = encodeNgDict(dict);
    expect(encoded.toString('latin1')).toContain('11:s=Gr');
    expect(decodeNgDict(encoded)).toEqual(dict);
  });

  it('refuses non-integer numbers, which bencode cannot carry', () => {
    expect(() => encodeNgDict({ ptime: 20.5 })).toThrow(TypeError);
    expect(() => encodeNgDict({ codec: { list: [1, Number.NaN] } })).toThrow(/dict\.codec\.list\[1\]/);
  });

  it('rejects replies that are not a dictionary', () => {
    expect(() => decodeNgDict(Buffer.from('l4:pinge'))).toThrow(NgDecodeError);
    expect(() => decodeNgDict(Buffer.from(''))).toThrow(NgDecodeError);
    expect(() => decodeNgDict(Buffer.from('d6:result'))).toThrow(NgDecodeError);
  });

  it('reads a real rtpengine 10.5 query reply (captured) with typed accessors', () => {
    const reply = decodeNgDict(readFileSync(join(FIXTURES, 'rtpengine-10.5-query-reply.bencode')));
    expect(ngString(reply, 'result')).toBe('ok');
    expect(ngNumber(reply, 'created')).toBeGreaterThan(1_600_000_000);
    const rtp = ngDict(ngDict(reply, 'totals')!, 'RTP')!;
    expect(ngNumber(rtp, 'packets')).toBe(8);
    expect(ngList(ngDict(ngDict(reply, 'tags')!, 'alice-tag')!, 'medias')).toHaveLength(1);
    // Re-encoding what was decoded gives a dictionary that decodes the same.
    expect(decodeNgDict(encodeNgDict(reply))).toEqual(reply);
  });

  it('typed accessors return undefined or [] for absent or mistyped fields', () => {
    const dict = decodeNgDict(Buffer.from('d1:ai1e1:b1:xe'));
    expect(ngString(dict, 'a')).toBeUndefined();
    expect(ngNumber(dict, 'b')).toBeUndefined();
    expect(ngDict(dict, 'a')).toBeUndefined();
    expect(ngList(dict, 'missing')).toEqual([]);
  });
});
