import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

/**
 * The few things a control channel needs from a datagram socket. `dgram` is one
 * adapter ({@link udpTransport}); tests may pass another.
 */
export interface DatagramTransport {
  /** Fire and forget: failures come back through `DatagramEvents.error`. */
  send(datagram: Buffer): void;
  close(): Promise<void>;
}

export interface DatagramEvents {
  message(datagram: Buffer): void;
  error(err: NodeJS.ErrnoException): void;
}

export type DatagramTransportFactory = (events: DatagramEvents) => DatagramTransport;

/**
 * A UDP socket connected to the relay's control port. Connecting makes the kernel
 * drop datagrams from anyone else and report ICMP port-unreachable as
 * `ECONNREFUSED`, so "nothing listens there" is known at once instead of at the
 * request deadline.
 */
export function udpTransport(host: string, port: number): DatagramTransportFactory {
  return (events) => {
    const socket = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    let connected = false;
    let closed = false;
    const queued: Buffer[] = [];
    const send = (datagram: Buffer): void => {
      socket.send(datagram, (err) => {
        if (err) events.error(err);
      });
    };
    socket.on('message', (msg) => events.message(msg));
    socket.on('error', (err) => events.error(err));
    socket.connect(port, host, () => {
      connected = true;
      for (const datagram of queued.splice(0)) send(datagram);
    });
    let closing: Promise<void> | undefined;
    return {
      send(datagram) {
        if (closed) return;
        if (connected) send(datagram);
        else queued.push(datagram);
      },
      close() {
        closed = true;
        closing ??= new Promise<void>((resolve) => {
          queued.length = 0;
          try {
            socket.close(() => resolve());
          } catch {
            // Already closed by an error path: nothing left to release.
            resolve();
          }
        });
        return closing;
      },
    };
  };
}
