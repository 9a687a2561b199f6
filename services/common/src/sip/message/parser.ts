import { SipError, SipParseError } from '../errors';
import { SipHeaders } from './headers';
import { SIP_VERSION, type SipMessage } from './message';

/** Largest header block we read; a peer sending more is broken or hostile. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Largest body we accept (SDP and DTMF bodies are well below 10 kB). */
export const MAX_BODY_BYTES = 256 * 1024;

const CRLF = Buffer.from('\r\n');
const PING = Buffer.from('\r\n\r\n');

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix);
}

/** Index just past the blank line ending the headers, and where it starts; null if absent. */
function findHeaderEnd(data: Buffer, from: number): { headEnd: number; bodyStart: number } | null {
  // §7: lines end with CRLF; bare LF is accepted too, as robust parsers do.
  for (let i = from; i < data.length; i++) {
    if (data[i] !== 0x0a) continue;
    const headEnd = i > from && data[i - 1] === 0x0d ? i - 1 : i;
    if (data[i + 1] === 0x0a) return { headEnd, bodyStart: i + 2 };
    if (data[i + 1] === 0x0d && data[i + 2] === 0x0a) return { headEnd, bodyStart: i + 3 };
  }
  return null;
}

/** Skips CRLFs before a start line (§7.5: "MUST ignore any CRLF appearing before the start-line"). */
function skipLeadingCrlf(data: Buffer, from = 0): number {
  let i = from;
  while (i < data.length && (data[i] === 0x0d || data[i] === 0x0a)) i++;
  return i;
}

/** True for a datagram or stream chunk made only of CRLFs (RFC 5626 §3.5.1 keep-alives). */
export function isKeepAlive(data: Buffer): boolean {
  return data.length > 0 && skipLeadingCrlf(data) === data.length;
}

interface Head {
  readonly startLine: string;
  readonly headers: SipHeaders;
}

