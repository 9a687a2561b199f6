import { authHeaders } from '../../services/common/src/ai-protocol/auth';
import { OlibDialect } from '../../services/media-gateway/src/ai-stream/dialects/olib';
import { TwilioDialect } from '../../services/media-gateway/src/ai-stream/dialects/twilio';
import { createUlawTranscoder } from '../../services/media-gateway/src/ai-stream/dialects/ulaw-transcoder';
import type { CallInfo } from '../../services/media-gateway/src/ai-stream/dialects/types';
import { parseOlibAiFrame } from '../../services/common/src/ai-protocol/wire/olib';
import { parseTwilioAgentFrame } from '../../services/common/src/ai-protocol/wire/twilio';
import { parseSmsSessionAiFrame } from '../../services/common/src/ai-protocol/sms-session';
import { createAgentDialect, dialectForPath } from '../../services/demo-agent/src/dialects';

const call: CallInfo = {
  callId: 'call-1',
  conversationId: 'conv-1',
  from: '+1',
  to: '+2',
  direction: 'incoming',
  codec: 'PCMU',
  customParameters: { mode: 'dtmf-menu' },
};
const auth = { jwt: 'h.p.s', signature: 'a'.repeat(64), timestamp: '1700000000', callId: 'call-1', reconnected: false };
const text = (w: string | Uint8Array): Buffer => Buffer.from(w as string);

describe('dialectForPath', () => {
  test.each([
    ['/olib', 'olib'],
    ['/twilio/', 'twilio'],
    ['/binary', 'binary'],
    ['/', 'auto'],
    ['/ws', null],
  ])('%s → %s', (path, dialect) => {
    expect(dialectForPath(path)).toBe(dialect);
  });
});

describe('agent dialects read what the gateway dialects write', () => {
  test('olib: auth (with the mode), audio, dtmf, mark ack, call_end', () => {
    const gateway = new OlibDialect(call, { binaryAudio: false });
    const agent = createAgentDialect('olib');
    const frames = [
      ...gateway.opening(auth),
      gateway.audio(new Int16Array(320).fill(3), 0),
      gateway.dtmf('9', 100),
      gateway.markPlayed('m', 200, true),
      gateway.end('caller_hangup', 0),
    ];
    const events = frames.flatMap((f) => {
      const decoded = agent.decode(text(f), false);
      if (!decoded.ok) throw new Error(decoded.reason);
      return decoded.events;
    });
    expect(events.map((e) => e.kind)).toEqual(['auth', 'audio', 'dtmf', 'mark', 'end']);
    expect(events[0]).toMatchObject({
      kind: 'auth',
      mode: 'dtmf-menu',
      credentials: { callId: 'call-1', token: 'Bearer h.p.s', reconnected: false },
    });
    expect(events[1]).toMatchObject({ kind: 'audio', sequence: 1 });
    expect(events[3]).toEqual({ kind: 'mark', name: 'm', playedMs: 200, truncated: true });
    expect(events[4]).toEqual({ kind: 'end', reason: 'caller_hangup' });
  });

  test('twilio: credentials from the upgrade headers; start carries the call and the mode; stop ends it', () => {
    const gateway = new TwilioDialect(call, createUlawTranscoder());
    const agent = createAgentDialect('twilio');
    expect(agent.headerCredentials(authHeaders(auth))).toEqual({
      token: 'Bearer h.p.s',
      signature: 'a'.repeat(64),
      timestamp: '1700000000',
      callId: 'call-1',
      reconnected: false,
    });
    const events = [
      ...gateway.opening(auth),
      gateway.audio(new Int16Array(320)),
      gateway.dtmf('4'),
      gateway.end(),
    ].flatMap((f) => {
      const decoded = agent.decode(text(f), false);
      if (!decoded.ok) throw new Error(decoded.reason);
      return decoded.events;
    });
    expect(events.map((e) => e.kind)).toEqual(['noop', 'start', 'audio', 'dtmf', 'end']);
    expect(events[1]).toEqual({ kind: 'start', callId: 'call-1', mode: 'dtmf-menu', reconnected: false });
    expect(events[2]).toMatchObject({ kind: 'audio', sequence: 1 });
    expect((events[2] as { payload: Buffer }).payload).toHaveLength(160);
  });

  test("the base URL: Twilio headers → twilio; otherwise the auth frame's framing decides olib or binary", () => {
    expect(createAgentDialect('auto', authHeaders(auth)).name).toBe('twilio');
    const binary = createAgentDialect('auto', {});
    binary.decode(text(new OlibDialect(call, { binaryAudio: true }).opening(auth)[0] as string), false);
    expect(binary.name).toBe('binary');
    expect(binary.decode(Buffer.alloc(640), true)).toMatchObject({ ok: true });
    const olib = createAgentDialect('auto', {});
    olib.decode(text(new OlibDialect(call, { binaryAudio: false }).opening(auth)[0] as string), false);
    expect(olib.name).toBe('olib');
    expect(olib.decode(Buffer.alloc(640), true)).toEqual({ ok: false, reason: 'binary frame on the olib dialect' });
  });

  test("what the agent sends validates against the gateway's schemas", () => {
    const olib = createAgentDialect('olib');
    const replies = [
      olib.accepted('call-1'),
      olib.refused('ERR_AUTH_TOKEN', 'no'),
      olib.speak(new Int16Array(5)),
      olib.text('hi'),
      olib.mark('m'),
      olib.clear(),
      olib.hangup('bye'),
      olib.pong(3),
      olib.sms('t', '+1', 'id'),
    ];
    for (const reply of replies) expect(parseOlibAiFrame(String(reply)).ok).toBe(true);
    const twilio = createAgentDialect('twilio');
    for (const reply of [
      twilio.speak(new Int16Array(320)),
      twilio.mark('m'),
      twilio.clear(),
      twilio.hangup('bye'),
      twilio.refused('ERR_AUTH_TOKEN', 'no'),
    ]) {
      expect(parseTwilioAgentFrame(String(reply)).ok).toBe(true);
    }
    expect([twilio.text('x'), twilio.pong(1), twilio.sms('t', '+1', 'id'), twilio.accepted('call-1')]).toEqual([
      null,
      null,
      null,
      null,
    ]);
  });
});

