import type { AuthMaterial } from '../../../../common/src/ai-protocol/auth';
import { parseOlibGatewayFrame, type OlibGatewayFrame } from '../../../../common/src/ai-protocol/wire/olib';
import { int16ToBase64 } from '../../../../common/src/ai-protocol/wire/pcm';
import { OlibDialect } from './olib';
import type { CallInfo } from './types';

const call: CallInfo = {
  callId: 'call-1',
  conversationId: 'conv-1',
  from: '+15550001',
  to: '+15550002',
  direction: 'incoming',
  codec: 'PCMA',
  customParameters: { mode: 'echo' },
};
const auth: AuthMaterial = {
  jwt: 'h.p.s',
  signature: 'f'.repeat(64),
  timestamp: '1700000000',
  callId: 'call-1',
  reconnected: true,
};
const frame = new Int16Array(320).map((_, i) => Math.round(8000 * Math.sin(i / 3)));

function gatewayFrame(wire: string | Uint8Array): OlibGatewayFrame {
  const parsed = parseOlibGatewayFrame(String(wire));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.frame;
}

describe('olib dialect, gateway side', () => {
  const dialect = (): OlibDialect => new OlibDialect(call, { binaryAudio: false });

  test('transfer with a mode (auto when absent), transfer_complete and transfer_cancel → their messages', () => {
    const decode = (v: unknown) => dialect().decode(Buffer.from(JSON.stringify(v)), false);
    expect(decode({ type: 'transfer', data: { target: '+15550100', mode: 'bridged' } })).toEqual({
      ok: true,
      messages: [{ kind: 'transfer', target: '+15550100', mode: 'bridged' }],
    });
    expect(decode({ type: 'transfer', data: { target: 'desk' } })).toEqual({
      ok: true,
      messages: [{ kind: 'transfer', target: 'desk', mode: 'auto' }],
    });
    expect(decode({ type: 'transfer_complete' })).toEqual({ ok: true, messages: [{ kind: 'transfer_complete' }] });
    expect(decode({ type: 'transfer_cancel', data: {} })).toEqual({
      ok: true,
      messages: [{ kind: 'transfer_cancel' }],
    });
    expect(decode({ type: 'transfer', data: { target: 'desk', mode: 'sideways' } }).ok).toBe(false);
  });

  test('transfer progress → transfer_target_answered and transfer_failed frames with the call id', () => {
    expect(
      gatewayFrame(dialect().event({ type: 'transfer_target_answered', target: 'desk', announce: 'billing' }, 2000)),
    ).toEqual({
      type: 'transfer_target_answered',
      data: { call_id: 'call-1', target: 'desk', announce: 'billing', timestamp: 2 },
    });
    expect(
      gatewayFrame(
        dialect().event({ type: 'transfer_failed', target: 'desk', mode: 'warm', reason: 'busy', sipStatus: 486 }, 0),
      ),
    ).toEqual({
      type: 'transfer_failed',
      data: { call_id: 'call-1', target: 'desk', mode: 'warm', reason: 'busy', sip_status: 486, timestamp: 0 },
    });
  });

  test("auth is the first frame, with the seed fields, reconnected and the call's custom parameters", () => {
    const [first, ...rest] = dialect().opening(auth);
    expect(rest).toEqual([]);
    expect(gatewayFrame(first as string)).toEqual({
      type: 'auth',
      auth: {
        token: 'Bearer h.p.s',
        signature: 'f'.repeat(64),
        timestamp: '1700000000',
        call_id: 'call-1',
        reconnected: true,
      },
      call: {
        conversation_id: 'conv-1',
        from_number: '+15550001',
        to_number: '+15550002',
        direction: 'incoming',
        codec: 'PCMA',
        sample_rate: 8000,
        audio_format: { encoding: 'pcm_s16le', sample_rate: 16000, channels: 1, frame_ms: 20, framing: 'json' },
        custom: { mode: 'echo' },
      },
    });
    expect(dialect().handshakeHeaders()).toEqual({});
  });

  test('audio_data carries 640 bytes of base64 PCM16LE, unix-seconds timestamp, sequence 1, 2, 3…', () => {
    const d = dialect();
    const frames = [1000, 1020, 1040].map((ms) => gatewayFrame(d.audio(frame, 1_700_000_000_000 + ms)));
    frames.forEach((f, i) => {
      if (f.type !== 'audio_data') throw new Error(f.type);
      expect(Buffer.from(f.data.audio, 'base64')).toHaveLength(640);
      expect(f.data.audio).toBe(int16ToBase64(frame));
      expect(f.data.sequence).toBe(i + 1);
      expect(f.data.timestamp).toBeCloseTo(1_700_000_001 + i * 0.02, 3);
      expect(f.data.call_id).toBe('call-1');
    });
  });

  test('audio_data written by hand → byte for byte what JSON.stringify makes of it (a call id that needs escaping too)', () => {
    const d = new OlibDialect({ ...call, callId: 'odd "id" \\ é' }, { binaryAudio: false });
    const wire = d.audio(frame, 1_700_000_000_123.456);
    expect(wire).toBe(
      JSON.stringify({
        type: 'audio_data',
        data: { call_id: 'odd "id" \\ é', audio: int16ToBase64(frame), timestamp: 1_700_000_000.123456, sequence: 1 },
      }),
    );
  });

  test('dtmf, mark acknowledgement, hold/resume, sms, flow, ping, call_end all validate against the contract', () => {
    const d = dialect();
    const frames = [
      d.dtmf('5', 120.4),
      d.markPlayed('m1', 1234.6, true),
      d.event({ type: 'hold', heldBy: 'gateway' }, 1_700_000_000_000),
      d.event({ type: 'resume' }, 1_700_000_000_000),
      d.event({ type: 'sms', messageId: 'sms-1', from: '+1', to: '+2', text: 'hello' }, 1_700_000_000_000),
      d.flow('paused', 4100),
      d.ping(7, 1_700_000_000_000),
      d.pong(8),
      d.error('ERR_BAD_FRAME', 'why'),
      d.end('caller_hangup', 1_700_000_000_000),
    ].map((w) => gatewayFrame(w));
    expect(frames.map((f) => f.type)).toEqual([
      'dtmf',
      'mark',
      'hold',
      'resume',
      'sms',
      'flow',
      'ping',
      'pong',
      'error',
      'call_end',
    ]);
    expect(frames[0]).toEqual({ type: 'dtmf', data: { call_id: 'call-1', digit: '5', duration_ms: 120 } });
    expect(frames[1]).toEqual({
      type: 'mark',
      data: { call_id: 'call-1', name: 'm1', played_ms: 1235, truncated: true },
    });
    expect(frames[9]).toEqual({
      type: 'call_end',
      data: { call_id: 'call-1', reason: 'caller_hangup', timestamp: 1_700_000_000 },
    });
  });

  test('olib never reports gaps: its sequence numbers show them', () => {
    expect(dialect().gap(3)).toBeNull();
  });

  test('response with text and audio → text, then audio samples', () => {
    const decoded = dialect().decode(
      Buffer.from(JSON.stringify({ type: 'response', data: { text: 'Hi', audio: int16ToBase64(frame) } })),
      false,
    );
    expect(decoded).toEqual({
      ok: true,
      messages: [
        { kind: 'text', text: 'Hi', final: true },
        { kind: 'audio', pcm: frame },
      ],
    });
  });

  test('streamed audio of any whole-sample length → one audio message', () => {
    const odd = frame.subarray(0, 77);
    expect(
      dialect().decode(Buffer.from(JSON.stringify({ type: 'audio', data: { audio: int16ToBase64(odd) } })), false),
    ).toEqual({ ok: true, messages: [{ kind: 'audio', pcm: odd }] });
  });

  test('audio that is not base64 PCM16 → refused, with the reason', () => {
    const decoded = dialect().decode(
      Buffer.from(JSON.stringify({ type: 'audio', data: { audio: 'AAA=' + '!!' } })),
      false,
    );
    expect(decoded).toEqual({ ok: false, reason: 'audio: audio is not base64 PCM16LE' });
    const halfSample = dialect().decode(
      Buffer.from(JSON.stringify({ type: 'audio', data: { audio: Buffer.from([1, 2, 3]).toString('base64') } })),
      false,
    );
    expect(halfSample.ok).toBe(false);
  });

  test('control frames map onto messages', () => {
    const d = dialect();
    const decode = (f: object) => d.decode(Buffer.from(JSON.stringify(f)), false);
    expect(decode({ type: 'auth_ok' })).toEqual({ ok: true, messages: [{ kind: 'accepted' }] });
    expect(decode({ type: 'clear' })).toEqual({ ok: true, messages: [{ kind: 'clear' }] });
    expect(decode({ type: 'hold' })).toEqual({ ok: true, messages: [{ kind: 'hold' }] });
    expect(decode({ type: 'resume', data: {} })).toEqual({ ok: true, messages: [{ kind: 'resume' }] });
    expect(decode({ type: 'hangup' })).toEqual({ ok: true, messages: [{ kind: 'hangup', reason: 'ai_hangup' }] });
    expect(decode({ type: 'send_dtmf', data: { digits: '1#' } })).toEqual({
      ok: true,
      messages: [{ kind: 'send_dtmf', digits: '1#', durationMs: undefined }],
    });
    expect(decode({ type: 'response', data: { text: 'partial', final: false } })).toEqual({
      ok: true,
      messages: [{ kind: 'text', text: 'partial', final: false }],
    });
  });

  test('a binary frame on olib → refused', () => {
    expect(dialect().decode(Buffer.alloc(640), true)).toEqual({
      ok: false,
      reason: 'binary frame on the olib dialect',
    });
  });
});

