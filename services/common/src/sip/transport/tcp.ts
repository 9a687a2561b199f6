import { connect, createServer, type Server, type Socket } from 'node:net';
import { SipError } from '../errors';
import type { SipLogger } from '../logger';
import { StreamFramer, type StreamItem } from '../message/parser';

/** An open stream connection, accepted or dialled. */
export interface TcpConnection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

interface Conn extends TcpConnection {
  readonly socket: Socket;
  readonly framer: StreamFramer;
  connected: boolean;
  /** Writes queued while a dialled connection is still connecting. */
  readonly pending: Array<{ data: Buffer; onError: (err: Error) => void }>;
}

export interface TcpEndpointOptions {
  readonly host: string;
  readonly onItem: (item: StreamItem, conn: TcpConnection) => void;
  readonly logger: SipLogger;
  /** A connection with no traffic this long is closed (either side may reopen one). */
  readonly idleTimeoutMs: number;
  /** How long dialling a peer may take. */
  readonly connectTimeoutMs: number;
}

const CRLF = Buffer.from('\r\n');

/** IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) → the IPv4 address, so keys compare. */
function plainAddress(address: string | undefined): string {
  const a = address ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * A TCP listener and the connections it accepted or dialled (RFC 3261 §18.3 framing
 * by Content-Length). Connections are found by id (the one a request came on) or by
 * remote address and port, so responses and later requests reuse them (§18.2.2).
 */
export class TcpEndpoint {
  private readonly server: Server;
  private readonly conns = new Map<string, Conn>();
  private readonly byRemote = new Map<string, Conn>();
  private nextId = 1;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: TcpEndpointOptions) {
    this.server = createServer((socket) => this.adopt(socket, true));
    this.server.on('error', (err) => opts.logger.warn('SIP TCP listener error', { err: err.message }));
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      this.server.once('error', fail);
      this.server.listen(port, this.opts.host, () => {
        this.server.off('error', fail);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Number of open connections (for tests and metrics). */
  get connectionCount(): number {
    return this.conns.size;
  }

  send(
    data: Buffer,
    target: { address: string; port: number; connectionId?: string },
    onError: (err: Error) => void,
  ): void {
    if (this.closing) return onError(new SipError('ERR_SIP_TRANSPORT', 'TCP transport closed'));
    let conn = target.connectionId !== undefined ? this.conns.get(target.connectionId) : undefined;
    conn ??= this.byRemote.get(`${target.address}:${target.port}`);
    conn ??= this.dial(target.address, target.port);
    this.write(conn, data, onError);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const conn of this.conns.values()) conn.socket.destroy();
      this.server.close(() => resolve());
      if (!this.server.listening) resolve();
    });
    return this.closing;
  }

  private dial(address: string, port: number): Conn {
    const socket = connect({ host: address, port, timeout: this.opts.connectTimeoutMs });
    return this.adopt(socket, false, address, port);
  }

  private adopt(socket: Socket, accepted: boolean, address?: string, port?: number): Conn {
    const conn: Conn = {
      id: `tcp-${this.nextId++}`,
      remoteAddress: plainAddress(address ?? socket.remoteAddress),
      remotePort: port ?? socket.remotePort ?? 0,
      socket,
      framer: new StreamFramer(),
      connected: accepted,
      pending: [],
    };
    if (this.closing) {
      socket.destroy();
      return conn;
    }
    this.conns.set(conn.id, conn);
    this.byRemote.set(`${conn.remoteAddress}:${conn.remotePort}`, conn);
    socket.setNoDelay(true);
    if (!accepted) {
      socket.once('connect', () => {
        conn.connected = true;
        socket.setTimeout(this.opts.idleTimeoutMs);
        for (const w of conn.pending.splice(0)) this.write(conn, w.data, w.onError);
      });
    } else {
      socket.setTimeout(this.opts.idleTimeoutMs);
    }
    socket.on('timeout', () => {
      this.opts.logger.debug('SIP TCP connection idle or connect timed out', { id: conn.id });
      socket.destroy(
        conn.connected ? undefined : new Error(`connect to ${conn.remoteAddress}:${conn.remotePort} timed out`),
      );
    });
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => {
      this.opts.logger.debug('SIP TCP connection error', { id: conn.id, err: err.message });
      for (const w of conn.pending.splice(0)) w.onError(err);
    });
    socket.on('close', () => this.forget(conn));
    return conn;
  }

  private write(conn: Conn, data: Buffer, onError: (err: Error) => void): void {
    if (!conn.connected) {
      conn.pending.push({ data, onError });
      return;
    }
    if (conn.socket.destroyed) return onError(new SipError('ERR_SIP_TRANSPORT', `connection ${conn.id} is closed`));
    conn.socket.write(data, (err) => {
      if (err) onError(err);
    });
  }

  private onData(conn: Conn, chunk: Buffer): void {
    let items: StreamItem[];
    try {
      items = conn.framer.push(chunk);
    } catch (err) {
      // §18.3: a stream we cannot frame cannot be resynchronised; drop the connection.
      this.opts.logger.warn('SIP TCP framing error, closing connection', {
        id: conn.id,
        remote: `${conn.remoteAddress}:${conn.remotePort}`,
        err: (err as Error).message,
      });
      conn.socket.destroy();
      return;
    }
    for (const item of items) {
      // RFC 5626 §3.5.1: answer a CRLF CRLF ping with a CRLF pong.
      if (item.kind === 'ping') conn.socket.write(CRLF);
      else if (item.kind === 'message') this.opts.onItem(item, conn);
    }
  }

  private forget(conn: Conn): void {
    this.conns.delete(conn.id);
    const key = `${conn.remoteAddress}:${conn.remotePort}`;
    if (this.byRemote.get(key) === conn) this.byRemote.delete(key);
    for (const w of conn.pending.splice(0)) w.onError(new SipError('ERR_SIP_TRANSPORT', `connection to ${key} closed`));
  }
}
