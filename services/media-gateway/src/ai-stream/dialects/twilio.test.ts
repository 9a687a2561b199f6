import { decodeUlaw, encodeUlaw } from '../../../../common/src/audio/g711';
import type { AuthMaterial } from '../../../../common/src/ai-protocol/auth';
import { parseTwilioGatewayFrame, type TwilioGatewayFrame } from '../../../../common/src/ai-protocol/wire/twilio';
import { BRIDGE_ACCOUNT_SID, TwilioDialect, type UlawTranscoder } from './twilio';
import type { CallInfo } from './types';
import { createUlawTranscoder } from './ulaw-transcoder';

const call: CallInfo = {
  callId: 'call-1',
  conversationId: 'conv-1',
  from: '+15550001',
  to: '+15550002',
  direction: 'incoming',
  codec: 'PCMU',
  customParameters: { mode: 'echo' },
};
const auth = (reconnected: boolean): AuthMaterial => ({
  jwt: 'h.p.s',
  signature: 'f'.repeat(64),
  timestamp: '1700000000',
  callId: 'call-1',
  reconnected,
});
const tone = (n: number, hz: number): Int16Array =>
  new Int16Array(n).map((_, i) => Math.round(10000 * Math.sin((2 * Math.PI * hz * i) / 16000)));

function twilioFrame(wire: string | Uint8Array): TwilioGatewayFrame {
  const parsed = parseTwilioGatewayFrame(String(wire));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.frame;
}

