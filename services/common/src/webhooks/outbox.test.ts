import { createHmac } from 'node:crypto';
import { serializeWebhookBody, signWebhook, verifyWebhookSignature, webhookEventId } from './outbox';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const BODY = '{"id":"c1:1","event":"initiated","call_id":"c1","sequence":1}';
const NOW = 1_700_000_000_000;

describe('webhook signatures', () => {
  test('signWebhook → t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, checkable with plain crypto', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    const expected = createHmac('sha256', SECRET).update(`1700000000.${BODY}`).digest('hex');
    expect(header).toBe(`t=1700000000,v1=${expected}`);
  });

  test('a signature verifies against the same bytes within the tolerance', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhookSignature(SECRET, header, BODY, { nowMs: NOW })).toEqual({ ok: true, timestamp: 1700000000 });
    expect(verifyWebhookSignature(SECRET, header, Buffer.from(BODY), { nowMs: NOW + 299_000 }).ok).toBe(true);
    expect(verifyWebhookSignature(SECRET, header, BODY, { nowMs: NOW - 299_000 }).ok).toBe(true);
  });

  test('another body, another secret or a changed timestamp → mismatch', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhookSignature(SECRET, header, `${BODY} `, { nowMs: NOW })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyWebhookSignature(`${SECRET}x`, header, BODY, { nowMs: NOW })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    const moved = header.replace('t=1700000000', 't=1700000001');
    expect(verifyWebhookSignature(SECRET, moved, BODY, { nowMs: NOW })).toEqual({ ok: false, reason: 'mismatch' });
  });

  test('a replay after the tolerance → stale, even with a valid MAC', () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhookSignature(SECRET, header, BODY, { nowMs: NOW + 301_000 })).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verifyWebhookSignature(SECRET, header, BODY, { nowMs: NOW + 3_000_000, toleranceSeconds: 3600 }).ok).toBe(
      true,
    );
  });

  test('one valid v1 among several (a secret rotation) is enough; unknown schemes are ignored', () => {
    const good = signWebhook(SECRET, BODY, NOW);
    const old = signWebhook('old-secret-0123456789abcdef0123456789', BODY, NOW).split(',')[1] as string;
    expect(verifyWebhookSignature(SECRET, `${good},${old},v0=abc`, BODY, { nowMs: NOW }).ok).toBe(true);
    expect(verifyWebhookSignature(SECRET, `${old},${good.split(',')[0]}`, BODY, { nowMs: NOW }).ok).toBe(false);
  });

  test.each([
    [undefined],
    [''],
    ['garbage'],
    ['t=1700000000'],
    ['v1=' + 'a'.repeat(64)],
    ['t=abc,v1=' + 'a'.repeat(64)],
    ['t=1700000000,v1=xyz'],
    ['t=1700000000,t=1700000000,v1=' + 'a'.repeat(64)],
    ['t=1700000000,v1=' + 'A'.repeat(64)],
    ['t=1,v1=' + 'a'.repeat(64) + ','.repeat(5000)],
  ])('a malformed header %p → malformed, never a throw', (header) => {
    expect(verifyWebhookSignature(SECRET, header, BODY, { nowMs: NOW })).toEqual({ ok: false, reason: 'malformed' });
  });

  test('no secret → TypeError (a programming mistake, not a verdict)', () => {
    expect(() => signWebhook('', BODY)).toThrow(TypeError);
    expect(() => verifyWebhookSignature('', 't=1,v1=00', BODY)).toThrow(TypeError);
  });
});

describe('webhook bodies', () => {
  test('the stored body is sent with its fields in the documented order, whatever order it comes back in', () => {
    const stored = {
      data: { to_number: '+1', from_number: '+2' },
      sequence: 2,
      id: 'c:2',
      call_id: 'c',
      event: 'ringing',
      occurred_at: 'T',
    };
    expect(serializeWebhookBody(stored)).toBe(
      '{"id":"c:2","event":"ringing","call_id":"c","sequence":2,"occurred_at":"T","data":{"to_number":"+1","from_number":"+2"}}',
    );
  });

  test('event id → <call_id>:<sequence>', () => {
    expect(webhookEventId('abc-123', 7)).toBe('abc-123:7');
  });
});