describe('binary dialect, gateway side', () => {
  const dialect = (): OlibDialect => new OlibDialect(call, { binaryAudio: true });

  test('audio is one 640-byte binary message per frame', () => {
    const wire = dialect().audio(frame, 0);
    expect(wire).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(wire as Uint8Array).equals(Buffer.from(frame.buffer))).toBe(true);
    expect((wire as Uint8Array).byteLength).toBe(640);
  });

  test('binary messages from the AI are PCM16LE audio of any whole-sample length', () => {
    const bytes = Buffer.from(frame.buffer, 0, 100);
    expect(dialect().decode(bytes, true)).toEqual({
      ok: true,
      messages: [{ kind: 'audio', pcm: frame.subarray(0, 50) }],
    });
    expect(dialect().decode(Buffer.alloc(3), true).ok).toBe(false);
  });

  test('dropped frames are announced with audio_gap', () => {
    expect(gatewayFrame(dialect().gap(4) as string)).toEqual({
      type: 'audio_gap',
      data: { call_id: 'call-1', dropped_frames: 4, dropped_ms: 80 },
    });
  });

  test("control vocabulary is olib's; the auth frame says the audio is binary", () => {
    expect(dialect().name).toBe('binary');
    expect(gatewayFrame(dialect().opening(auth)[0] as string)).toMatchObject({
      type: 'auth',
      call: { audio_format: { framing: 'binary' } },
    });
  });
});
