import { formatNameAddr, parseNameAddr, tagOf } from './name-addr';

describe('parseNameAddr (RFC 3261 §20.10)', () => {
  it('quoted display name with a comma → unquoted name, URI, tag', () => {
    const a = parseNameAddr('"Alice, A." <sip:+15551230001@127.0.0.1:25063>;tag=17394SIPpTag001');
    expect(a).toEqual({
      displayName: 'Alice, A.',
      uri: 'sip:+15551230001@127.0.0.1:25063',
      params: [['tag', '17394SIPpTag001']],
    });
    expect(tagOf(a)).toBe('17394SIPpTag001');
  });

  it('token display name → kept', () => {
    expect(parseNameAddr('sipp <sip:sipp@127.0.0.1:25062>;tag=1').displayName).toBe('sipp');
  });

  it('escaped quote inside the display name → unescaped', () => {
    expect(parseNameAddr('"say \\"hi\\"" <sip:a@b>').displayName).toBe('say "hi"');
  });

  it('bare addr-spec with parameters → the parameters belong to the header, not the URI', () => {
    expect(parseNameAddr('sip:sipp@127.0.0.1:25062;tag=abc;expires=60')).toEqual({
      displayName: null,
      uri: 'sip:sipp@127.0.0.1:25062',
      params: [
        ['tag', 'abc'],
        ['expires', '60'],
      ],
    });
  });

  it('URI parameters inside <> → stay in the URI', () => {
    const a = parseNameAddr('<sip:127.0.0.1:25070;transport=tcp;r2=on;lr;ftag=x>');
    expect(a.uri).toBe('sip:127.0.0.1:25070;transport=tcp;r2=on;lr;ftag=x');
    expect(a.params).toEqual([]);
  });

  it('whitespace around ";" and "=" → tolerated (LWS, §25.1)', () => {
    expect(parseNameAddr('<sip:a@b> ; tag = 42 ;x').params).toEqual([
      ['tag', '42'],
      ['x', null],
    ]);
  });

  it('no tag → tagOf null', () => {
    expect(tagOf(parseNameAddr('<sip:a@b>'))).toBeNull();
  });

  it.each(['"unterminated <sip:a@b>', '<sip:a@b', 'Bob', '<>'])('%s → SipParseError', (text) => {
    expect(() => parseNameAddr(text)).toThrow(expect.objectContaining({ code: 'ERR_SIP_PARSE' }));
  });

  it('formatNameAddr → quotes a display name only when it needs quoting', () => {
    expect(formatNameAddr({ displayName: 'Alice, A.', uri: 'sip:a@b', params: [['tag', '1']] })).toBe(
      '"Alice, A." <sip:a@b>;tag=1',
    );
    expect(formatNameAddr({ displayName: 'Bob', uri: 'sip:b@c', params: [] })).toBe('Bob <sip:b@c>');
    expect(formatNameAddr({ displayName: null, uri: 'sip:b@c', params: [] })).toBe('<sip:b@c>');
  });
});
