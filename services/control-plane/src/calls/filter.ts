import type { ListCallsQuery } from './schemas';
import type { CallFilter } from './store';

/**
 * The spellings of a caller or dialled number to match. The gateway stores the SIP
 * URI's user part as sent (`+14155550123` or `14155550123`), so digits match either
 * way. Surrounding spaces go: an unencoded `+` in a query string arrives as a space
 * (application/x-www-form-urlencoded).
 */
export function numberSpellings(value: string): string[] {
  const trimmed = value.trim();
  const digits = /^\+?([0-9]+)$/.exec(trimmed)?.[1];
  return digits === undefined ? [trimmed] : [digits, `+${digits}`];
}

/** A validated query string as a store filter. */
export function callFilter(query: Omit<ListCallsQuery, 'page' | 'per_page'>): CallFilter {
  return {
    ...(query.state === undefined ? {} : { state: query.state }),
    ...(query.from_number === undefined ? {} : { from_number: numberSpellings(query.from_number) }),
    ...(query.to_number === undefined ? {} : { to_number: numberSpellings(query.to_number) }),
    ...(query.started_after === undefined ? {} : { started_after: new Date(query.started_after) }),
    ...(query.started_before === undefined ? {} : { started_before: new Date(query.started_before) }),
  };
}
