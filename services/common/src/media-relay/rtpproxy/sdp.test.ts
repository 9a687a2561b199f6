import { SdpError } from '../../sdp/sdp';
import { describeSdp, rewriteSdp, type RelayEndpoint } from './sdp';

// The offer tests/sipp/uac-call.xml sends, with SIPp's fields filled in.
const SIPP_OFFER = [
  'v=0',
  'o=alice 53655765 2353687637 IN IP4 127.0.0.2',
  's=-',
  'c=IN IP4 127.0.0.2',
  't=0 0',
  'm=audio 6000 RTP/AVP 8 101',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=ptime:20',
  '',
].join('\r\n');

const relay = (port: number, address = '127.0.0.1', ipv6 = false): RelayEndpoint => ({ port, address, ipv6 });

describe('describeSdp', () => {
  it('finds each stream and the address its media goes to', () => {
    expect(describeSdp(SIPP_OFFER).media).toEqual([
      {
        number: 1,
        type: 'audio',
        port: 6000,
        proto: 'RTP/AVP',
        formats: ['8', '101'],
        connection: { addrType: 'IP4', address: '127.0.0.2' },
      },
    ]);
  });

  it('prefers the media-level c= over the session-level one', () => {
    const sdp = 'v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\nm=video 0 RTP/AVP 96\r\n';
    const media = describeSdp(sdp).media;
    expect(media.map((m) => [m.number, m.port, m.connection?.address])).toEqual([
      [1, 4000, '10.0.0.2'],
      [2, 0, '10.0.0.1'],
    ]);
  });

  it('reads IPv6 and multicast-style c= addresses', () => {
    const sdp = 'v=0\nc=IN IP6 2001:db8::1\nm=audio 4000 RTP/AVP 0\nc=IN IP4 233.252.0.1/127\n';
    expect(describeSdp(sdp).media[0]?.connection).toEqual({ addrType: 'IP4', address: '233.252.0.1' });
  });

  it('throws SdpError on a malformed m= or c= line', () => {
    expect(() => describeSdp('v=0\r\nm=audio x RTP/AVP 0\r\n')).toThrow(SdpError);
    expect(() => describeSdp('v=0\r\nc=IN IP4\r\n')).toThrow(SdpError);
  });
});

describe('rewriteSdp', () => {
  it('points o=, c= and m= at the relay and keeps everything else byte for byte', () => {
    const out = rewriteSdp(SIPP_OFFER, { endpoints: new Map([[1, relay(46000)]]) });
    expect(out).toBe(
      [
        'v=0',
        'o=alice 53655765 2353687637 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 46000 RTP/AVP 8 101',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-15',
        'a=ptime:20',
        '',
      ].join('\r\n'),
    );
  });

  it('moves a=rtcp to the relay RTCP port (RTP + 1), with the address when one was given', () => {
    const sdp =
      'v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\nm=audio 5000 RTP/AVP 0\r\na=rtcp:5001 IN IP4 10.0.0.1\r\n';
    const out = rewriteSdp(sdp, {
      endpoints: new Map([
        [1, relay(46000)],
        [2, relay(46010)],
      ]),
    });
    expect(out).toContain('a=rtcp:46001\r\n');
    expect(out).toContain('a=rtcp:46011 IN IP4 127.0.0.1\r\n');
  });

  it('removes ICE attributes at session and media level', () => {
    const sdp = [
      'v=0',
      'a=ice-lite',
      'a=ice-options:trickle',
      'c=IN IP4 10.0.0.1',
      'm=audio 4000 RTP/AVP 0',
      'a=ice-ufrag:abcd',
      'a=ice-pwd:secretsecretsecretsecret',
      'a=candidate:1 1 udp 2130706431 10.0.0.1 4000 typ host',
      'a=end-of-candidates',
      'a=sendrecv',
      '',
    ].join('\r\n');
    const out = rewriteSdp(sdp, { endpoints: new Map([[1, relay(46000)]]) });
    expect(out).not.toMatch(/a=(ice-|candidate|end-of-candidates)/);
    expect(out).toContain('a=sendrecv');
  });

  it('strips codecs by name or payload type, with their rtpmap/fmtp lines', () => {
    const sdp =
      'v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n';
    const out = rewriteSdp(sdp, { endpoints: new Map([[1, relay(46000)]]), stripCodecs: ['pcmu', '101'] });
    expect(out).toBe('v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 46000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n');
  });

  it('refuses to strip every codec and leaves the list as it was (as rtpengine does)', () => {
    const out = rewriteSdp(SIPP_OFFER, {
      endpoints: new Map([[1, relay(46000)]]),
      stripCodecs: ['PCMA', 'telephone-event'],
    });
    expect(out).toContain('m=audio 46000 RTP/AVP 8 101');
  });

  it('leaves a disabled stream (port 0) alone', () => {
    const sdp = 'v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\n';
    const out = rewriteSdp(sdp, { endpoints: new Map([[1, relay(46000)]]) });
    expect(out).toBe(
      'v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 46000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\n',
    );
  });

  it('gives a stream relayed to another address its own c=', () => {
    const sdp = 'v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\n';
    const out = rewriteSdp(sdp, {
      endpoints: new Map([
        [1, relay(46000)],
        [2, relay(46002, '2001:db8::7', true)],
      ]),
    });
    expect(out).toBe(
      'v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 46000 RTP/AVP 0\r\nm=audio 46002 RTP/AVP 0\r\nc=IN IP6 2001:db8::7\r\n',
    );
  });

  it('keeps LF line endings when that is what came in', () => {
    const out = rewriteSdp('v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0\n', {
      endpoints: new Map([[1, relay(46000)]]),
    });
    expect(out).toBe('v=0\nc=IN IP4 127.0.0.1\nm=audio 46000 RTP/AVP 0\n');
  });
});
