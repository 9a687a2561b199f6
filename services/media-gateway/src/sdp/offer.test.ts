import { parseSdp } from '../../../common/src/sdp/sdp';
import { SdpOfferer } from './offer';

function answer(lines: string[]): string {
  return ['v=0', 'o=- 99 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', ...lines, ''].join('\r\n');
}

describe('SdpOfferer', () => {
  test('the offer → one RTP/AVP audio stream: PCMU, PCMA, telephone-event 0-15, ptime 20, sendrecv, our address and port', () => {
    const o = new SdpOfferer({ address: '127.0.0.1', port: 30000, sessionId: '42' });
    const sdp = parseSdp(o.offer);
    expect(sdp.origin).toMatchObject({ sessionId: '42', address: '127.0.0.1' });
    expect(sdp.connection?.address).toBe('127.0.0.1');
    expect(sdp.media).toHaveLength(1);
    const m = sdp.media[0]!;
    expect(m).toMatchObject({ type: 'audio', port: 30000, protocol: 'RTP/AVP', formats: ['0', '8', '101'] });
    expect(m.attributes).toEqual([
      { name: 'rtpmap', value: '0 PCMU/8000' },
      { name: 'rtpmap', value: '8 PCMA/8000' },
      { name: 'rtpmap', value: '101 telephone-event/8000' },
      { name: 'fmtp', value: '101 0-15' },
      { name: 'ptime', value: '20' },
      { name: 'sendrecv' },
    ]);
  });

  test("an answer choosing PCMA with telephone-event → PCMA, its payload types, the answerer's address", () => {
    const o = new SdpOfferer({ address: '127.0.0.1', port: 30000 });
    const r = o.takeAnswer(
      answer([
        'm=audio 40002 RTP/AVP 8 101',
        'c=IN IP4 127.0.0.9',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:101 telephone-event/8000',
        'a=sendrecv',
      ]),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.media.codec).toEqual({ name: 'PCMA', payloadType: 8, clockRate: 8000 });
    expect(r.media.telephoneEvent?.payloadType).toBe(101);
    expect(r.media.remote).toMatchObject({ address: '127.0.0.9', port: 40002, rtcpPort: 40003 });
    expect(r.media).toMatchObject({ hold: false, send: true, receive: true });
  });

  test('an answer without telephone-event → no RFC 4733 events; a sendonly answer → on hold', () => {
    const o = new SdpOfferer({ address: '127.0.0.1', port: 30000 });
    const r = o.takeAnswer(answer(['m=audio 40002 RTP/AVP 0', 'a=sendonly']));
    expect(r.ok && r.media.telephoneEvent).toBe(undefined);
    expect(r.ok && r.media.codec.name).toBe('PCMU');
    expect(r.ok && r.media.hold).toBe(true);
  });

  test('answers we cannot use → refused with the reason: rejected stream, no common codec, extra m= line, garbage', () => {
    const o = new SdpOfferer({ address: '127.0.0.1', port: 30000 });
    expect(o.takeAnswer(answer(['m=audio 0 RTP/AVP 0']))).toMatchObject({ ok: false, reason: /rejected/ });
    expect(o.takeAnswer(answer(['m=audio 40002 RTP/AVP 18', 'a=rtpmap:18 G729/8000']))).toMatchObject({
      ok: false,
      reason: /none of our codecs/,
    });
    expect(o.takeAnswer(answer(['m=audio 40002 RTP/AVP 0', 'm=video 40004 RTP/AVP 96']))).toMatchObject({
      ok: false,
      reason: /2 m= lines/,
    });
    expect(o.takeAnswer('hello')).toMatchObject({ ok: false, reason: /malformed/ });
  });

  test("the far end's re-offer → answered in the same SDP session, with a newer version than our offer (RFC 3264 §8)", () => {
    const o = new SdpOfferer({ address: '127.0.0.1', port: 30000 });
    const ours = parseSdp(o.offer).origin;
    const r = o.answerer().answer(answer(['m=audio 40002 RTP/AVP 0', 'a=sendonly']));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.answer.origin.sessionId).toBe(ours.sessionId);
    expect(BigInt(r.answer.origin.sessionVersion)).toBe(BigInt(ours.sessionVersion) + 1n);
    expect(r.media.hold).toBe(true);
  });

  test("a call we placed can be put on hold: our offer again with a=sendonly, one version up; the far end's re-offer next is one more", () => {
    const o = new SdpOfferer({ address: '127.0.0.1', port: 30000 });
    const ours = parseSdp(o.offer);
    expect(o.takeAnswer(answer(['m=audio 40002 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000'])).ok).toBe(true);
    const answerer = o.answerer();
    const hold = parseSdp(answerer.reoffer('sendonly') as string);
    expect(hold.origin.sessionId).toBe(ours.origin.sessionId);
    expect(BigInt(hold.origin.sessionVersion)).toBe(BigInt(ours.origin.sessionVersion) + 1n);
    expect(hold.media[0]!.formats).toEqual(ours.media[0]!.formats);
    expect(hold.media[0]!.attributes.at(-1)).toEqual({ name: 'sendonly' });
    const refresh = answerer.answer(answer(['m=audio 40002 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000', 'a=sendrecv']));
    expect(refresh.ok && refresh.media.direction).toBe('sendonly');
    expect(refresh.ok && BigInt(refresh.answer.origin.sessionVersion)).toBe(BigInt(ours.origin.sessionVersion) + 2n);
  });

  test('a telephone-event payload type outside 96..127 → TypeError (a programming mistake)', () => {
    expect(() => new SdpOfferer({ address: '127.0.0.1', port: 30000, telephoneEventPt: 13 })).toThrow(TypeError);
  });
});
