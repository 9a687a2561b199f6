import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attributeValue, connectionOf, directionOf, fmtpOf, parseSdp, rtpMapsOf, SdpError, serializeSdp } from './sdp';

const FIXTURES = join(__dirname, '../../test-fixtures/sdp');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'latin1');
const fixtureNames = readdirSync(FIXTURES).filter((f) => f.endsWith('.sdp'));

/** RFC 4566 §5's example session description. */
const RFC4566_EXAMPLE = [
  'v=0',
  'o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5',
  's=SDP Seminar',
  'i=A Seminar on the session description protocol',
  'u=http://www.example.com/seminars/sdp.pdf',
  'e=j.doe@example.com (Jane Doe)',
  'c=IN IP4 224.2.17.12/127',
  't=2873397496 2873404696',
  'a=recvonly',
  'm=audio 49170 RTP/AVP 0',
  'm=video 51372 RTP/AVP 99',
  'a=rtpmap:99 h263-1998/90000',
  '',
].join('\r\n');

function sdpError(fn: () => unknown): SdpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SdpError) return err;
    throw err;
  }
  throw new Error('expected an SdpError');
}

describe('SDP parse/serialise (RFC 4566)', () => {
  it('fixtures present → at least the SIPp and rtpengine offers', () => {
    expect(fixtureNames.length).toBeGreaterThanOrEqual(8);
  });

  it.each(fixtureNames.map((f) => [f]))('%s → parse then serialise is byte-identical', (name) => {
    const text = fixture(name);
    expect(serializeSdp(parseSdp(text))).toBe(text);
  });

  it('RFC 4566 §5 example → every field read, and written back identically', () => {
    const sdp = parseSdp(RFC4566_EXAMPLE);
    expect(sdp.origin).toEqual({
      username: 'jdoe',
      sessionId: '2890844526',
      sessionVersion: '2890842807',
      netType: 'IN',
      addrType: 'IP4',
      address: '10.47.16.5',
    });
    expect(sdp.sessionName).toBe('SDP Seminar');
    expect(sdp.uri).toBe('http://www.example.com/seminars/sdp.pdf');
    expect(sdp.emails).toEqual(['j.doe@example.com (Jane Doe)']);
    expect(sdp.connection).toEqual({ netType: 'IN', addrType: 'IP4', address: '224.2.17.12', suffix: '/127' });
    expect(sdp.timings).toEqual([{ start: '2873397496', stop: '2873404696', repeats: [] }]);
    expect(sdp.media.map((m) => [m.type, m.port, m.protocol, m.formats])).toEqual([
      ['audio', 49170, 'RTP/AVP', ['0']],
      ['video', 51372, 'RTP/AVP', ['99']],
    ]);
    expect(directionOf(sdp.media[0]!, sdp)).toBe('recvonly');
    expect(serializeSdp(sdp)).toBe(RFC4566_EXAMPLE);
  });

  it('rtpengine ICE + rtcp-mux offer → rtcp, rtcp-mux, ICE credentials and both candidates kept in order', () => {
    const sdp = parseSdp(fixture('rtpengine-ice-rtcpmux-offer.sdp'));
    const audio = sdp.media[0]!;
    expect(audio.port).toBe(47300);
    expect(attributeValue(audio.attributes, 'rtcp')).toBe('47301');
    expect(attributeValue(audio.attributes, 'rtcp-mux')).toBe('');
    expect(attributeValue(audio.attributes, 'ice-ufrag')).toBe('NJZE7og1');
    expect(audio.attributes.filter((a) => a.name === 'candidate').map((a) => a.value!.split(' ')[1])).toEqual([
      '1',
      '2',
    ]);
    expect(rtpMapsOf(audio)).toEqual([
      { payloadType: 8, encoding: 'PCMA', clockRate: 8000 },
      { payloadType: 101, encoding: 'telephone-event', clockRate: 8000 },
    ]);
    expect(fmtpOf(audio, 101)).toBe('0-11,16');
    expect(fmtpOf(audio, 8)).toBeUndefined();
  });

  it('multi-codec offer → rtpmaps in m= order with channels, both telephone-event rates', () => {
    const audio = parseSdp(fixture('rtpengine-multicodec-offer.sdp')).media[0]!;
    expect(
      rtpMapsOf(audio).map((r) => `${r.payloadType} ${r.encoding}/${r.clockRate}${r.channels ? `/${r.channels}` : ''}`),
    ).toEqual([
      '96 opus/48000/2',
      '9 G722/8000',
      '0 PCMU/8000',
      '8 PCMA/8000',
      '101 telephone-event/8000',
      '100 telephone-event/16000',
    ]);
    expect(fmtpOf(audio, 96)).toBe('useinbandfec=1');
  });

  it('static payload types without rtpmap → RFC 3551 table (0 PCMU, 8 PCMA, 18 G729); unknown dynamic ones left out', () => {
    const sdp = parseSdp(
      'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 18 97\r\n',
    );
    expect(rtpMapsOf(sdp.media[0]!).map((r) => `${r.payloadType}:${r.encoding}`)).toEqual([
      '0:PCMU',
      '8:PCMA',
      '18:G729',
    ]);
  });

  it('LF line ends and blank lines → parsed like CRLF; written back with CRLF', () => {
    const crlf = fixture('sipp-uac-pcap-offer.sdp');
    const lf = crlf.replace(/\r\n/g, '\n').replace('s=-\n', 's=-\n\n');
    expect(parseSdp(lf)).toEqual(parseSdp(crlf));
    expect(serializeSdp(parseSdp(lf))).toBe(crlf);
  });

  it('unknown attributes and unknown line types → kept (the latter at the end of their section)', () => {
    const text =
      'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\na=x-custom:42\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=x-foo\r\ny=odd\r\n';
    const sdp = parseSdp(text);
    expect(sdp.attributes).toEqual([{ name: 'x-custom', value: '42' }]);
    expect(sdp.media[0]!.otherLines).toEqual([{ type: 'y', value: 'odd' }]);
    expect(serializeSdp(sdp)).toBe(text);
  });

  it('media-level c= and direction → override the session-level ones', () => {
    const sdp = parseSdp(
      'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\nc=IN IP6 2001:db8::5\r\na=inactive\r\n',
    );
    const [a, b] = sdp.media;
    expect([connectionOf(a!, sdp)?.address, directionOf(a!, sdp)]).toEqual(['192.0.2.1', 'sendonly']);
    expect([connectionOf(b!, sdp)?.address, directionOf(b!, sdp)]).toEqual(['2001:db8::5', 'inactive']);
  });

  it.each([
    ['text before v=', 'ERR_SDP_MISSING', 'o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n', 1],
    ['a line without =', 'ERR_SDP_SYNTAX', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nhello\r\n', 3],
    ['spaces around =', 'ERR_SDP_SYNTAX', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns = x\r\n', 3],
    ['o= with 5 fields', 'ERR_SDP_FIELD', 'v=0\r\no=- 1 1 IN IP4\r\n', 2],
    ['c= with 2 fields', 'ERR_SDP_FIELD', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4\r\n', 3],
    ['m= port 70000', 'ERR_SDP_PORT', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nm=audio 70000 RTP/AVP 0\r\n', 3],
    ['r= before t=', 'ERR_SDP_FIELD', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nr=7d 1h 0 25h\r\n', 3],
    ['no o=', 'ERR_SDP_MISSING', 'v=0\r\ns=-\r\n', undefined],
  ])('%s → %s', (_name, code, text, line) => {
    const err = sdpError(() => parseSdp(text));
    expect(err.code).toBe(code);
    expect(err.line).toBe(line);
  });
});