function parseHead(text: string): Head {
  const lines = text.split(/\r?\n/);
  const startLine = lines.shift() ?? '';
  const headers = new SipHeaders();
  let name: string | null = null;
  let value = '';
  const flush = (): void => {
    if (name !== null) headers.append(name, value.trim());
  };
  for (const line of lines) {
    if (line === '') continue;
    // §7.3.1: a line starting with whitespace continues the previous field (folding).
    if (line[0] === ' ' || line[0] === '\t') {
      if (name === null) throw new SipParseError('folded line before any header');
      value += ` ${line.trim()}`;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SipParseError(`header line without a name: "${line}"`);
    name = line.slice(0, colon).trim();
    if (!/^[A-Za-z0-9.!%*_+`'~-]+$/.test(name)) throw new SipParseError(`bad header name "${name}"`);
    value = line.slice(colon + 1);
  }
  flush();
  return { startLine, headers };
}

function contentLength(headers: SipHeaders): number | null {
  const values = headers.getAll('Content-Length');
  if (values.length === 0) return null;
  const v = (values[0] as string).trim();
  if (!/^\d+$/.test(v) || values.some((x) => x.trim() !== v))
    throw new SipParseError(`bad Content-Length "${values.join(', ')}"`);
  const n = Number(v);
  if (n > MAX_BODY_BYTES) throw new SipParseError(`body of ${n} bytes is too large`, 413);
  return n;
}

function build(head: Head, body: Buffer): SipMessage {
  const { startLine, headers } = head;
  // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2); the phrase may be empty.
  const status = /^(SIP\/\d+\.\d+) (\d{3})(?: (.*))?$/i.exec(startLine);
  if (status) {
    if ((status[1] as string).toUpperCase() !== SIP_VERSION)
      throw new SipParseError(`unsupported version ${status[1]}`, 505);
    const code = Number(status[2]);
    if (code < 100 || code > 699) throw new SipParseError(`bad status code ${code}`);
    return { type: 'response', status: code, reason: status[3] ?? '', headers, body };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version (§7.1).
  const request = /^([A-Za-z0-9.!%*_+`'~-]+) (\S+) (SIP\/\d+\.\d+)$/i.exec(startLine);
  if (!request) throw new SipParseError(`bad start line "${startLine}"`);
  if ((request[3] as string).toUpperCase() !== SIP_VERSION)
    throw new SipParseError(`unsupported version ${request[3]}`, 505);
  return { type: 'request', method: request[1] as string, uri: request[2] as string, headers, body };
}

/**
 * Parses one message from a datagram (RFC 3261 §7, §18.3): the body is the rest of
 * the datagram, cut to Content-Length when that is smaller; a Content-Length larger
 * than what arrived makes the message unreadable ("MUST be discarded").
 */
export function parseMessage(data: Buffer): SipMessage {
  const start = skipLeadingCrlf(data);
  const end = findHeaderEnd(data, start);
  let headText: string;
  let rest: Buffer;
  if (end === null) {
    // A message with no body may also lack the blank line when it is the whole datagram.
    headText = data.subarray(start).toString('utf8');
    rest = Buffer.alloc(0);
  } else {
    headText = data.subarray(start, end.headEnd).toString('utf8');
    rest = data.subarray(end.bodyStart);
  }
  if (headText.length > MAX_HEADER_BYTES) throw new SipParseError('header block too large');
  const head = parseHead(headText);
  const length = contentLength(head.headers);
  if (length !== null && length > rest.length) {
    throw new SipParseError(`Content-Length ${length} exceeds the ${rest.length} bytes received`);
  }
  const body = Buffer.from(length === null ? rest : rest.subarray(0, length));
  return build(head, body);
}

/** What {@link StreamFramer.push} found: whole messages and keep-alive pings. */
export type StreamItem =
  { readonly kind: 'message'; readonly message: SipMessage } | { readonly kind: 'ping' } | { readonly kind: 'pong' };

/**
 * Cuts a byte stream (TCP) into messages. §18.3: over a stream "the Content-Length
 * header field MUST be used to indicate the size of the message-body", so a message
 * without one is a framing error and the connection must be dropped. Accepts RFC
 * 5626 §3.5.1 keep-alives between messages: a double CRLF ping, a single CRLF pong.
 */
export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);

  /** Appends a chunk; returns every message now complete. Throws {@link SipError} ERR_SIP_FRAMING. */
  push(chunk: Buffer): StreamItem[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const items: StreamItem[] = [];
    for (;;) {
      if (startsWith(this.buffer, PING)) {
        items.push({ kind: 'ping' });
        this.buffer = this.buffer.subarray(PING.length);
        continue;
      }
      if (startsWith(this.buffer, CRLF)) {
        // A lone CRLF may be the first half of a ping still in flight: wait for more.
        if (PING.subarray(0, this.buffer.length).equals(this.buffer)) break;
        items.push({ kind: 'pong' });
        this.buffer = this.buffer.subarray(CRLF.length);
        continue;
      }
      const end = findHeaderEnd(this.buffer, 0);
      if (end === null) {
        if (this.buffer.length > MAX_HEADER_BYTES) throw new SipError('ERR_SIP_FRAMING', 'header block too large');
        break;
      }
      let head: Head;
      let length: number | null;
      try {
        head = parseHead(this.buffer.subarray(0, end.headEnd).toString('utf8'));
        length = contentLength(head.headers);
      } catch (err) {
        throw new SipError('ERR_SIP_FRAMING', (err as Error).message);
      }
      if (length === null) throw new SipError('ERR_SIP_FRAMING', 'message without Content-Length on a stream');
      if (this.buffer.length < end.bodyStart + length) break;
      const body = Buffer.from(this.buffer.subarray(end.bodyStart, end.bodyStart + length));
      this.buffer = this.buffer.subarray(end.bodyStart + length);
      try {
        items.push({ kind: 'message', message: build(head, body) });
      } catch (err) {
        throw new SipError('ERR_SIP_FRAMING', (err as Error).message);
      }
    }
    if (this.buffer.length > 0) this.buffer = Buffer.from(this.buffer);
    return items;
  }

  /** Bytes buffered but not yet part of a whole message. */
  get buffered(): number {
    return this.buffer.length;
  }
}
