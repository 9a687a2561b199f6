import { SipParseError } from '../errors';
import type { SipHeaders } from './headers';
import { parseNameAddr, tagOf, type NameAddr } from './name-addr';
import { parseVia, type Via } from './via';

export const SIP_VERSION = 'SIP/2.0';

/** A request (RFC 3261 §7.1): `Method SP Request-URI SP SIP-Version`. */
export interface SipRequest {
  readonly type: 'request';
  readonly method: string;
  readonly uri: string;
  readonly headers: SipHeaders;
  readonly body: Buffer;
}

/** A response (RFC 3261 §7.2): `SIP-Version SP Status-Code SP Reason-Phrase`. */
export interface SipResponse {
  readonly type: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: SipHeaders;
  readonly body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

/** CSeq (RFC 3261 §20.16): a sequence number below 2**31 and the method. */
export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

export function parseCSeq(text: string): CSeq {
  const m = /^\s*(\d{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)\s*$/.exec(text);
  if (!m) throw new SipParseError(`bad CSeq "${text}"`);
  const seq = Number(m[1]);
  // §8.1.1.5: "The sequence number value MUST be expressible as a 32-bit unsigned integer and MUST be less than 2**31."
  if (seq >= 2 ** 31) throw new SipParseError(`CSeq number out of range in "${text}"`);
  return { seq, method: m[2] as string };
}

/** Reads a header every well-formed request and response has (§8.1.1), or throws a parse error. */
function required(msg: SipMessage, name: string): string {
  const value = msg.headers.get(name);
  if (value === undefined) throw new SipParseError(`missing ${name}`);
  return value;
}

export function callIdOf(msg: SipMessage): string {
  return required(msg, 'Call-ID').trim();
}

export function cseqOf(msg: SipMessage): CSeq {
  return parseCSeq(required(msg, 'CSeq'));
}

export function fromOf(msg: SipMessage): NameAddr {
  return parseNameAddr(required(msg, 'From'));
}

export function toOf(msg: SipMessage): NameAddr {
  return parseNameAddr(required(msg, 'To'));
}

export function fromTagOf(msg: SipMessage): string | null {
  return tagOf(fromOf(msg));
}

export function toTagOf(msg: SipMessage): string | null {
  return tagOf(toOf(msg));
}

export function topViaOf(msg: SipMessage): Via {
  return parseVia(required(msg, 'Via'));
}

/** The Content-Type's media type in lower case, without parameters; null when absent. */
export function contentTypeOf(msg: SipMessage): string | null {
  const ct = msg.headers.get('Content-Type');
  if (ct === undefined) return null;
  return (ct.split(';')[0] as string).trim().toLowerCase();
}

/** The body as UTF-8 text, or null for an empty body. */
export function bodyText(msg: SipMessage): string | null {
  return msg.body.length === 0 ? null : msg.body.toString('utf8');
}

/** The body when it is a session description (RFC 3261 §13.2.1: offers and answers travel as application/sdp). */
export function sdpOf(msg: SipMessage): string | null {
  if (msg.body.length === 0) return null;
  return contentTypeOf(msg) === 'application/sdp' ? msg.body.toString('utf8') : null;
}

/**
 * Checks the headers the transaction and dialog layers rely on (§8.1.1: To, From,
 * CSeq, Call-ID, Via; Max-Forwards is tolerated missing, as §8.2 leaves it to proxies)
 * and that the CSeq method matches the request's. Throws {@link SipParseError}.
 */
export function validateMessage(msg: SipMessage): void {
  callIdOf(msg);
  fromOf(msg);
  toOf(msg);
  topViaOf(msg);
  const cseq = cseqOf(msg);
  if (msg.type === 'request' && cseq.method !== msg.method) {
    throw new SipParseError(`CSeq method ${cseq.method} does not match ${msg.method}`);
  }
  const mf = msg.headers.get('Max-Forwards');
  if (mf !== undefined && !/^\s*\d{1,3}\s*$/.test(mf)) throw new SipParseError(`bad Max-Forwards "${mf}"`);
}
