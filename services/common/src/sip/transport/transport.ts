import type { SipError } from '../errors';
import type { SipMessage } from '../message';

export type TransportProtocol = 'udp' | 'tcp';

/** Where a message came from. */
export interface MessageSource {
  readonly protocol: TransportProtocol;
  /** The peer's IP address as the socket saw it. */
  readonly address: string;
  readonly port: number;
  /** The stream connection it arrived on (TCP), so responses can reuse it (§18.2.2). */
  readonly connectionId?: string;
}

/** Where to send a message: an IP address (already resolved) and port. */
export interface TransportTarget {
  readonly protocol: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** Use this stream connection while it is open (§18.2.2, RFC 5923-style reuse). */
  readonly connectionId?: string;
}

/**
 * What the transaction and dialog layers need from the network. The sockets are
 * adapters behind it (UDP, TCP, both on one port); tests use an in-memory fake.
 */
export interface SipTransport {
  /** Sends without blocking; a failure (connection refused, reset) reaches `onError`. */
  send(msg: SipMessage, target: TransportTarget, onError?: (err: SipError) => void): void;
  on(event: 'message', listener: (msg: SipMessage, source: MessageSource) => void): this;
  off(event: 'message', listener: (msg: SipMessage, source: MessageSource) => void): this;
  /** Closes sockets and connections; idempotent. */
  close(): Promise<void>;
}

/** Whether a transport retransmits for us (§17: timers differ between reliable and unreliable transports). */
export function isReliable(protocol: TransportProtocol): boolean {
  return protocol === 'tcp';
}
