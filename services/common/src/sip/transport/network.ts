import { EventEmitter } from 'node:events';
import { SipError } from '../errors';
import { SILENT_LOGGER, type SipLogger } from '../logger';
import type { SipMessage } from '../message/message';
import { isKeepAlive, parseMessage } from '../message/parser';
import { serializeMessage } from '../message/serializer';
import { stampReceived } from './routing';
import { TcpEndpoint } from './tcp';
import type { MessageSource, SipTransport, TransportProtocol, TransportTarget } from './transport';
import { UdpEndpoint } from './udp';

export interface NetworkTransportOptions {
  /** Address to bind (an IP address). */
  readonly host: string;
  /** Port for every protocol; 0 lets the kernel choose one (the same for UDP and TCP). */
  readonly port: number;
  readonly protocols: readonly TransportProtocol[];
  readonly logger?: SipLogger;
  /** Idle TCP connections are closed after this long (default 15 min). */
  readonly tcpIdleTimeoutMs?: number;
  /** Dialling a TCP peer may take this long (default 5 s). */
  readonly tcpConnectTimeoutMs?: number;
}

type Events = { message: [SipMessage, MessageSource] };

/**
 * UDP and TCP on one address and port (RFC 3261 §18: a UA listening on a port must
 * accept both). Incoming requests get `received`/`rport` stamped on their top Via
 * (§18.2.1, RFC 3581) before anyone reads them; unreadable datagrams are dropped
 * and logged (without a readable Via there is nowhere to send a 400).
 */
export class NetworkTransport extends EventEmitter<Events> implements SipTransport {
  private udp: UdpEndpoint | undefined;
  private readonly tcp: TcpEndpoint | undefined;
  private readonly logger: SipLogger;
  private boundPort = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: NetworkTransportOptions) {
    super();
    if (opts.protocols.length === 0) throw new TypeError('at least one transport protocol is required');
    this.logger = opts.logger ?? SILENT_LOGGER;
    if (opts.protocols.includes('udp')) this.udp = this.makeUdp();
    if (opts.protocols.includes('tcp')) {
      this.tcp = new TcpEndpoint({
        host: opts.host,
        logger: this.logger,
        idleTimeoutMs: opts.tcpIdleTimeoutMs ?? 15 * 60_000,
        connectTimeoutMs: opts.tcpConnectTimeoutMs ?? 5_000,
        onItem: (item, conn) => {
          if (item.kind === 'message')
            this.deliver(item.message, {
              protocol: 'tcp',
              address: conn.remoteAddress,
              port: conn.remotePort,
              connectionId: conn.id,
            });
        },
      });
    }
  }

  /** Binds every protocol; resolves with the port they share. */
  async start(): Promise<number> {
    // With port 0, UDP picks a port and TCP must get the same one; another process may hold it for TCP, so retry.
    for (let attempt = 0; ; attempt++) {
      try {
        let port = this.opts.port;
        if (this.udp) port = await this.udp.bind(port);
        if (this.tcp) port = await this.tcp.listen(port);
        this.boundPort = port;
        return port;
      } catch (err) {
        if (this.opts.port !== 0 || attempt >= 5 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        // A UDP socket cannot be rebound: replace it.
        if (this.udp) {
          await this.udp.close();
          this.udp = this.makeUdp();
        }
      }
    }
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.opts.host;
  }

  /** Open TCP connections. */
  get tcpConnections(): number {
    return this.tcp?.connectionCount ?? 0;
  }

  send(msg: SipMessage, target: TransportTarget, onError?: (err: SipError) => void): void {
    const fail = (err: Error): void => {
      const wrapped =
        err instanceof SipError
          ? err
          : new SipError(
              'ERR_SIP_TRANSPORT',
              `${target.protocol} to ${target.address}:${target.port}: ${err.message}`,
              503,
            );
      this.logger.debug('SIP send failed', { err: wrapped.message });
      onError?.(wrapped);
    };
    const data = serializeMessage(msg);
    if (target.protocol === 'udp') {
      if (!this.udp) return fail(new SipError('ERR_SIP_TRANSPORT', 'UDP is not enabled', 503));
      this.udp.send(data, target.address, target.port, fail);
    } else {
      if (!this.tcp) return fail(new SipError('ERR_SIP_TRANSPORT', 'TCP is not enabled', 503));
      this.tcp.send(data, target, fail);
    }
  }

  close(): Promise<void> {
    this.closing ??= Promise.all([this.udp?.close(), this.tcp?.close()]).then(() => {
      this.removeAllListeners();
    });
    return this.closing;
  }

  private makeUdp(): UdpEndpoint {
    return new UdpEndpoint(
      this.opts.host,
      (data, address, port) => this.onBytes(data, { protocol: 'udp', address, port }),
      (err) => this.logger.warn('SIP UDP socket error', { err: err.message }),
    );
  }

  private onBytes(data: Buffer, source: MessageSource): void {
    if (isKeepAlive(data)) return;
    let msg: SipMessage;
    try {
      msg = parseMessage(data);
    } catch (err) {
      this.logger.warn('unreadable SIP datagram dropped', {
        from: `${source.address}:${source.port}`,
        err: (err as Error).message,
      });
      return;
    }
    this.deliver(msg, source);
  }

  private deliver(msg: SipMessage, source: MessageSource): void {
    if (this.closing) return;
    if (msg.type === 'request') {
      try {
        stampReceived(msg, source);
      } catch (err) {
        this.logger.warn('SIP request without a readable Via dropped', {
          from: `${source.address}:${source.port}`,
          err: (err as Error).message,
        });
        return;
      }
    }
    this.emit('message', msg, source);
  }
}
