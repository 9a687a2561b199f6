import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SdpAnswerer, type AnswererOptions, type NegotiationResult } from './negotiate';
import { attributeValue, parseSdp, serializeSdp } from '../../../common/src/sdp/sdp';

const fixture = (name: string): string =>
  readFileSync(join(__dirname, '../../../common/test-fixtures/sdp', name), 'latin1');
const ours: AnswererOptions = { address: '127.0.0.5', port: 30000, sessionId: '4242' };

function ok(result: NegotiationResult): Extract<NegotiationResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected an answer, got ${result.status} ${result.reason}`);
  return result;
}

/** A minimal offer around one m= section. */
function offer(mediaLines: string, connection = 'c=IN IP4 192.0.2.10', session = ''): string {
  return `v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\n${connection}\r\nt=0 0\r\n${session}${mediaLines}`;
}

describe('SdpAnswerer (RFC 3264 answerer)', () => {
  it('SIPp uac offer (PCMU only) → the whole answer, line by line', () => {
    const answerer = new SdpAnswerer(ours);
    const result = ok(answerer.answer(fixture('sipp-uac-offer.sdp')));
    const version = result.answer.origin.sessionVersion;
    expect(result.sdp).toBe(
      [
        'v=0',
        `o=- 4242 ${version} IN IP4 127.0.0.5`,
        's=-',
        'c=IN IP4 127.0.0.5',
        't=0 0',
        'm=audio 30000 RTP/AVP 0',
        'a=rtpmap:0 PCMU/8000',
        'a=ptime:20',
        'a=sendrecv',
        '',
      ].join('\r\n'),
    );
    expect(/^\d+$/.test(version)).toBe(true);
    expect(result.media).toEqual({
      index: 0,
      codec: { name: 'PCMU', payloadType: 0, clockRate: 8000 },
      remote: { address: '127.0.0.1', port: 46100, rtcpAddress: '127.0.0.1', rtcpPort: 46101, rtcpMux: false },
      direction: 'sendrecv',
      send: true,
      receive: true,
      hold: false,
    });
    expect(serializeSdp(parseSdp(result.sdp))).toBe(result.sdp);
  });

  it('SIPp uac_pcap offer (PCMA, telephone-event 0-11,16) → PCMA and telephone-event 101 with events 0-11', () => {
    const result = ok(new SdpAnswerer(ours).answer(fixture('sipp-uac-pcap-offer.sdp')));
    expect(result.media.codec).toEqual({ name: 'PCMA', payloadType: 8, clockRate: 8000 });
    expect(result.media.telephoneEvent).toEqual({ payloadType: 101, events: '0-11' });
    const audio = result.answer.media[0]!;
    expect(audio.formats).toEqual(['8', '101']);
    expect(audio.attributes.map((a) => `${a.name}${a.value === undefined ? '' : `:${a.value}`}`)).toEqual([
      'rtpmap:8 PCMA/8000',
      'rtpmap:101 telephone-event/8000',
      'fmtp:101 0-11',
      'ptime:20',
      'sendrecv',
    ]);
  });

  it('rtpengine multi-codec offer (opus, G722, PCMU, PCMA, two telephone-events) → PCMU, telephone-event/8000 0-15, a=rtcp port', () => {
    const result = ok(new SdpAnswerer(ours).answer(fixture('rtpengine-multicodec-offer.sdp')));
    expect(result.media.codec.name).toBe('PCMU');
    expect(result.media.telephoneEvent).toEqual({ payloadType: 101, events: '0-15' });
    expect(result.media.remote).toEqual({
      address: '127.0.0.1',
      port: 47328,
      rtcpAddress: '127.0.0.1',
      rtcpPort: 47329,
      rtcpMux: false,
    });
    expect(result.media.remotePtime).toBe(20);
    expect(result.answer.media[0]!.formats).toEqual(['0', '101']);
  });

  it('preference PCMA first → PCMA chosen from the same offer', () => {
    const result = ok(
      new SdpAnswerer({ ...ours, codecs: ['PCMA', 'PCMU'] }).answer(fixture('rtpengine-transcode-offer.sdp')),
    );
    expect(result.media.codec).toEqual({ name: 'PCMA', payloadType: 8, clockRate: 8000 });
  });

  it('rtpengine ICE + rtcp-mux offer → no ICE in the answer; rtcp-mux only when enabled', () => {
    const plain = ok(new SdpAnswerer(ours).answer(fixture('rtpengine-ice-rtcpmux-offer.sdp')));
    expect(plain.sdp).not.toMatch(/ice-|candidate|rtcp-mux/);
    expect(plain.media.remote).toMatchObject({ port: 47300, rtcpPort: 47301, rtcpMux: false });
    const muxed = ok(new SdpAnswerer({ ...ours, rtcpMux: true }).answer(fixture('rtpengine-ice-rtcpmux-offer.sdp')));
    expect(attributeValue(muxed.answer.media[0]!.attributes, 'rtcp-mux')).toBe('');
    expect(muxed.media.remote).toMatchObject({ port: 47300, rtcpPort: 47300, rtcpMux: true });
  });

  it('a=rtcp with an address (RFC 3605) → RTCP goes there', () => {
    const result = ok(
      new SdpAnswerer(ours).answer(offer('m=audio 5000 RTP/AVP 0\r\na=rtcp:6001 IN IP4 192.0.2.99\r\n')),
    );
    expect(result.media.remote).toMatchObject({
      address: '192.0.2.10',
      port: 5000,
      rtcpAddress: '192.0.2.99',
      rtcpPort: 6001,
    });
  });

  it('hold with a=sendonly (rtpengine) → hold, answer recvonly, we stop sending', () => {
    const result = ok(new SdpAnswerer(ours).answer(fixture('rtpengine-hold-sendonly-offer.sdp')));
    expect(result.media).toMatchObject({ hold: true, direction: 'recvonly', send: false, receive: true });
    expect(attributeValue(result.answer.media[0]!.attributes, 'recvonly')).toBe('');
  });

  it('hold with c=0.0.0.0 through rtpengine (plus its a=sendonly) → hold, nothing sent', () => {
    const result = ok(new SdpAnswerer(ours).answer(fixture('rtpengine-hold-zero-address-offer.sdp')));
    expect(result.media).toMatchObject({ hold: true, send: false, receive: true, direction: 'recvonly' });
  });

  it('legacy hold: c=0.0.0.0 and no direction attribute (RFC 2543) → hold, answer recvonly, nothing sent', () => {
    const result = ok(new SdpAnswerer(ours).answer(offer('m=audio 5000 RTP/AVP 0\r\n', 'c=IN IP4 0.0.0.0')));
    expect(result.media).toMatchObject({ hold: true, direction: 'recvonly', send: false, receive: true });
  });

  it.each([
    ['inactive', 'inactive', true, false, false],
    ['recvonly', 'sendonly', false, true, false],
    ['sendrecv', 'sendrecv', false, true, true],
  ] as const)('offer a=%s → answer %s (hold %s, send %s, receive %s)', (offered, answered, hold, send, receive) => {
    const result = ok(new SdpAnswerer(ours).answer(offer(`m=audio 5000 RTP/AVP 0\r\na=${offered}\r\n`)));
    expect(result.media).toMatchObject({ direction: answered, hold, send, receive });
  });

  it('session-level a=sendonly → applies to the stream (hold)', () => {
    const result = ok(
      new SdpAnswerer(ours).answer(offer('m=audio 5000 RTP/AVP 0\r\n', 'c=IN IP4 192.0.2.10', 'a=sendonly\r\n')),
    );
    expect(result.media).toMatchObject({ hold: true, direction: 'recvonly' });
  });

  it('a disabled stream (port 0) before a live one → the live one accepted, the disabled one answered with port 0', () => {
    const result = ok(new SdpAnswerer(ours).answer(offer('m=audio 0 RTP/AVP 0\r\nm=audio 5002 RTP/AVP 8\r\n')));
    expect(result.media.index).toBe(1);
    expect(result.answer.media.map((m) => [m.port, m.formats])).toEqual([
      [0, ['0']],
      [30000, ['8']],
    ]);
  });

  it('audio and video → video rejected with port 0 and its formats, audio accepted', () => {
    const result = ok(
      new SdpAnswerer(ours).answer(
        offer('m=audio 5000 RTP/AVP 0\r\nm=video 5010 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n'),
      ),
    );
    expect(result.sdp).toContain('m=video 0 RTP/AVP 96\r\n');
    expect(result.media.index).toBe(0);
  });

  it('a second audio stream → only the first accepted', () => {
    const result = ok(new SdpAnswerer(ours).answer(offer('m=audio 5000 RTP/AVP 0\r\nm=audio 5002 RTP/AVP 0\r\n')));
    expect(result.answer.media.map((m) => m.port)).toEqual([30000, 0]);
  });

  it('only G722 and G729 offered → 488 naming what was offered', () => {
    const result = new SdpAnswerer(ours).answer(offer('m=audio 5000 RTP/AVP 9 18\r\n'));
    expect(result).toEqual({
      ok: false,
      status: 488,
      reason: 'no common codec: offered G722/8000 G729/8000, we take PCMU PCMA',
    });
  });

  it('SRTP offer (RTP/SAVP) → 488', () => {
    const result = new SdpAnswerer(ours).answer(
      offer('m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n'),
    );
    expect(result).toMatchObject({ ok: false, status: 488 });
  });

  it('every stream disabled, or no m= line → 488', () => {
    expect(new SdpAnswerer(ours).answer(offer('m=audio 0 RTP/AVP 0\r\n'))).toMatchObject({ ok: false, status: 488 });
    expect(new SdpAnswerer(ours).answer(offer(''))).toMatchObject({
      ok: false,
      status: 488,
      reason: 'the offer has no media stream',
    });
  });

  it('no c= at any level → 488', () => {
    const text = 'v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n';
    expect(new SdpAnswerer(ours).answer(text)).toMatchObject({ ok: false, status: 488 });
  });

  it.each([
    ['c=IN IP4 999.999.999.999', 'c=IN IP4 999.999.999.999'],
    ['c=IN IP4 media.example.com (a name)', 'c=IN IP4 media.example.com'],
    ['c=IN IP4 2001:db8::1 (wrong address type)', 'c=IN IP4 2001:db8::1'],
    ['c=IN IP6 ::ffff:1.2.3.4.5', 'c=IN IP6 ::ffff:1.2.3.4.5'],
  ])('impossible connection address %s → 488 naming it, nothing agreed', (_name, connection) => {
    const answerer = new SdpAnswerer(ours);
    const result = answerer.answer(offer('m=audio 5000 RTP/AVP 0\r\n', connection));
    expect(result).toEqual({ ok: false, status: 488, reason: `unusable connection address ${connection}` });
    expect(answerer.negotiated).toBeUndefined();
  });

  it('an impossible address on a stream-level c= → 488; on a rejected stream (port 0) it does not matter', () => {
    expect(new SdpAnswerer(ours).answer(offer('m=audio 5000 RTP/AVP 0\r\nc=IN IP4 300.1.1.1\r\n'))).toMatchObject({
      ok: false,
      status: 488,
    });
    const fine = new SdpAnswerer(ours).answer(
      offer('m=video 0 RTP/AVP 31\r\nc=IN IP4 300.1.1.1\r\nm=audio 5000 RTP/AVP 0\r\n'),
    );
    expect(fine.ok).toBe(true);
  });

  it.each([['70000'], ['65536'], ['abc'], ['-1']])(
    'm= port %s → 488 (RFC 3264 §5.1: 0 only disables a stream)',
    (port) => {
      const result = new SdpAnswerer(ours).answer(offer(`m=audio ${port} RTP/AVP 0\r\n`));
      expect(result).toMatchObject({ ok: false, status: 488 });
      expect(!result.ok && result.reason).toMatch(/is not a port/);
    },
  );

  it("malformed SDP → 400 with the parser's reason", () => {
    const result = new SdpAnswerer(ours).answer('v=0\r\nnot sdp\r\n');
    expect(result).toMatchObject({ ok: false, status: 400 });
    expect(!result.ok && result.reason).toMatch(/^malformed SDP: line 2/);
  });

  it('telephone-event offering only event 16 (flash) → answered without telephone-event', () => {
    const result = ok(
      new SdpAnswerer(ours).answer(
        offer('m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 16\r\n'),
      ),
    );
    expect(result.media.telephoneEvent).toBeUndefined();
    expect(result.answer.media[0]!.formats).toEqual(['0']);
  });

  it('telephone-event without fmtp (RFC 2833 style) → 0-15; telephoneEvent: false → not answered', () => {
    const text = offer('m=audio 5000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n');
    expect(ok(new SdpAnswerer(ours).answer(text)).media.telephoneEvent).toEqual({ payloadType: 96, events: '0-15' });
    expect(ok(new SdpAnswerer({ ...ours, telephoneEvent: false }).answer(text)).media.telephoneEvent).toBeUndefined();
  });

  it('our IPv6 address → c= and o= say IP6', () => {
    const result = ok(new SdpAnswerer({ ...ours, address: '2001:db8::7' }).answer(fixture('sipp-uac-offer.sdp')));
    expect(result.sdp).toContain('c=IN IP6 2001:db8::7\r\n');
    expect(result.answer.origin.addrType).toBe('IP6');
  });

  describe('re-offers in one dialog', () => {
    it('same offer again (session refresh) → identical answer, same version; hold → version +1; resume → +1 again', () => {
      const answerer = new SdpAnswerer(ours);
      const first = ok(answerer.answer(fixture('sipp-uac-pcap-offer.sdp')));
      const refresh = ok(answerer.answer(fixture('sipp-uac-pcap-offer.sdp')));
      const hold = ok(
        answerer.answer(
          fixture('sipp-uac-pcap-offer.sdp').replace('a=fmtp:101 0-11,16\r\n', 'a=fmtp:101 0-11,16\r\na=sendonly\r\n'),
        ),
      );
      const resume = ok(answerer.answer(fixture('sipp-uac-pcap-offer.sdp')));
      const v = (r: typeof first) => BigInt(r.answer.origin.sessionVersion);
      expect(refresh.sdp).toBe(first.sdp);
      expect(v(hold)).toBe(v(first) + 1n);
      expect(hold.media.hold).toBe(true);
      expect(v(resume)).toBe(v(hold) + 1n);
      expect(resume.media.hold).toBe(false);
      expect(new Set([first, refresh, hold, resume].map((r) => r.answer.origin.sessionId))).toEqual(new Set(['4242']));
    });

    it('re-offer listing PCMA before PCMU → the current PCMU kept (no codec switch mid-call)', () => {
      const answerer = new SdpAnswerer(ours);
      ok(answerer.answer(offer('m=audio 5000 RTP/AVP 0 8\r\n')));
      const again = ok(answerer.answer(offer('m=audio 5000 RTP/AVP 8 0\r\n')));
      expect(again.media.codec.name).toBe('PCMU');
      expect(answerer.negotiated?.codec.name).toBe('PCMU');
    });

    it('re-offer without the current codec → switches to the next common one', () => {
      const answerer = new SdpAnswerer(ours);
      ok(answerer.answer(offer('m=audio 5000 RTP/AVP 0 8\r\n')));
      expect(ok(answerer.answer(offer('m=audio 5000 RTP/AVP 8\r\n'))).media.codec.name).toBe('PCMA');
    });

    it('re-offer with fewer m= lines than the session has → 488, previous agreement kept', () => {
      const answerer = new SdpAnswerer(ours);
      ok(answerer.answer(offer('m=video 0 RTP/AVP 96\r\nm=audio 5000 RTP/AVP 0\r\n')));
      const result = answerer.answer(offer('m=audio 5000 RTP/AVP 0\r\n'));
      expect(result).toMatchObject({ ok: false, status: 488 });
      expect(answerer.negotiated?.index).toBe(1);
    });

    it('re-offer moving the media to a new address and port → new remote; our answer unchanged, so its version too', () => {
      const answerer = new SdpAnswerer(ours);
      const first = ok(answerer.answer(offer('m=audio 5000 RTP/AVP 0\r\n')));
      const moved = ok(answerer.answer(offer('m=audio 7000 RTP/AVP 0\r\n', 'c=IN IP4 192.0.2.77')));
      expect(moved.media.remote).toMatchObject({ address: '192.0.2.77', port: 7000 });
      // Our side did not change, so neither does the answer body nor its version.
      expect(moved.answer.origin.sessionVersion).toBe(first.answer.origin.sessionVersion);
    });
  });

  it('bad options → TypeError', () => {
    expect(() => new SdpAnswerer({ ...ours, port: 0 })).toThrow(TypeError);
    expect(() => new SdpAnswerer({ ...ours, codecs: [] })).toThrow(TypeError);
  });
});

describe('SdpAnswerer.reoffer (our hold and resume, RFC 3264 §8.4 / RFC 6337 §5.1)', () => {
  const media =
    'm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';

  it('is the last answer with the new direction and the version one up; nothing before an answer', () => {
    const answerer = new SdpAnswerer(ours);
    expect(answerer.reoffer('sendonly')).toBeNull();
    const first = ok(answerer.answer(offer(media)));
    const version = BigInt(first.answer.origin.sessionVersion);
    const hold = parseSdp(answerer.reoffer('sendonly') as string);
    expect(BigInt(hold.origin.sessionVersion)).toBe(version + 1n);
    expect(hold.origin.sessionId).toBe('4242');
    const m = hold.media[0]!;
    expect(m.port).toBe(30000);
    expect(m.formats).toEqual(['8', '101']);
    expect(m.attributes.filter((a) => ['sendrecv', 'sendonly', 'recvonly', 'inactive'].includes(a.name))).toEqual([
      { name: 'sendonly' },
    ]);
    const resume = parseSdp(answerer.reoffer('sendrecv') as string);
    expect(BigInt(resume.origin.sessionVersion)).toBe(version + 2n);
    expect(attributeValue(resume.media[0]!.attributes, 'sendrecv')).toBe('');
  });

  it('while we hold, our answer to a sendrecv re-offer stays sendonly; the next answer counts on from our offer', () => {
    const answerer = new SdpAnswerer(ours);
    ok(answerer.answer(offer(media)));
    const held = BigInt(parseSdp(answerer.reoffer('sendonly') as string).origin.sessionVersion);
    const refresh = ok(answerer.answer(offer(media)));
    expect(refresh.media.direction).toBe('sendonly');
    expect(BigInt(refresh.answer.origin.sessionVersion)).toBe(held);
    const callerHolds = ok(answerer.answer(offer(media.replace('sendrecv', 'sendonly'))));
    expect(callerHolds.media.direction).toBe('inactive');
    expect(BigInt(callerHolds.answer.origin.sessionVersion)).toBe(held + 1n);
    answerer.reoffer('sendrecv');
    expect(ok(answerer.answer(offer(media))).media.direction).toBe('sendrecv');
  });
});
