import { parsePhoneNumberWithError, ParseError } from 'libphonenumber-js/max';

/**
 * E.164 numbers (ITU-T E.164 §6): '+', a country calling code, then the national
 * number; at most 15 digits in all. Parsing and country codes come from
 * libphonenumber-js (Google's metadata); formatting characters a person might type
 * (spaces, dots, dashes, brackets) are accepted and dropped.
 *
 * A number only has to be well-formed here, not assigned: the seed's own examples
 * (+1234567890) are not valid NANP numbers, and carriers route test ranges too.
 * `valid` says whether the country's numbering plan knows the number, so callers can
 * warn about it.
 */
export type E164Result =
  | {
      readonly ok: true;
      readonly e164: string;
      readonly digits: string;
      readonly valid: boolean;
      readonly country: string | null;
    }
  | { readonly ok: false; readonly problem: string };

/** E.164 §6.2.1: at most 15 digits, country code included. */
export const E164_MAX_DIGITS = 15;

const TYPED_FORM = /^\+[0-9 ().\-/]+$/;

export function parseE164(input: string): E164Result {
  const text = input.trim();
  if (!text.startsWith('+')) {
    return { ok: false, problem: 'must be in E.164 form: "+", the country code, then the number (e.g. +14155550123)' };
  }
  if (!TYPED_FORM.test(text)) {
    return { ok: false, problem: 'may contain only "+", digits, spaces, dots, dashes and brackets' };
  }
  const digits = text.replace(/[^0-9]/g, '');
  if (digits.length > E164_MAX_DIGITS) {
    return { ok: false, problem: `has ${digits.length} digits; E.164 allows at most ${E164_MAX_DIGITS}` };
  }
  try {
    const parsed = parsePhoneNumberWithError(`+${digits}`);
    return {
      ok: true,
      e164: parsed.number,
      digits: parsed.number.slice(1),
      valid: parsed.isValid(),
      country: parsed.country ?? null,
    };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    if (err.message === 'INVALID_COUNTRY') {
      return { ok: false, problem: `does not start with a country calling code ("+${digits.slice(0, 3)}…" is none)` };
    }
    if (err.message === 'TOO_SHORT' || err.message === 'NOT_A_NUMBER') {
      return { ok: false, problem: 'is too short to be a phone number' };
    }
    return { ok: false, problem: 'is not an E.164 phone number' };
  }
}

/**
 * A number as it appears in a URL path: `+14155550123`, `%2B14155550123` (decoded by
 * the router) or the bare digits `14155550123` that Kamailio's tables use.
 */
export function parseE164Path(segment: string): E164Result {
  const text = segment.trim();
  return parseE164(/^[0-9]+$/.test(text) ? `+${text}` : text);
}
