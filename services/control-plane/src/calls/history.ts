/**
 * The call history: one list over the AI calls the media gateways handled (table
 * calls) and the calls Kamailio only proxied (its CDRs, acc_cdrs, with the final
 * status from acc), one item per SIP Call-ID, with billable time and a cost estimate
 * from the trunk's rates. The reading is in history-store.ts; what is here is pure.
 */
import { AppError } from '../../../common/src/errors';
import { numberSpellings } from './filter';
import type { Disposition, HistoryDirection, HistoryKind, HistoryQuery } from './history-schemas';
import type { HistoryFilter, HistoryRow, HistoryStore } from './history-store';
import { recordingUrl } from './view';

/** How a trunk bills (db/migrations/0050). */
export interface TrunkBilling {
  /** NUMERIC(12,6) as text, e.g. "0.012000". */
  readonly ratePerMinute: string;
  readonly incrementSeconds: number;
  readonly minimumSeconds: number;
  readonly currency: string;
}

export interface CostEstimate {
  readonly amount: number;
  readonly currency: string;
}

export interface HistoryItem {
  readonly id: string;
  readonly kind: HistoryKind;
  readonly sip_call_id: string;
  readonly direction: HistoryDirection;
  readonly from: string;
  readonly to: string;
  readonly user: string | null;
  readonly trunk: string | null;
  readonly started_at: string;
  readonly answered_at: string | null;
  readonly ended_at: string | null;
  readonly duration_seconds: number;
  readonly billable_seconds: number;
  readonly cost_estimate: CostEstimate | null;
  readonly disposition: Disposition;
  readonly sip_status: number | null;
  readonly end_reason: string | null;
  readonly links: { readonly recording: string | null; readonly transcript: string | null };
}

export interface HistoryPage {
  readonly items: HistoryItem[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
}

/**
 * What a final SIP status says about the call (RFC 3261 §21): 486 Busy Here and 600
 * Busy Everywhere are busy; 408 Request Timeout (nobody answered before the proxy gave
 * up) and 480 Temporarily Unavailable are no answer; 487 Request Terminated is a
 * CANCEL from the caller. Every other failure is failed. The store writes the same
 * table as SQL (history-store.ts), so a filter and the items agree.
 */
export const FAILURE_DISPOSITIONS: Readonly<Record<number, Exclude<Disposition, 'answered' | 'failed'>>> = {
  486: 'busy',
  600: 'busy',
  408: 'no_answer',
  480: 'no_answer',
  487: 'cancelled',
};

export function dispositionOf(status: number): Disposition {
  if (status >= 200 && status < 300) return 'answered';
  return FAILURE_DISPOSITIONS[status] ?? 'failed';
}

/**
 * Billable seconds: nothing when not answered; else the duration (to the millisecond,
 * so float noise in a CDR never adds an increment) raised to the minimum, rounded up
 * to a whole number of increments. Without a trunk: whole seconds, rounded up.
 */
export function billableSeconds(durationSeconds: number, billing: TrunkBilling | null): number {
  const ms = Math.round(durationSeconds * 1000);
  if (!(ms > 0)) return 0;
  const increment = billing?.incrementSeconds ?? 1;
  const atLeast = Math.max(ms, (billing?.minimumSeconds ?? 0) * 1000);
  return Math.ceil(atLeast / (increment * 1000)) * increment;
}

/** "12.345600" → 12345600n, in millionths; the column's scale is 6. */
function micros(decimal: string): bigint {
  const m = /^([0-9]+)(?:\.([0-9]{0,6})[0-9]*)?$/.exec(decimal.trim());
  if (!m) throw new TypeError(`not a rate: ${decimal}`);
  return BigInt(m[1] as string) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** Billable minutes × the rate, to the millionth (half up), in integers: no float rounding on money. */
export function costEstimate(billable: number, billing: TrunkBilling): CostEstimate {
  const amountMicros = (micros(billing.ratePerMinute) * BigInt(billable) + 30n) / 60n;
  return { amount: Number(amountMicros) / 1e6, currency: billing.currency };
}

/** One row of the store as the API shows it. */
export function historyItem(row: HistoryRow): HistoryItem {
  const billing: TrunkBilling | null =
    row.trunk !== null && row.rate_per_minute !== null
      ? {
          ratePerMinute: row.rate_per_minute,
          incrementSeconds: row.billing_increment_seconds ?? 60,
          minimumSeconds: row.minimum_billable_seconds ?? 0,
          currency: row.currency ?? 'USD',
        }
      : null;
  const duration = row.disposition === 'answered' ? Math.max(0, Math.round(Number(row.duration) * 1000)) / 1000 : 0;
  const billable = billableSeconds(duration, billing);
  const ai = row.kind === 'ai';
  return {
    id: row.id,
    kind: row.kind,
    sip_call_id: row.sip_call_id,
    direction: row.direction,
    from: row.from_party,
    to: row.to_party,
    user: row.sip_user,
    trunk: row.trunk,
    started_at: row.started_at.toISOString(),
    answered_at: row.answered_at ? row.answered_at.toISOString() : null,
    ended_at: row.ended_at ? row.ended_at.toISOString() : null,
    duration_seconds: duration,
    billable_seconds: billable,
    cost_estimate: billing ? costEstimate(billable, billing) : null,
    disposition: row.disposition,
    sip_status: row.sip_status,
    end_reason: row.end_reason,
    links: {
      recording: ai && row.recorded ? recordingUrl(row.id) : null,
      transcript: ai ? `/api/calls/${encodeURIComponent(row.id)}` : null,
    },
  };
}

/** A validated query string as a store filter; a range that ends before it starts is a 400. */
export function historyFilter(query: Omit<HistoryQuery, 'page' | 'per_page'>): HistoryFilter {
  const from = query.from === undefined ? undefined : new Date(query.from);
  const to = query.to === undefined ? undefined : new Date(query.to);
  if (from !== undefined && to !== undefined && to.getTime() < from.getTime()) {
    throw new AppError('ERR_VALIDATION', 'query string is invalid: to must not be before from', {
      fields: [{ field: 'to', message: 'must not be before from' }],
    });
  }
  return {
    ...(query.number === undefined ? {} : { number: numberSpellings(query.number) }),
    ...(query.user === undefined ? {} : { user: query.user }),
    ...(query.trunk === undefined ? {} : { trunk: query.trunk }),
    ...(query.direction === undefined ? {} : { direction: query.direction }),
    ...(query.disposition === undefined ? {} : { disposition: query.disposition }),
    ...(query.kind === undefined ? {} : { kind: query.kind }),
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
  };
}

/** `GET /api/calls/history`. */
export class CallHistory {
  constructor(private readonly store: HistoryStore) {}

  async list(query: HistoryQuery): Promise<HistoryPage> {
    const { page, per_page: perPage, ...filters } = query;
    const { rows, total } = await this.store.list(historyFilter(filters), page, perPage);
    return { items: rows.map(historyItem), total, page, per_page: perPage };
  }
}
