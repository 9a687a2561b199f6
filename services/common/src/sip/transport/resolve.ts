import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SipError } from '../errors';
import { bareHost, uriTransport, type SipUri } from '../message/uri';
import { DEFAULT_SIP_PORT } from './routing';
import type { TransportProtocol, TransportTarget } from './transport';

/** Host name → address; the default uses the system resolver (A/AAAA). */
export type HostResolver = (host: string) => Promise<string>;

export const systemResolver: HostResolver = async (host) => (await lookup(host)).address;

/**
 * The next hop for a request to `uri` (RFC 3263 §4, the subset a UA behind a proxy
 * needs): transport from the `transport` parameter, else `fallback` (the transport
 * the dialog was created over — RFC 3263 would say UDP, but a peer that reached us
 * over TCP without saying so in its Contact, like SIPp's `-t t1`, listens only on
 * TCP); port from the URI, else 5060. Host names go through A/AAAA lookup only: no
 * NAPTR or SRV, which Kamailio's Record-Route (an IP address) never needs.
 */
export async function resolveTarget(
  uri: SipUri,
  fallback: TransportProtocol,
  resolver: HostResolver = systemResolver,
): Promise<TransportTarget> {
  const param = uriTransport(uri);
  let protocol: TransportProtocol;
  if (param === null) protocol = fallback;
  else if (param === 'udp' || param === 'tcp') protocol = param;
  else throw new SipError('ERR_SIP_TRANSPORT', `unsupported transport "${param}" in ${uri.host}`, 503);
  const host = bareHost(uri.host);
  let address: string;
  try {
    address = isIP(host) ? host : await resolver(host);
  } catch (err) {
    throw new SipError('ERR_SIP_TRANSPORT', `cannot resolve ${host}: ${(err as Error).message}`, 503);
  }
  return { protocol, address, port: uri.port ?? DEFAULT_SIP_PORT };
}
