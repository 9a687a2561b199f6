import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** Whether `port` on `host` can be bound right now for one protocol (bound and released at once). */
export function portFree(proto: 'tcp' | 'udp', host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (proto === 'udp') {
      const sock = createSocket('udp4');
      sock.once('error', () => sock.close(() => resolve(false)));
      sock.bind(port, host, () => sock.close(() => resolve(true)));
      return;
    }
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Whether `port` is free for both UDP and TCP (a SIP listener takes both). */
export async function portFreeForSip(port: number, host = '127.0.0.1'): Promise<boolean> {
  return (await portFree('udp', host, port)) && (await portFree('tcp', host, port));
}

/** A random port in [from, from + span) free for UDP and TCP right now. */
export async function freeSipPort(from: number, span: number, host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = from + Math.floor(Math.random() * span);
    if (await portFreeForSip(port, host)) return port;
  }
}
