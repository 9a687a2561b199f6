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
      const socket = createSocket({ type: 'udp4', recvBufferSize: 256 * 1024 });
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

class DgramRtpSocket implements RtpSocket {
  private closed = false;

  constructor(
    private readonly socket: Socket,
    readonly localPort: number,
    private readonly released: () => void,
  ) {
    // A datagram that cannot be delivered (ICMP unreachable) must not kill the call.
    socket.on('error', () => undefined);
  }

  send(datagram: Buffer, port: number, address: string): void {
    if (!this.closed) this.socket.send(datagram, port, address);
  }

  onDatagram(listener: (datagram: Buffer, address: string, port: number) => void): void {
    this.socket.on('message', (msg, rinfo) => listener(msg, rinfo.address, rinfo.port));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
    this.released();
  }
}
