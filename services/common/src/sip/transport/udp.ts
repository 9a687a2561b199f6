import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

/** One UDP socket: datagrams in, datagrams out. Parsing is the caller's. */
export class UdpEndpoint {
  private readonly socket: Socket;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly host: string,
    onDatagram: (data: Buffer, address: string, port: number) => void,
    onError: (err: Error) => void,
  ) {
    this.socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    this.socket.on('message', (data, rinfo) => onDatagram(data, rinfo.address, rinfo.port));
    this.socket.on('error', onError);
  }

  /** Binds; resolves with the port (the kernel's choice when `port` is 0). */
  bind(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      this.socket.once('error', fail);
      this.socket.bind(port, this.host, () => {
        this.socket.off('error', fail);
        resolve(this.socket.address().port);
      });
    });
  }

  send(data: Buffer, address: string, port: number, onError: (err: Error) => void): void {
    if (this.closing) return onError(new Error('UDP socket closed'));
    this.socket.send(data, port, address, (err) => {
      if (err) onError(err);
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        // Never bound: nothing to close.
        resolve();
      }
    });
    return this.closing;
  }
}