describe('SMS sessions (control-plane → agent)', () => {
  const smsAuth = {
    type: 'auth',
    session: 'sms',
    auth: {
      token: 'Bearer h.p.s',
      signature: 'a'.repeat(64),
      timestamp: '1700000000',
      call_id: 'sms-1',
      reconnected: false,
    },
    call: null,
  };

  test.each(['olib', 'binary', 'auto'] as const)(
    '%s: an auth with session "sms" and call null is an sms auth with the message id',
    (name) => {
      const decoded = createAgentDialect(name).decode(text(JSON.stringify(smsAuth)), false);
      expect(decoded).toEqual({
        ok: true,
        events: [
          {
            kind: 'auth',
            session: 'sms',
            mode: undefined,
            credentials: {
              token: 'Bearer h.p.s',
              signature: 'a'.repeat(64),
              timestamp: '1700000000',
              callId: 'sms-1',
              reconnected: false,
            },
          },
        ],
      });
    },
  );

  test('a call\'s auth says session "call"; an auth with call null but no session marker is refused', () => {
    const olib = createAgentDialect('olib');
    const decoded = olib.decode(text(new OlibDialect(call, { binaryAudio: false }).opening(auth)[0] as string), false);
    expect(decoded).toMatchObject({ ok: true, events: [{ kind: 'auth', session: 'call' }] });
    const unmarked: Record<string, unknown> = { ...smsAuth };
    delete unmarked['session'];
    expect(olib.decode(text(JSON.stringify(unmarked)), false)).toMatchObject({ ok: false });
  });

  test('sms_ack validates against the SMS session schema; twilio has none', () => {
    expect(parseSmsSessionAiFrame(String(createAgentDialect('olib').smsAck('sms-1')))).toEqual({
      ok: true,
      frame: { type: 'sms_ack', data: { message_id: 'sms-1' } },
    });
    expect(createAgentDialect('twilio').smsAck('sms-1')).toBeNull();
  });
});
