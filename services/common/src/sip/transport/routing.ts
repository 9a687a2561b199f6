import { isIP } from 'node:net';
import type { SipHeaders } from '../message/headers';
import { splitHeaderList } from '../message/headers';
import type { SipRequest } from '../message/message';
import { getParam, setParam } from '../message/params';
import { bareHost } from '../message/uri';
import { formatVia, parseVia, type Via } from '../message/via';
import type { MessageSource, TransportProtocol, TransportTarget } from './transport';

/** Default SIP port for UDP and TCP (§19.1.2). */
export const DEFAULT_SIP_PORT = 5060;

/** Replaces the first value of the first Via line, keeping any other values on that line. */
export function replaceTopVia(headers: SipHeaders, via: Via): void {
  const lines = headers
    .fields()
    .filter((f) => f.name === 'Via')
    .map((f) => f.value);
  const first = lines[0];
  if (first === undefined) return;
  const values = splitHeaderList(first);
  values[0] = formatVia(via);
  headers.set('Via', [values.join(', '), ...lines.slice(1)]);
}

/**
 * The server transport's duty on receipt (§18.2.1): add `received` when the sent-by
 * host is not the address the request came from; and RFC 3581 §4: when the top Via
 * has an empty `rport`, fill it with the source port and always add `received`.
 * Mutates the request's headers.
 */
export function stampReceived(req: SipRequest, source: MessageSource): void {
  const via = parseVia(req.headers.get('Via') ?? '');
  let params = via.params;
  const rport = getParam(params, 'rport');
  if (rport === null) {
    params = setParam(params, 'rport', String(source.port));
    params = setParam(params, 'received', source.address);
  } else if (bareHost(via.host) !== source.address) {
    params = setParam(params, 'received', source.address);
  }
  if (params !== via.params) replaceTopVia(req.headers, { ...via, params });
}

/**
 * Where a response goes (§18.2.2, RFC 3581 §4), given the request's top Via (as
 * stamped by {@link stampReceived}) and where the request came from:
 * - reliable transport: back on the connection the request came on (`connectionId`);
 *   if it has closed, a new connection to `received` (or the source address) at the
 *   sent-by port;
 * - `rport` with a value: to `received` at that port (symmetric response routing);
 * - `received`: to that address at the sent-by port (default 5060);
 * - otherwise the sent-by host and port.
 * `maddr` (multicast) is not supported: a UA behind Kamailio never sees it.
 */
export function responseTarget(topVia: Via, source: MessageSource): TransportTarget {
  const protocol: TransportProtocol = topVia.transport === 'TCP' ? 'tcp' : source.protocol;
  const received = getParam(topVia.params, 'received');
  const rport = getParam(topVia.params, 'rport');
  const sentByPort = topVia.port ?? DEFAULT_SIP_PORT;
  if (protocol === 'tcp') {
    // The connection the request came on; should it be gone, a new one to `received` (or the
    // source address) at the sent-by port.
    const address = typeof received === 'string' ? received : source.address;
    return source.connectionId !== undefined
      ? { protocol, address, port: sentByPort, connectionId: source.connectionId }
      : { protocol, address, port: sentByPort };
  }
  if (typeof rport === 'string' && rport !== '') {
    return { protocol, address: typeof received === 'string' ? received : source.address, port: Number(rport) };
  }
  if (typeof received === 'string') return { protocol, address: received, port: sentByPort };
  const host = bareHost(topVia.host);
  // A sent-by that is a name rather than an address would need DNS; the source address is the reachable one.
  return { protocol, address: isIP(host) ? host : source.address, port: sentByPort };
}
