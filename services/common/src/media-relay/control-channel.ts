import { randomBytes } from 'node:crypto';
import type { MediaRelayKind } from '../config';
import type { Logger } from '../logger';
import { RelayUnavailableError } from './errors';
import type { DatagramTransport, DatagramTransportFactory } from './transport';

/** The logger methods the relay clients use. */
export type RelayLogger = Pick<Logger, 'debug' | 'warn'>;

export interface ControlChannelOptions {
  readonly relay: MediaRelayKind;
  readonly transport: DatagramTransportFactory;
  /** Total time a request may take, retransmissions included. */
  readonly timeoutMs?: number;
  /** First retransmission interval; it doubles up to {@link MAX_RETRANSMIT_MS}. */
  readonly retransmitMs?: number;
  readonly logger?: RelayLogger;
}

export const DEFAULT_TIMEOUT_MS = 3000;
export const DEFAULT_RETRANSMIT_MS = 250;
export const MAX_RETRANSMIT_MS = 2000;
// Cookies of requests that already ended, so a late or duplicated reply is told
// apart from a stray one in the logs.
const RECENT_COOKIES = 256;

interface Pending {
  readonly command: string;
  readonly datagram: Buffer;
  readonly resolve: (body: Buffer) => void;
  readonly reject: (err: Error) => void;
  readonly deadline: NodeJS.Timeout;
  retransmit: NodeJS.Timeout | undefined;
  interval: number;
  attempts: number;
}

/**
 * Request/reply over datagrams framed as `<cookie> <body>`, the framing both relay
 * control protocols share (rtpengine NG: "a unique message cookie and a dictionary
 * document, separated by a single space"; RTPProxy: `cookie command`, reply
 * `cookie reply`). Cookies are unique per request (a random prefix per channel, so
 * a restarted client never reuses one, then a counter); replies are matched by
 * cookie. Unanswered requests are retransmitted with the same cookie — both relays
 * cache replies by cookie and answer a retransmission without executing it twice —
 * on a doubling timer (as RFC 3261 §17.1.1.2 does for INVITE over UDP) until a
 * reply or the request's deadline.
 */
export class ControlChannel {
  private readonly relay: MediaRelayKind;
  private readonly transport: DatagramTransport;
  private readonly timeoutMs: number;
  private readonly retransmitMs: number;
  private readonly logger: RelayLogger | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly recent = new Set<string>();
  private readonly prefix = randomBytes(4).toString('hex');
  private seq = 0;
  private closing: Promise<void> | undefined;

  constructor(options: ControlChannelOptions) {
    this.relay = options.relay;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retransmitMs = options.retransmitMs ?? DEFAULT_RETRANSMIT_MS;
    this.logger = options.logger;
    this.transport = options.transport({
      message: (datagram) => this.onMessage(datagram),
      error: (err) => this.onError(err),
    });
  }

  /** Number of requests waiting for a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Sends `body` under a fresh cookie and resolves with the reply's body (what
   * follows the cookie and its space). `command` only names the request in
   * errors and logs.
   */
  request(command: string, body: Buffer | string, timeoutMs = this.timeoutMs): Promise<Buffer> {
    if (this.closing) {
      return Promise.reject(new RelayUnavailableError(this.relay, command, 'closed', 'client closed'));
    }
    const cookie = `${this.prefix}_${++this.seq}`;
    const datagram = Buffer.concat([
      Buffer.from(`${cookie} `, 'ascii'),
      Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    ]);
    return new Promise<Buffer>((resolve, reject) => {
      const pending: Pending = {
        command,
        datagram,
        resolve,
        reject,
        deadline: setTimeout(() => {
          this.settle(cookie);
          reject(
            new RelayUnavailableError(
              this.relay,
              command,
              'timeout',
              `no reply within ${timeoutMs} ms, ${pending.attempts} attempt(s)`,
            ),
          );
        }, timeoutMs),
        retransmit: undefined,
        interval: this.retransmitMs,
        attempts: 0,
      };
      this.pending.set(cookie, pending);
      this.transmit(cookie, pending);
    });
  }

  /** Idempotent: rejects everything pending (reason `closed`) and releases the socket. */
  close(): Promise<void> {
    if (!this.closing) {
      for (const [cookie, pending] of [...this.pending]) {
        this.settle(cookie);
        pending.reject(new RelayUnavailableError(this.relay, pending.command, 'closed', 'client closed'));
      }
      this.closing = this.transport.close();
    }
    return this.closing;
  }

  private transmit(cookie: string, pending: Pending): void {
    pending.attempts += 1;
    this.transport.send(pending.datagram);
    pending.retransmit = setTimeout(() => {
      this.logger?.debug('relay request retransmitted', {
        relay: this.relay,
        command: pending.command,
        requestId: cookie,
        attempt: pending.attempts + 1,
      });
      pending.interval = Math.min(pending.interval * 2, MAX_RETRANSMIT_MS);
      this.transmit(cookie, pending);
    }, pending.interval);
  }

  /** Forgets a request and its timers; remembers its cookie for the logs. */
  private settle(cookie: string): Pending | undefined {
    const pending = this.pending.get(cookie);
    if (!pending) return undefined;
    clearTimeout(pending.deadline);
    clearTimeout(pending.retransmit);
    this.pending.delete(cookie);
    this.recent.add(cookie);
    if (this.recent.size > RECENT_COOKIES) {
      const oldest = this.recent.values().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    return pending;
  }

  private onMessage(datagram: Buffer): void {
    const space = datagram.indexOf(0x20);
    if (space <= 0) {
      this.logger?.warn('relay reply without a cookie dropped', { relay: this.relay, bytes: datagram.length });
      return;
    }
    const cookie = datagram.subarray(0, space).toString('ascii');
    const pending = this.settle(cookie);
    if (!pending) {
      if (this.recent.has(cookie)) {
        this.logger?.debug('late or duplicate relay reply dropped', { relay: this.relay, requestId: cookie });
      } else {
        this.logger?.warn('unmatched relay reply dropped', {
          relay: this.relay,
          requestId: cookie,
          bytes: datagram.length,
        });
      }
      return;
    }
    pending.resolve(datagram.subarray(space + 1));
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (err.code === 'ECONNREFUSED') {
      // ICMP port unreachable: nothing listens on the control port, so waiting
      // out the deadline would only delay the same answer.
      for (const [cookie, pending] of [...this.pending]) {
        this.settle(cookie);
        pending.reject(
          new RelayUnavailableError(this.relay, pending.command, 'unreachable', 'control port refused (ECONNREFUSED)'),
        );
      }
      return;
    }
    this.logger?.warn('relay control socket error', { relay: this.relay, error: err.message, errorCode: err.code });
  }
}
