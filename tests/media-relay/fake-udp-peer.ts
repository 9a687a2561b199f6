import dgram from 'node:dgram';

/** One datagram a client sent to the fake relay, split at the cookie. */
export interface ReceivedRequest {
  readonly cookie: string;
  readonly body: Buffer;
  readonly text: string;
}

/** What to answer: a reply body (sent back under the request's cookie), or undefined for silence. */
export type Responder = (request: ReceivedRequest, attempt: number) => Buffer | string | undefined;

/**
 * A stand-in for a relay's control socket on 127.0.0.1 and an ephemeral port: it
 * records every datagram and answers through a responder the test chooses, so
 * framing, cookie matching and retransmission are tested over real UDP.
 */
export class FakeUdpPeer {
  readonly received: ReceivedRequest[] = [];
  private responder: Responder = () => undefined;
  private readonly attempts = new Map<string, number>();
  private lastSender: { address: string; port: number } | undefined;
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly socket: dgram.Socket,
    readonly port: number,
  ) {
    socket.on('message', (msg, rinfo) => {
      this.lastSender = { address: rinfo.address, port: rinfo.port };
      const space = msg.indexOf(0x20);
      const cookie = msg.subarray(0, space).toString('ascii');
      const body = msg.subarray(space + 1);
      const request = { cookie, body, text: body.toString('utf8') };
      this.received.push(request);
      const attempt = (this.attempts.get(cookie) ?? 0) + 1;
      this.attempts.set(cookie, attempt);
      const reply = this.responder(request, attempt);
      if (reply !== undefined) this.reply(cookie, reply);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** On `host` (any loopback address: the whole 127/8 is local on Linux). */
  static start(host = '127.0.0.1'): Promise<FakeUdpPeer> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, host, () => resolve(new FakeUdpPeer(socket, socket.address().port)));
    });
  }

  respond(responder: Responder): void {
    this.responder = responder;
  }

  /** Sends `<cookie> <body>` to whoever sent the last request. */
  reply(cookie: string, body: Buffer | string): void {
    this.sendRaw(Buffer.concat([Buffer.from(`${cookie} `), Buffer.isBuffer(body) ? body : Buffer.from(body)]));
  }

  sendRaw(datagram: Buffer): void {
    if (!this.lastSender) throw new Error('no client has sent anything yet');
    this.socket.send(datagram, this.lastSender.port, this.lastSender.address);
  }

  /** Resolves once `count` datagrams have arrived in total. */
  async waitForRequests(count: number, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} datagrams, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A UDP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const peer = await FakeUdpPeer.start();
  await peer.close();
  return peer.port;
}
