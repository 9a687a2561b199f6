import { parseOlibAiFrame, parseOlibGatewayFrame } from './olib';

describe('parseOlibAiFrame', () => {
  test.each([
    ['auth_ok', { type: 'auth_ok', data: { call_id: 'c1' } }],
    ['auth_ok without data', { type: 'auth_ok' }],
    ['seed response with text and audio', { type: 'response', data: { text: 'How can I help you?', audio: 'AAAA' } }],
    ['response with text only', { type: 'response', data: { text: 'Hi' } }],
    ['audio chunk', { type: 'audio', data: { audio: 'AAAA', sequence: 3 } }],
    ['clear', { type: 'clear' }],
    ['mark', { type: 'mark', data: { name: 'utterance-1' } }],
    ['hangup', { type: 'hangup', data: { reason: 'goodbye' } }],
    ['transfer', { type: 'transfer', data: { target: 'sip:sales@example.com' } }],
    ['send_dtmf', { type: 'send_dtmf', data: { digits: '12#', duration_ms: 100 } }],
    ['sms', { type: 'sms', data: { text: 'see you', to_number: '+15551234567', in_reply_to: 'm1' } }],
    ['ping', { type: 'ping', data: { id: 1 } }],
    ['pong', { type: 'pong', data: { id: 1 } }],
    ['error', { type: 'error', data: { code: 'ERR_BUSY', message: 'try later' } }],
    ['unknown fields are ignored', { type: 'clear', data: { reason: 'barge-in' }, extra: true }],
  ])('%s → accepted', (_name, frame) => {
    expect(parseOlibAiFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  test.each([
    ['not JSON', '{type:', 'not JSON'],
    ['unknown type', JSON.stringify({ type: 'dance' }), 'dance: / value of tag "type" must be in oneOf'],
    ['no type', JSON.stringify({ data: {} }), "?: / must have required property 'type'"],
    ['response with neither text nor audio', JSON.stringify({ type: 'response', data: {} }), 'response: /data'],
    [
      'mark without a name',
      JSON.stringify({ type: 'mark', data: {} }),
      "mark: /data must have required property 'name'",
    ],
    [
      'send_dtmf with a letter that is not DTMF',
      JSON.stringify({ type: 'send_dtmf', data: { digits: '12X' } }),
      'send_dtmf: /data/digits',
    ],
    ['transfer without a target', JSON.stringify({ type: 'transfer', data: { target: '' } }), 'transfer: /data/target'],
    ['an array', '[1,2]', '?: /'],
  ])('%s → refused with a reason', (_name, text, reason) => {
    const parsed = parseOlibAiFrame(text);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toContain(reason);
  });
});

describe('parseOlibGatewayFrame', () => {
  test("the seed README's own examples validate (auth with the extension fields, audio_data, dtmf)", () => {
    const auth = {
      type: 'auth',
      auth: {
        token: 'Bearer jwt-token',
        signature: 'a'.repeat(64),
        timestamp: '1640995200',
        call_id: 'unique-call-id',
      },
      call: {
        conversation_id: 'conv-123',
        from_number: '+1234567890',
        to_number: '+0987654321',
        direction: 'incoming',
        codec: 'PCMU',
        sample_rate: 8000,
      },
    };
    expect(parseOlibGatewayFrame(JSON.stringify(auth)).ok).toBe(true);
    const audio = {
      type: 'audio_data',
      data: { call_id: 'abc123', audio: 'AAAA', timestamp: 1634567890.123, sequence: 12345 },
    };
    expect(parseOlibGatewayFrame(JSON.stringify(audio)).ok).toBe(true);
    const dtmf = { type: 'dtmf', data: { call_id: 'abc123', digit: '1', duration_ms: 100 } };
    expect(parseOlibGatewayFrame(JSON.stringify(dtmf)).ok).toBe(true);
  });

  test('a dtmf frame with two digits → refused', () => {
    expect(
      parseOlibGatewayFrame(JSON.stringify({ type: 'dtmf', data: { call_id: 'a', digit: '12', duration_ms: 100 } })).ok,
    ).toBe(false);
  });
});
