import {
  deleteCommand,
  describeErrorCode,
  parseDone,
  parseInfo,
  parsePort,
  parseQuery,
  parseReply,
  parseVersion,
  queryCommand,
  streamTag,
  updateCommand,
} from './protocol';

// Reply bodies as RTPProxy 3.2 sends them (captured over its UDP control socket).
describe('RTPProxy replies', () => {
  it('"0\\n" is done', () => {
    expect(parseReply('0\n', parseDone)).toEqual({ ok: true, value: true });
  });

  it('"E8\\n" is error 8, whatever the command', () => {
    expect(parseReply('E8\n', parseDone)).toEqual({ ok: false, code: 8 });
    expect(parseReply('E50\n', parsePort)).toEqual({ ok: false, code: 50 });
    expect(parseReply('E0\n', parseVersion)).toEqual({ ok: false, code: 0 });
  });

  it('"port addr" is where the relay listens', () => {
    expect(parseReply('47154 127.0.0.1\n', parsePort)).toEqual({
      ok: true,
      value: { port: 47154, address: '127.0.0.1', ipv6: false },
    });
  });

  it('"port addr 6" is an IPv6 allocation', () => {
    expect(parsePort('47154 ::1 6')).toEqual({ port: 47154, address: '::1', ipv6: true });
  });

  it('a bare port (old RTPProxy) has no address; port 0 means no such session', () => {
    expect(parsePort('47154')).toEqual({ port: 47154, ipv6: false });
    expect(parseReply('0\n', parsePort)).toEqual({ ok: true, value: { port: 0, ipv6: false } });
  });

  it('anything else is unreadable (undefined)', () => {
    expect(parseReply('hello\n', parsePort)).toBeUndefined();
    expect(parseReply('70000 127.0.0.1\n', parsePort)).toBeUndefined();
    expect(parseReply('1\n', parseDone)).toBeUndefined();
    expect(parseReply('2004\n', parseVersion)).toBeUndefined();
  });

  it('V answers the base protocol datestamp', () => {
    expect(parseReply('20040107\n', parseVersion)).toEqual({ ok: true, value: '20040107' });
  });

  it('Q answers ttl, packets from each side, relayed and dropped', () => {
    expect(parseReply('60 5 3 8 0\n', parseQuery)).toEqual({
      ok: true,
      value: { ttl: 60, packetsFromCaller: 5, packetsFromCallee: 3, relayed: 8, dropped: 0 },
    });
    expect(parseQuery('ttl=60 npkts_ina=5')).toBeUndefined();
  });

  it('I answers "key: value" lines', () => {
    const body =
      'sessions created: 1\nactive sessions: 1\nactive streams: 2\npackets received: 8\npackets transmitted: 8\n';
    expect(parseReply(body, parseInfo)).toEqual({
      ok: true,
      value: {
        'sessions created': 1,
        'active sessions': 1,
        'active streams': 2,
        'packets received': 8,
        'packets transmitted': 8,
      },
    });
  });

  it('trailing NULs and whitespace do not matter', () => {
    expect(parseReply('0\n\0', parseDone)).toEqual({ ok: true, value: true });
  });

  it('error codes have a meaning', () => {
    expect(describeErrorCode(50)).toBe('session not found');
    expect(describeErrorCode(8)).toBe('command syntax error');
    expect(describeErrorCode(71)).toMatch(/listener/);
    expect(describeErrorCode(1234)).toBe('error');
  });
});

describe('RTPProxy commands', () => {
  it('U carries call-id, remote address and port and the from tag', () => {
    expect(updateCommand('U', { callId: 'c1', address: '127.0.0.2', port: 6000, fromTag: 'ft;1', ipv6: false })).toBe(
      'U c1 127.0.0.2 6000 ft;1',
    );
  });

  it('L carries the to tag too; the 6 modifier marks IPv6', () => {
    expect(
      updateCommand('L', { callId: 'c1', address: '::1', port: 6002, fromTag: 'ft;1', toTag: 'tt;1', ipv6: true }),
    ).toBe('L6 c1 ::1 6002 ft;1 tt;1');
  });

  it('L without a to tag is a programmer error', () => {
    expect(() =>
      updateCommand('L', { callId: 'c1', address: '127.0.0.2', port: 1, fromTag: 'ft', ipv6: false }),
    ).toThrow(TypeError);
  });

  it('whitespace in a call-id or tag would split the command: TypeError', () => {
    expect(() => deleteCommand('a b', 'ft')).toThrow(TypeError);
    expect(() => queryCommand('c', 'f\nt')).toThrow(TypeError);
    expect(() => deleteCommand('c', '')).toThrow(TypeError);
  });

  it('D and Q take the to tag when known', () => {
    expect(deleteCommand('c1', 'ft')).toBe('D c1 ft');
    expect(deleteCommand('c1', 'ft', 'tt')).toBe('D c1 ft tt');
    expect(queryCommand('c1', streamTag('ft', 2), streamTag('tt', 2))).toBe('Q c1 ft;2 tt;2');
  });
});
