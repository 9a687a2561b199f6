/**
 * DTMF carried in SIP INFO bodies. Neither format has an RFC; both are de facto
 * standards that Kamailio and most gateways pass through unchanged:
 * - `application/dtmf-relay` (Cisco): `Signal=5` and `Duration=160` (milliseconds) lines;
 * - `application/dtmf`: the bare key (`5`).
 */
export interface DtmfInfo {
  /** One of 0-9, *, #, A-D. */
  readonly digit: string;
  readonly durationMs: number;
}

/** Duration reported when the body gives none: the common gateway default tone length. */
export const DEFAULT_DTMF_DURATION_MS = 250;

const DIGIT = /^[0-9*#A-D]$/;
// Some senders put the RFC 4733 event code (§3.2: 10 = *, 11 = #, 12-15 = A-D) in Signal.
const EVENT_CODES: Readonly<Record<string, string>> = {
  '10': '*',
  '11': '#',
  '12': 'A',
  '13': 'B',
  '14': 'C',
  '15': 'D',
};

function normaliseDigit(raw: string): string | null {
  const v = raw.trim().toUpperCase();
  const digit = EVENT_CODES[v] ?? v;
  return DIGIT.test(digit) ? digit : null;
}

/** Reads `key=value` lines (any line ending, keys case-insensitive). */
function fields(body: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of body.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return out;
}

/**
 * The key press in an INFO body, or null when the content type is not a DTMF one
 * or the body names no valid key.
 */
export function parseDtmfInfo(contentType: string | null, body: string): DtmfInfo | null {
  if (contentType !== 'application/dtmf-relay' && contentType !== 'application/dtmf') return null;
  const kv = fields(body);
  const signal = kv.get('signal');
  if (signal === undefined) {
    if (contentType !== 'application/dtmf') return null;
    const digit = normaliseDigit(body);
    return digit === null ? null : { digit, durationMs: DEFAULT_DTMF_DURATION_MS };
  }
  const digit = normaliseDigit(signal);
  if (digit === null) return null;
  const duration = Number(kv.get('duration'));
  return {
    digit,
    durationMs: Number.isFinite(duration) && duration > 0 ? Math.round(duration) : DEFAULT_DTMF_DURATION_MS,
  };
}
