import { SipParseError } from '../errors';
import { formatParams, getParam, readParams, type Params } from './params';

/** RFC 3261 §8.1.1.7: a branch starting with the magic cookie was made by an RFC 3261 element. */
export const MAGIC_COOKIE = 'z9hG4bK';

/** One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=…;received=…;rport=…`. */
export interface Via {
  /** `SIP/2.0`. */
  readonly protocol: string;
  /** Upper case: UDP, TCP, TLS, SCTP, WS, WSS. */
  readonly transport: string;
  /** sent-by host (IPv6 with brackets). */
  readonly host: string;
  readonly port: number | null;
  readonly params: Params;
}

export function parseVia(text: string): Via {
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, with LWS allowed around each SLASH.
  const m = /^\s*([^\s/]+)\s*\/\s*([^\s/]+)\s*\/\s*([^\s/]+)\s+(\[[^\]]+\]|[^\s:;]+)(?:\s*:\s*(\d+))?/.exec(text);
  if (!m) throw new SipParseError(`bad Via "${text}"`);
  const [whole, name, version, transport, host, port] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  const { params, end } = readParams(text, whole.length);
  if (text.slice(end).trim() !== '') throw new SipParseError(`unexpected "${text.slice(end)}" in Via "${text}"`);
  const portNumber = port === undefined ? null : Number(port);
  if (portNumber !== null && portNumber > 65535) throw new SipParseError(`bad port in Via "${text}"`);
  return {
    protocol: `${name.toUpperCase()}/${version}`,
    transport: transport.toUpperCase(),
    host,
    port: portNumber,
    params,
  };
}

export function formatVia(via: Via): string {
  return `${via.protocol}/${via.transport} ${via.host}${via.port === null ? '' : `:${via.port}`}${formatParams(via.params)}`;
}

export function viaBranch(via: Via): string | null {
  const b = getParam(via.params, 'branch');
  return typeof b === 'string' ? b : null;
}
