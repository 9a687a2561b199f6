import { SipHeaders } from './headers';
import type { SipRequest, SipResponse } from './message';
import { parseNameAddr, tagOf } from './name-addr';

/** Reason phrases (RFC 3261 §21, RFC 3515 §2.4.7 for 202, RFC 6665 for 489). */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? REASON_PHRASES[Math.floor(status / 100) * 100] ?? 'Unknown';
}

export interface ResponseOptions {
  readonly reason?: string;
  /** Our tag, added to To when the request's To has none (§8.2.6.2); never on 100. */
  readonly toTag?: string;
  /** Extra fields, written after the copied ones. */
  readonly headers?: Iterable<readonly [string, string]>;
  readonly body?: Buffer | string;
  readonly contentType?: string;
}

/**
 * A response to `req` built as RFC 3261 §8.2.6 says: Via (all values, in order),
 * From, Call-ID and CSeq copied; To copied and tagged; a 100 copies Timestamp
 * (§8.2.6.1).
 */
export function createResponse(req: SipRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  const headers = new SipHeaders();
  for (const via of req.headers.fields().filter((f) => f.name === 'Via')) headers.append('Via', via.value);
  headers.append('From', req.headers.get('From') ?? '');
  let to = req.headers.get('To') ?? '';
  if (status > 100 && opts.toTag !== undefined && tagOf(parseNameAddr(to)) === null) to = `${to};tag=${opts.toTag}`;
  headers.append('To', to);
  headers.append('Call-ID', req.headers.get('Call-ID') ?? '');
  headers.append('CSeq', req.headers.get('CSeq') ?? '');
  if (status === 100) {
    const ts = req.headers.get('Timestamp');
    if (ts !== undefined) headers.append('Timestamp', ts);
  }
  for (const [name, value] of opts.headers ?? []) headers.append(name, value);
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : (opts.body ?? Buffer.alloc(0));
  if (body.length > 0) headers.set('Content-Type', opts.contentType ?? 'application/sdp');
  return { type: 'response', status, reason: opts.reason ?? reasonPhrase(status), headers, body };
}
