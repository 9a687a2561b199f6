import { bareHost, formatUri, isLooseRouter, parseUri, uriTransport } from './uri';

describe('parseUri (RFC 3261 §19.1.1)', () => {
  it.each([
    'sip:service@127.0.0.1:25070',
    'sip:127.0.0.1:25070;transport=tcp;r2=on;lr;ftag=16941SIPpTag001',
    'sips:alice:secret@example.com;maddr=239.255.255.1;ttl=15?subject=project%20x&priority=urgent',
    'sip:+1-212-555-1212:1234@gateway.com;user=phone',
    'sip:[2001:db8::10]:5070;transport=udp',
    'sip:gw@127.0.0.1:25074;transport=TCP',
    'sip:alice;day=tuesday@atlanta.com',
  ])('%s → parses and writes back unchanged', (text) => {
    expect(formatUri(parseUri(text))).toBe(text);
  });

  it('full URI → every part', () => {
    expect(parseUri('sips:alice:secret@example.com:5061;transport=tcp;lr?subject=x')).toEqual({
      scheme: 'sips',
      user: 'alice',
      password: 'secret',
      host: 'example.com',
      port: 5061,
      params: [
        ['transport', 'tcp'],
        ['lr', null],
      ],
      headers: 'subject=x',
    });
  });

  it('user part containing ";" → stays in the user (§25.1 user-unreserved)', () => {
    const uri = parseUri('sip:alice;day=tuesday@atlanta.com');
    expect([uri.user, uri.host, uri.params]).toEqual(['alice;day=tuesday', 'atlanta.com', []]);
  });

  it('IPv6 reference → host keeps brackets, bareHost drops them', () => {
    const uri = parseUri('sip:[::1]:5060');
    expect([uri.host, uri.port, bareHost(uri.host)]).toEqual(['[::1]', 5060, '::1']);
  });

  it('transport=TCP and lr → read case-insensitively', () => {
    const uri = parseUri('sip:h;Transport=TCP;lr');
    expect(uriTransport(uri)).toBe('tcp');
    expect(isLooseRouter(uri)).toBe(true);
    expect(isLooseRouter(parseUri('sip:h'))).toBe(false);
  });

  it.each(['tel:+15551234', 'sip:', 'sip:host:99999', 'sip:host:abc', 'sip:[::1', 'sip:a b@c'])(
    '%s → SipParseError',
    (text) => {
      expect(() => parseUri(text)).toThrow(expect.objectContaining({ code: 'ERR_SIP_PARSE' }));
    },
  );
});
