import { SIP_VERSION, type SipMessage } from './message';

/**
 * Writes a message (RFC 3261 §7): start line, one `Name: value` line per field in
 * order, then the body. Content-Length is always written and always equals the body
 * size in bytes (§20.14), in the position it had or last.
 */
export function serializeMessage(msg: SipMessage): Buffer {
  const start =
    msg.type === 'request' ? `${msg.method} ${msg.uri} ${SIP_VERSION}` : `${SIP_VERSION} ${msg.status} ${msg.reason}`;
  const lines = [start];
  let wroteLength = false;
  for (const f of msg.headers.fields()) {
    if (f.name === 'Content-Length') {
      if (!wroteLength) lines.push(`Content-Length: ${msg.body.length}`);
      wroteLength = true;
      continue;
    }
    lines.push(`${f.name}: ${f.value}`);
  }
  if (!wroteLength) lines.push(`Content-Length: ${msg.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return msg.body.length === 0 ? head : Buffer.concat([head, msg.body]);
}
