import { createSocket, type Socket } from 'node:dgram';
import type { RtpSocket } from '../calls/media-leg';

/**
 * Hands out even RTP ports from a range (RFC 3550 §11: RTP on an even port, RTCP
 * on the next odd one), round-robin so a port just released is not reused at once
 * and late packets of an ended call don't land in a new one.
 */
export class PortAllocator {
  private next: number;
  private readonly inUse = new Set<number>();

  constructor(
    private readonly min: number,
    private readonly max: number,
    /** SO_RCVBUF of each socket (GATEWAY_RTP_RECEIVE_BUFFER_BYTES), so a busy event loop does not drop packets. */
    private readonly receiveBufferBytes = 256 * 1024,
  ) {
    if (min % 2 !== 0) this.min = min + 1;
    this.next = this.min;
  }

  get available(): number {
    return Math.floor((this.max - this.min + 1) / 2) - this.inUse.size;
  }

  /** Binds a UDP socket on a free even port; rejects when the range is exhausted. */
  async open(address: string): Promise<RtpSocket> {
    const slots = Math.floor((this.max - this.min + 1) / 2);
    for (let tries = 0; tries < slots; tries++) {
      const port = this.next;
      this.next = this.next + 2 > this.max - 1 ? this.min : this.next + 2;
      if (this.inUse.has(port)) continue;
      const socket = createSocket({ type: 'udp4', recvBufferSize: this.receiveBufferBytes });
      const bound = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, address, () => resolve(true));
      });
      if (!bound) {
        socket.close();
        continue;
      }
      this.inUse.add(port);
      return new DgramRtpSocket(socket, port, () => this.inUse.delete(port));
    }
    throw new Error(`no free RTP port in ${this.min}-${this.max}`);
  }
}

/**
 * Sends to the address the SDP named until a datagram arrives from exactly that
 * address and port; then the socket is connect()ed to it (symmetric RTP, RFC 4961
 * §3: the relay sends from where it receives). A connected socket sends without
 * the per-datagram address lookup and the kernel's route lookup, and the kernel
 * drops datagrams from anyone else (no RTP injection from a third party). A new
 * remote (re-INVITE) disconnects and starts over. A relay that sends from another
 * address than it advertised keeps the unconnected socket, as before.
 */
class DgramRtpSocket implements RtpSocket {
  private closed = false;
  /** Where the last datagram went; connect() only ever targets it. */
  private targetPort = 0;
  private targetAddress = '';
  private connection: 'none' | 'connecting' | 'connected' = 'none';

  constructor(
    private readonly socket: Socket,
    readonly localPort: number,
    private readonly released: () => void,
  ) {
    // A datagram that cannot be delivered (ICMP unreachable) must not kill the call.
    socket.on('error', () => undefined);
  }

  send(datagram: Buffer, port: number, address: string): void {
    if (this.closed) return;
    if (port !== this.targetPort || address !== this.targetAddress) {
      this.targetPort = port;
      this.targetAddress = address;
      if (this.connection === 'connected') {
        this.socket.disconnect();
        this.connection = 'none';
      }
    }
    if (this.connection === 'connected') {
      this.socket.send(datagram);
      return;
    }
    try {
      this.socket.send(datagram, port, address);
    } catch {
      // Node marks the socket connected a tick before the connect callback runs.
      if (this.connection === 'connecting') this.socket.send(datagram);
    }
  }

  onDatagram(listener: (datagram: Buffer, address: string, port: number) => void): void {
    this.socket.on('message', (msg, rinfo) => {
      if (this.connection === 'none' && rinfo.port === this.targetPort && rinfo.address === this.targetAddress)
        this.latch();
      listener(msg, rinfo.address, rinfo.port);
    });
  }

  /** Whether sends go through a connected socket (for tests and metrics). */
  get connected(): boolean {
    return this.connection === 'connected';
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
    this.released();
  }

  private latch(): void {
    const port = this.targetPort;
    const address = this.targetAddress;
    this.connection = 'connecting';
    const done = (err?: Error): void => {
      if (this.closed) return;
      if (err) {
        this.connection = 'none';
        return;
      }
      this.connection = 'connected';
      // The remote moved while the connect was under way: back to addressed sends.
      if (port !== this.targetPort || address !== this.targetAddress) {
        this.socket.disconnect();
        this.connection = 'none';
      }
    };
    this.socket.connect(port, address, done);
  }
}