describe('twilio dialect, gateway side', () => {
  test('opens with connected then start: streamSid, accountSid, callSid, tracks, mediaFormat, customParameters', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    const [connected, start] = d.opening(auth(false)).map(twilioFrame);
    expect(connected).toEqual({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    expect(start).toEqual({
      event: 'start',
      sequenceNumber: '1',
      streamSid: d.streamSid,
      start: {
        streamSid: d.streamSid,
        accountSid: BRIDGE_ACCOUNT_SID,
        callSid: 'call-1',
        tracks: ['inbound'],
        customParameters: {
          mode: 'echo',
          from: '+15550001',
          to: '+15550002',
          direction: 'incoming',
          conversation_id: 'conv-1',
        },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    expect(d.streamSid).toMatch(/^MZ[0-9a-f]{32}$/);
    expect(BRIDGE_ACCOUNT_SID).toMatch(/^AC[0-9a-f]{32}$/);
  });

  test('credentials go in the upgrade headers', () => {
    const headers = new TwilioDialect(call, createUlawTranscoder()).handshakeHeaders(auth(false));
    expect(headers['authorization']).toBe('Bearer h.p.s');
    expect(headers['x-bridge-signature']).toBe('f'.repeat(64));
  });

  test('media: 160 bytes of μ-law per 20 ms frame, chunk 1, 2, 3…, timestamp 0, 20, 40… ms', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    d.opening(auth(false));
    const frames = [0, 1, 2].map(() => twilioFrame(d.audio(tone(320, 1000))));
    frames.forEach((f, i) => {
      if (f.event !== 'media') throw new Error(f.event);
      expect(Buffer.from(f.media.payload, 'base64')).toHaveLength(160);
      expect(f.media).toMatchObject({ track: 'inbound', chunk: String(i + 1), timestamp: String(i * 20) });
      expect(f.sequenceNumber).toBe(String(i + 2));
      expect(f.streamSid).toBe(d.streamSid);
    });
  });

  test('the μ-law payload is the frame downsampled to 8 kHz (a 1 kHz tone stays a 1 kHz tone)', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    let last: Int16Array = new Int16Array(0);
    const input = tone(320 * 10, 1000);
    for (let i = 0; i < 10; i++) {
      const f = twilioFrame(d.audio(input.subarray(i * 320, (i + 1) * 320)));
      if (f.event === 'media') last = decodeUlaw(Buffer.from(f.media.payload, 'base64'));
    }
    // 1 kHz at 8 kHz: 8 samples a period; after the filter's settling the wave repeats every 8 samples.
    for (let i = 0; i < 150; i++) expect(Math.abs((last[i] as number) - (last[i + 8] as number))).toBeLessThan(700);
    const rms = Math.sqrt(last.reduce((s, v) => s + v * v, 0) / last.length);
    expect(rms).toBeGreaterThan((10000 / Math.SQRT2) * 0.95);
    expect(rms).toBeLessThan((10000 / Math.SQRT2) * 1.05);
  });

  test('a reconnect re-opens with the same streamSid, sequenceNumber from 1, reconnected "true"; chunks keep counting', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    d.opening(auth(false));
    d.audio(tone(320, 500));
    d.audio(tone(320, 500));
    const [, start] = d.opening(auth(true)).map(twilioFrame);
    if (start?.event !== 'start') throw new Error('no start');
    expect(start.sequenceNumber).toBe('1');
    expect(start.streamSid).toBe(d.streamSid);
    expect(start.start.customParameters['reconnected']).toBe('true');
    const media = twilioFrame(d.audio(tone(320, 500)));
    expect(media).toMatchObject({ sequenceNumber: '2', media: { chunk: '3', timestamp: '40' } });
  });

  test("dtmf, mark (with played_ms / truncated) and stop follow Twilio's shapes", () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    d.opening(auth(false));
    expect(twilioFrame(d.dtmf('7'))).toEqual({
      event: 'dtmf',
      sequenceNumber: '2',
      streamSid: d.streamSid,
      dtmf: { track: 'inbound_track', digit: '7' },
    });
    expect(twilioFrame(d.markPlayed('m', 999.6, false))).toEqual({
      event: 'mark',
      sequenceNumber: '3',
      streamSid: d.streamSid,
      mark: { name: 'm', played_ms: 1000, truncated: false },
    });
    expect(twilioFrame(d.end())).toEqual({
      event: 'stop',
      sequenceNumber: '4',
      streamSid: d.streamSid,
      stop: { accountSid: BRIDGE_ACCOUNT_SID, callSid: 'call-1' },
    });
  });

  test('no Twilio equivalent → no frame (sms, flow, ping, errors, gaps)', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    const sms = d.event({ type: 'sms', messageId: 'm', from: '+1', to: '+2', text: 'hi' });
    expect([sms, d.flow(), d.ping(), d.pong(), d.error(), d.gap()]).toEqual([null, null, null, null, null, null]);
  });

  test('hold and resume are extension events saying who holds the call; the agent may ask for either', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    d.opening(auth(false));
    expect(twilioFrame(d.event({ type: 'hold', heldBy: 'gateway' })!)).toEqual({
      event: 'hold',
      sequenceNumber: '2',
      streamSid: d.streamSid,
      hold: { callSid: 'call-1', held_by: 'gateway' },
    });
    expect(twilioFrame(d.event({ type: 'resume', heldBy: 'caller' })!)).toMatchObject({
      event: 'resume',
      resume: { callSid: 'call-1', held_by: 'caller' },
    });
    for (const event of ['hold', 'resume'] as const)
      expect(d.decode(Buffer.from(JSON.stringify({ event, streamSid: d.streamSid })), false)).toEqual({
        ok: true,
        messages: [{ kind: event }],
      });
  });

  test('transfer progress → transfer_target_answered / transfer_failed events the gateway schema accepts', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    const answered = JSON.parse(
      d.event({ type: 'transfer_target_answered', target: '+15550100', announce: 'a caller about billing' }) as string,
    ) as Record<string, unknown>;
    expect(answered).toEqual({
      event: 'transfer_target_answered',
      sequenceNumber: '1',
      streamSid: d.streamSid,
      transfer: { target: '+15550100', announce: 'a caller about billing' },
    });
    const failed = d.event({
      type: 'transfer_failed',
      target: 'desk',
      mode: 'bridged',
      reason: 'busy',
      sipStatus: 486,
    });
    expect(parseTwilioGatewayFrame(failed as string)).toMatchObject({
      ok: true,
      frame: {
        event: 'transfer_failed',
        transfer: { target: 'desk', mode: 'bridged', reason: 'busy', sip_status: 486 },
      },
    });
  });

  test('agent transfer with a mode, transfer_complete and transfer_cancel → their messages; a bad mode is refused', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    const decode = (v: unknown) => d.decode(Buffer.from(JSON.stringify(v)), false);
    expect(decode({ event: 'transfer', transfer: { target: '+15550100', mode: 'warm' } })).toEqual({
      ok: true,
      messages: [{ kind: 'transfer', target: '+15550100', mode: 'warm' }],
    });
    expect(decode({ event: 'transfer', transfer: { target: 'desk' } })).toEqual({
      ok: true,
      messages: [{ kind: 'transfer', target: 'desk', mode: 'auto' }],
    });
    expect(decode({ event: 'transfer_complete' })).toEqual({ ok: true, messages: [{ kind: 'transfer_complete' }] });
    expect(decode({ event: 'transfer_cancel' })).toEqual({ ok: true, messages: [{ kind: 'transfer_cancel' }] });
    expect(decode({ event: 'transfer', transfer: { target: 'desk', mode: 'sideways' } }).ok).toBe(false);
  });

  test('agent media of any length → μ-law decoded and upsampled to twice as many 16 kHz samples', () => {
    const seen: number[] = [];
    const transcoder: UlawTranscoder = {
      toUlaw8k: () => new Uint8Array(160),
      fromUlaw8k: (ulaw) => {
        seen.push(ulaw.length);
        return new Int16Array(ulaw.length * 2);
      },
    };
    const d = new TwilioDialect(call, transcoder);
    const payload = Buffer.from(encodeUlaw(new Int16Array(437))).toString('base64');
    const decoded = d.decode(
      Buffer.from(JSON.stringify({ event: 'media', streamSid: d.streamSid, media: { payload } })),
      false,
    );
    expect(seen).toEqual([437]);
    expect(decoded.ok && decoded.messages[0]?.kind === 'audio' && decoded.messages[0].pcm.length).toBe(874);
  });

  test('mark, clear and the control extensions map onto messages; binary frames are refused', () => {
    const d = new TwilioDialect(call, createUlawTranscoder());
    const decode = (f: object) => d.decode(Buffer.from(JSON.stringify(f)), false);
    expect(decode({ event: 'mark', streamSid: 'x', mark: { name: 'n' } })).toEqual({
      ok: true,
      messages: [{ kind: 'mark', name: 'n' }],
    });
    expect(decode({ event: 'clear', streamSid: 'x' })).toEqual({ ok: true, messages: [{ kind: 'clear' }] });
    expect(decode({ event: 'hangup' })).toEqual({ ok: true, messages: [{ kind: 'hangup', reason: 'ai_hangup' }] });
    expect(decode({ event: 'transfer', transfer: { target: 'sip:a@b' } })).toEqual({
      ok: true,
      messages: [{ kind: 'transfer', target: 'sip:a@b', mode: 'auto' }],
    });
    expect(decode({ event: 'media', media: { payload: '***' } })).toEqual({
      ok: false,
      reason: 'media: payload is not base64',
    });
    expect(d.decode(Buffer.alloc(4), true).ok).toBe(false);
  });
});
