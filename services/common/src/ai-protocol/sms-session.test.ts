import { webhookSignature } from './auth';
import {
  parseSmsSessionAiFrame,
  parseSmsSessionAuth,
  parseSmsWebhookResponse,
  smsDeliveryFrame,
  type InboundSmsForAi,
} from './sms-session';

const sms: InboundSmsForAi = {
  messageId: 'sms_01JDQ8Y3V6T4Z9K2M5N7P8R0S1',
  from: '+15551230001',
  to: '+15559870002',
  text: 'are you there?',
  segments: 1,
  receivedAt: new Date(1764064799_000),
};

describe('SMS session and webhook frames', () => {
  test("the webhook body is the olib sms frame with segments and custom, bytes fixed (the doc's worked example)", () => {
    const body = JSON.stringify(smsDeliveryFrame(sms, { lang: 'en', nested: { no: 1 } }));
    expect(body).toBe(
      '{"type":"sms","data":{"message_id":"sms_01JDQ8Y3V6T4Z9K2M5N7P8R0S1","from_number":"+15551230001","to_number":"+15559870002","text":"are you there?","timestamp":1764064799,"segments":1,"custom":{"lang":"en"}}}',
    );
    // printf '%s' "1764064800.$BODY" | openssl dgst -sha256 -hmac 'example-shared-secret-0123456789abcdef'
    expect(webhookSignature('example-shared-secret-0123456789abcdef', '1764064800', body)).toBe(
      '12f8bf50257ad329156b10d8e95e555e6523c7317c836391afcd7d83e0274339',
    );
  });

  test('an SMS session\'s auth has session "sms" and call null; a call\'s auth is not one', () => {
    const auth = {
      token: 'Bearer a.b.c',
      signature: 'f'.repeat(64),
      timestamp: '1764064800',
      call_id: 'sms-1',
      reconnected: false,
    };
    expect(parseSmsSessionAuth(JSON.stringify({ type: 'auth', session: 'sms', auth, call: null })).ok).toBe(true);
    expect(parseSmsSessionAuth(JSON.stringify({ type: 'auth', auth, call: { conversation_id: 'c' } })).ok).toBe(false);
  });

  test("sms_ack joins the olib AI frames; webhook replies follow the sms frame's rules", () => {
    expect(parseSmsSessionAiFrame('{"type":"sms_ack","data":{"message_id":"sms-1"}}')).toMatchObject({ ok: true });
    expect(parseSmsSessionAiFrame('{"type":"sms","data":{"text":"hi","in_reply_to":"sms-1"}}')).toMatchObject({
      ok: true,
    });
    expect(parseSmsSessionAiFrame('{"type":"sms_ack","data":{}}')).toMatchObject({ ok: false });
    expect(parseSmsWebhookResponse('{"replies":[{"text":"hi","to_number":"+1"}]}')).toMatchObject({ ok: true });
    expect(parseSmsWebhookResponse('{}')).toMatchObject({ ok: true });
    expect(parseSmsWebhookResponse('{"replies":[{"text":""}]}')).toMatchObject({ ok: false });
  });
});
