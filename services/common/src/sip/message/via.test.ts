import { getParam } from './params';
import { formatVia, parseVia, viaBranch } from './via';

describe('parseVia (RFC 3261 §20.42)', () => {
  it('Kamailio-stamped Via → transport, sent-by, received, rport, branch', () => {
    const via = parseVia('SIP/2.0/UDP 127.0.0.1:25064;received=127.0.0.1;branch=z9hG4bK-17394-1-0;rport=25064');
    expect([via.protocol, via.transport, via.host, via.port]).toEqual(['SIP/2.0', 'UDP', '127.0.0.1', 25064]);
    expect(viaBranch(via)).toBe('z9hG4bK-17394-1-0');
    expect(getParam(via.params, 'received')).toBe('127.0.0.1');
    expect(getParam(via.params, 'rport')).toBe('25064');
  });

  it('empty rport (RFC 3581 request) → present with a null value', () => {
    expect(getParam(parseVia('SIP/2.0/UDP h;rport;branch=z9hG4bK1').params, 'rport')).toBeNull();
  });

  it('LWS around the slashes and colon, lower-case transport → normalised', () => {
    const via = parseVia('SIP / 2.0 / tcp  example.com : 5070 ;branch=z9hG4bKa');
    expect([via.transport, via.host, via.port, viaBranch(via)]).toEqual(['TCP', 'example.com', 5070, 'z9hG4bKa']);
  });

  it('IPv6 sent-by → host with brackets', () => {
    expect(parseVia('SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKx').host).toBe('[2001:db8::9:1]');
  });

  it('no port → null', () => {
    expect(parseVia('SIP/2.0/TCP host.example;branch=z9hG4bKx').port).toBeNull();
  });

  it('round trip → same text', () => {
    const text = 'SIP/2.0/TCP 127.0.0.1:25070;branch=z9hG4bKa061.58689d504011e960581616a36d927639.0';
    expect(formatVia(parseVia(text))).toBe(text);
  });

  it.each(['SIP/2.0 host', 'garbage', 'SIP/2.0/UDP h:99999'])('%s → SipParseError', (text) => {
    expect(() => parseVia(text)).toThrow(expect.objectContaining({ code: 'ERR_SIP_PARSE' }));
  });
});
