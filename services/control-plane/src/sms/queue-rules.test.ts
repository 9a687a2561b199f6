import { e164Of } from '../../../common/src/sip-number';
import { parseDeliveryReport } from './inbound';
import { RateGate, type RateBudget, type RateDraw } from './rate-gate';
import { smsBranch } from './sip-endpoint';
import { backoffMs, retryableSipStatus } from './worker';

describe('SMS queue rules', () => {
  test('retries 408, 480, 5xx (and our own 482 in-flight); never 400/403/404/488 or 6xx', () => {
    for (const s of [408, 480, 482, 500, 502, 503, 504]) expect(retryableSipStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 407, 415, 486, 488, 600, 603, 606]) expect(retryableSipStatus(s)).toBe(false);
  });

  test('backoff doubles per attempt with jitter between half and all of it, capped', () => {
    expect(backoffMs(1, 2000, 300_000, () => 0)).toBe(1000);
    expect(backoffMs(1, 2000, 300_000, () => 1)).toBe(2000);
    expect(backoffMs(3, 2000, 300_000, () => 0)).toBe(4000);
    expect(backoffMs(3, 2000, 300_000, () => 1)).toBe(8000);
    expect(backoffMs(20, 2000, 300_000, () => 1)).toBe(300_000);
    expect(backoffMs(20, 2000, 300_000, () => 0)).toBe(150_000);
  });

  test('a branch is the same for the same message and attempt, different otherwise, and RFC 3261 shaped', () => {
    const a = smsBranch('sms_0123', 0, 2);
    expect(a).toBe(smsBranch('sms_0123', 0, 2));
    expect(a).not.toBe(smsBranch('sms_0123', 0, 3));
    expect(a).not.toBe(smsBranch('sms_0123', 1, 2));
    expect(a).toMatch(/^z9hG4bK[A-Za-z0-9_-]{22}$/);
  });

  test('e164Of takes +, 00 and bare digits; names are not numbers', () => {
    expect(e164Of('+14155550123')).toBe('+14155550123');
    expect(e164Of('0014155550123')).toBe('+14155550123');
    expect(e164Of('14155550123')).toBe('+14155550123');
    expect(e164Of('alice')).toBeNull();
    expect(e164Of('12')).toBeNull();
  });

  test('IMDN delivery notifications (RFC 5438 §7.2.1.1), with or without a namespace prefix', () => {
    const body = (status: string, prefix = ''): string =>
      `<?xml version="1.0"?><${prefix}imdn xmlns${prefix ? `:${prefix.slice(0, -1)}` : ''}="urn:ietf:params:xml:ns:imdn"><${prefix}message-id>sms_abc</${prefix}message-id>` +
      `<${prefix}delivery-notification><${prefix}status><${prefix}${status}/></${prefix}status></${prefix}delivery-notification></${prefix}imdn>`;
    expect(parseDeliveryReport(body('delivered'))).toEqual({
      messageId: 'sms_abc',
      delivered: true,
      status: 'delivered',
    });
    expect(parseDeliveryReport(body('failed'))).toEqual({ messageId: 'sms_abc', delivered: false, status: 'failed' });
    expect(parseDeliveryReport(body('delivered', 'i:'))).toEqual({
      messageId: 'sms_abc',
      delivered: true,
      status: 'delivered',
    });
    expect(parseDeliveryReport('<imdn><status><delivered/></status></imdn>')).toBeNull();
    expect(parseDeliveryReport('not xml')).toBeNull();
  });

  test('the rate gate lets `rate` a second through, in order', async () => {
    const gate = new RateGate('t', 100, new MemoryBudget());
    const start = Date.now();
    const order: number[] = [];
    await Promise.all(Array.from({ length: 60 }, (_, i) => gate.take().then(() => order.push(i))));
    const elapsed = Date.now() - start;
    // A burst of 10, then 50 more at 100/s: about half a second (never less than 0.45 s).
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(order).toEqual(Array.from({ length: 60 }, (_, i) => i));
    gate.close();
    await new RateGate('t', 0, new MemoryBudget()).take();
  });

  test('two gates on one budget (two replicas) share the rate instead of doubling it', async () => {
    const budget = new MemoryBudget();
    const a = new RateGate('t', 100, budget);
    const b = new RateGate('t', 100, budget);
    const start = Date.now();
    await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).take()));
    // 60 at 100/s in total (burst 10): about half a second, as for one gate; 0.25 s if each had its own.
    expect(Date.now() - start).toBeGreaterThanOrEqual(450);
  });

  test('a budget that fails is retried: the waiter goes through once it answers', async () => {
    const budget = new MemoryBudget();
    let failures = 1;
    const flaky: RateBudget = {
      draw: (k, r, burst, want) =>
        failures-- > 0 ? Promise.reject(new Error('db down')) : budget.draw(k, r, burst, want),
    };
    const errors: string[] = [];
    const gate = new RateGate('t', 100, flaky, (err) => errors.push(err.message), 20);
    await gate.take();
    expect(errors).toEqual(['db down']);
  });
});

/** PgRateBudget's arithmetic in memory: a token bucket per key. */
class MemoryBudget implements RateBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  draw(key: string, rate: number, burst: number, want: number): Promise<RateDraw> {
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    const available = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
    const granted = Math.min(Math.floor(available), want);
    this.buckets.set(key, { tokens: available - granted, at: now });
    return Promise.resolve({ granted, tokens: available - granted });
  }
}
