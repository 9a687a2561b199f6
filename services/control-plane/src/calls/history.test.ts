import { AppError } from '../../../common/src/errors';
import { billableSeconds, costEstimate, dispositionOf, historyFilter, historyItem, type TrunkBilling } from './history';
import type { HistoryRow } from './history-store';

const perMinute = (rate: string, incrementSeconds = 60, minimumSeconds = 0): TrunkBilling => ({
  ratePerMinute: rate,
  incrementSeconds,
  minimumSeconds,
  currency: 'EUR',
});

const row = (over: Partial<HistoryRow> = {}): HistoryRow => ({
  kind: 'proxied',
  id: 'cdr:7',
  sip_call_id: 'abc@host',
  direction: 'outbound',
  from_party: 'alice',
  to_party: '15551230001',
  sip_user: 'alice',
  trunk: 'main',
  started_at: new Date('2026-12-07T03:00:00Z'),
  answered_at: new Date('2026-12-07T03:00:00Z'),
  ended_at: new Date('2026-12-07T03:01:01Z'),
  duration: 61.2344,
  disposition: 'answered',
  sip_status: 200,
  end_reason: 'bye',
  recorded: false,
  rate_per_minute: '0.012000',
  billing_increment_seconds: 6,
  minimum_billable_seconds: 30,
  currency: 'EUR',
  ...over,
});

describe('billable seconds', () => {
  test.each([
    [0, 0],
    [0.0004, 0],
    [1, 60],
    [60, 60],
    [60.001, 120],
    [119.9, 120],
  ])('%p s in whole minutes → %p', (duration, billable) => {
    expect(billableSeconds(duration, perMinute('0.01'))).toBe(billable);
  });

  test('the minimum comes first, then the increment: 6/30 bills 30 for 4 s and 36 for 31 s', () => {
    expect(billableSeconds(4, perMinute('0.01', 6, 30))).toBe(30);
    expect(billableSeconds(31, perMinute('0.01', 6, 30))).toBe(36);
  });

  test('float noise in a CDR duration (60.0000001) does not add an increment', () => {
    expect(billableSeconds(60.0000001, perMinute('0.01'))).toBe(60);
  });

  test('without a trunk: whole seconds, rounded up', () => {
    expect(billableSeconds(7.012, null)).toBe(8);
  });
});

describe('cost estimate', () => {
  test('billable minutes × the rate, exact to the millionth', () => {
    expect(costEstimate(12, perMinute('0.012000'))).toEqual({ amount: 0.0024, currency: 'EUR' });
    expect(costEstimate(60, perMinute('999999.999999'))).toEqual({ amount: 999999.999999, currency: 'EUR' });
    expect(costEstimate(0, perMinute('5'))).toEqual({ amount: 0, currency: 'EUR' });
  });

  test('half a millionth rounds up', () => {
    // 1 s at 0.000030/min = 0.0000005 → 0.000001
    expect(costEstimate(1, perMinute('0.000030')).amount).toBe(0.000001);
  });
});

describe('disposition of a final SIP status', () => {
  test.each([
    [200, 'answered'],
    [486, 'busy'],
    [600, 'busy'],
    [408, 'no_answer'],
    [480, 'no_answer'],
    [487, 'cancelled'],
    [404, 'failed'],
    [503, 'failed'],
    [603, 'failed'],
  ])('%p → %p', (status, disposition) => {
    expect(dispositionOf(status)).toBe(disposition);
  });
});

describe('a history item', () => {
  test('an answered trunk call: ms duration, billable from the trunk, cost, no links', () => {
    const item = historyItem(row());
    expect(item).toMatchObject({
      id: 'cdr:7',
      duration_seconds: 61.234,
      billable_seconds: 66,
      cost_estimate: { amount: 0.0132, currency: 'EUR' },
      links: { recording: null, transcript: null },
    });
  });

  test('a call that was not answered bills nothing, even with a minimum', () => {
    const item = historyItem(row({ disposition: 'busy', duration: 0, answered_at: null, sip_status: 486 }));
    expect(item.billable_seconds).toBe(0);
    expect(item.cost_estimate).toEqual({ amount: 0, currency: 'EUR' });
  });

  test('a call through no trunk (or a trunk since deleted) has no cost estimate', () => {
    expect(historyItem(row({ trunk: null })).cost_estimate).toBeNull();
    expect(historyItem(row({ rate_per_minute: null, currency: null })).cost_estimate).toBeNull();
  });

  test('an AI call links its transcript and, when recorded, its recording', () => {
    const item = historyItem(row({ kind: 'ai', id: 'c-1', recorded: true, trunk: null }));
    expect(item.links).toEqual({ recording: '/api/calls/c-1/recording', transcript: '/api/calls/c-1' });
    expect(historyItem(row({ kind: 'ai', id: 'c-2' })).links.recording).toBeNull();
  });
});

describe('the query as a filter', () => {
  test('a number matches with or without "+" (a "+" left unencoded reads as a space)', () => {
    expect(historyFilter({ number: ' 15551230001' }).number).toEqual(['15551230001', '+15551230001']);
  });

  test('to before from → 400 ERR_VALIDATION naming `to`', () => {
    let thrown: unknown;
    try {
      historyFilter({ from: '2026-12-07T03:00:00Z', to: '2026-12-07T02:59:59Z' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe('ERR_VALIDATION');
    expect((thrown as AppError).details).toEqual({ fields: [{ field: 'to', message: 'must not be before from' }] });
  });
});
