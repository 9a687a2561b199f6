import { randomBytes } from 'node:crypto';
import { SipError } from '../errors';
import type { SipLogger } from '../logger';
import {
  callIdOf,
  cseqOf,
  fromTagOf,
  topViaOf,
  validateMessage,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../message/message';
import { createResponse, reasonPhrase } from '../message/response';
import { MAGIC_COOKIE, viaBranch } from '../message/via';
import { responseTarget } from '../transport/routing';
import type { MessageSource, SipTransport, TransportTarget } from '../transport/transport';
import { ClientInviteTransaction } from './client-invite';
import { ClientNonInviteTransaction } from './client-non-invite';
import { ServerInviteTransaction } from './server-invite';
import { ServerNonInviteTransaction } from './server-non-invite';
import type { TimerValues } from './timers';

export type ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction;
export type ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction;

/** The layer above transactions: the UA core (RFC 3261 §17: the "TU"). */
export interface TransactionUser {
  /** A new request (never an ACK) and the server transaction that must answer it. */
  onRequest(req: SipRequest, txn: ServerTransaction): void;
  /** An ACK no transaction absorbed: the ACK for a 2xx, a transaction of its own (§17.1.1.3, §13.3.1.4). */
  onAck(req: SipRequest, source: MessageSource): void;
}

/** A fresh RFC 3261 branch (§8.1.1.7: starts with the magic cookie, unique in space and time). */
export function newBranch(): string {
  return `${MAGIC_COOKIE}${randomBytes(12).toString('base64url')}`;
}

/**
 * §17.2.3: a request matches a server transaction by the top Via's branch and
 * sent-by and the method (ACK matches INVITE). Requests from RFC 2543 elements (no
 * magic cookie) are matched on Call-ID, CSeq number, From tag and sent-by instead —
 * a simplification of §17.2.3's fallback, which also compares the To tag we sent.
 */
export function serverKey(req: SipRequest): string {
  const via = topViaOf(req);
  const branch = viaBranch(via);
  const method = req.method === 'ACK' ? 'INVITE' : req.method;
  const sentBy = `${via.host.toLowerCase()}:${via.port ?? ''}`;
  if (branch !== null && branch.startsWith(MAGIC_COOKIE)) return `${branch}|${sentBy}|${method}`;
  return `legacy|${callIdOf(req)}|${cseqOf(req).seq}|${fromTagOf(req) ?? ''}|${sentBy}|${method}`;
}

/** §17.1.3: a response matches a client transaction by the top Via's branch and the CSeq method. */
export function clientKey(msg: SipMessage): string {
  return `${viaBranch(topViaOf(msg)) ?? ''}|${cseqOf(msg).method}`;
}

export interface TransactionLayerOptions {
  readonly transport: SipTransport;
  readonly timers: TimerValues;
  readonly logger: SipLogger;
  readonly tu: TransactionUser;
}

/**
 * Owns every transaction: matches what arrives to the transaction it belongs to
 * (retransmissions are absorbed there), creates server transactions for new
 * requests and hands them to the TU, and sends the TU's requests through client
 * transactions.
 */
export class TransactionLayer {
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly onMessage = (msg: SipMessage, source: MessageSource): void => this.receive(msg, source);
  private closed = false;

  constructor(private readonly opts: TransactionLayerOptions) {
    opts.transport.on('message', this.onMessage);
  }

  /** Live transactions, for tests and metrics. */
  get counts(): { server: number; client: number } {
    return { server: this.servers.size, client: this.clients.size };
  }

  /**
   * Sends a non-INVITE request through a new client transaction. The request's top
   * Via must carry a fresh branch ({@link newBranch}).
   */
  request(req: SipRequest, target: TransportTarget): ClientNonInviteTransaction {
    if (req.method === 'INVITE' || req.method === 'ACK')
      throw new TypeError(`${req.method} does not use a client non-INVITE transaction`);
    return this.track(
      new ClientNonInviteTransaction(clientKey(req), req, target, this.opts.transport, this.opts.timers),
    );
  }

  /**
   * Sends an INVITE through a new client INVITE transaction (§17.1.1). The TU sends
   * the ACK for a 2xx itself ({@link send}); the transaction ACKs the others.
   */
  invite(req: SipRequest, target: TransportTarget): ClientInviteTransaction {
    if (req.method !== 'INVITE') throw new TypeError(`${req.method} does not use a client INVITE transaction`);
    return this.track(new ClientInviteTransaction(clientKey(req), req, target, this.opts.transport, this.opts.timers));
  }

  /** Sends a message outside any transaction: the ACK for a 2xx (§13.2.2.4, §17.1.1.3). */
  send(msg: SipMessage, target: TransportTarget, onError?: (err: SipError) => void): void {
    if (this.closed) {
      onError?.(new SipError('ERR_SIP_UA_CLOSED'));
      return;
    }
    this.opts.transport.send(msg, target, onError);
  }

  private track<T extends ClientTransaction>(txn: T): T {
    const key = txn.id;
    if (this.clients.has(key)) throw new TypeError(`a client transaction ${key} already exists`);
    if (this.closed) {
      void Promise.resolve().then(() => txn.emit('failed', new SipError('ERR_SIP_UA_CLOSED')));
      return txn;
    }
    this.clients.set(key, txn);
    txn.once('terminated', () => {
      if (this.clients.get(key) === txn) this.clients.delete(key);
    });
    // Started on the next microtask (not a timer: fake timers would hold it) so the caller attaches listeners first.
    void Promise.resolve().then(() => txn.start());
    return txn;
  }

  /** The INVITE server transaction a CANCEL targets (§9.2: same matching, method INVITE). */
  findInvite(cancel: SipRequest): ServerInviteTransaction | undefined {
    const key = serverKey(cancel).replace(/\|CANCEL$/, '|INVITE');
    const txn = this.servers.get(key);
    return txn?.kind === 'server-invite' ? txn : undefined;
  }

  /** Terminates every transaction (their timers stop) and stops listening. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.transport.off('message', this.onMessage);
    for (const txn of [...this.servers.values(), ...this.clients.values()]) txn.terminate();
    this.servers.clear();
    this.clients.clear();
  }

  private receive(msg: SipMessage, source: MessageSource): void {
    if (this.closed) return;
    try {
      validateMessage(msg);
    } catch (err) {
      this.reject(msg, source, err as SipError);
      return;
    }
    if (msg.type === 'response') this.receiveResponse(msg, source);
    else this.receiveRequest(msg, source);
  }

  private receiveResponse(res: SipResponse, source: MessageSource): void {
    const txn = this.clients.get(clientKey(res));
    if (!txn) {
      this.opts.logger.debug('SIP response matches no transaction, dropped', {
        status: res.status,
        callId: res.headers.get('Call-ID'),
      });
      return;
    }
    if (txn.kind === 'client-invite') txn.receive(res, source);
    else txn.receive(res);
  }

  private receiveRequest(req: SipRequest, source: MessageSource): void {
    const key = serverKey(req);
    const existing = this.servers.get(key);
    if (existing) {
      const absorbed = existing.receive(req);
      if (!absorbed && req.method === 'ACK') this.opts.tu.onAck(req, source);
      return;
    }
    if (req.method === 'ACK') {
      this.opts.tu.onAck(req, source);
      return;
    }
    const target = responseTarget(topViaOf(req), source);
    const txn =
      req.method === 'INVITE'
        ? new ServerInviteTransaction(key, req, source, target, this.opts.transport, this.opts.timers)
        : new ServerNonInviteTransaction(key, req, source, target, this.opts.transport, this.opts.timers);
    this.servers.set(key, txn);
    txn.once('terminated', () => {
      if (this.servers.get(key) === txn) this.servers.delete(key);
    });
    this.opts.tu.onRequest(req, txn);
  }

  /** §8.2: a request the layers above cannot read gets a stateless 400 (never an ACK, never a response). */
  private reject(msg: SipMessage, source: MessageSource, err: SipError): void {
    this.opts.logger.warn('malformed SIP message', { from: `${source.address}:${source.port}`, err: err.message });
    if (msg.type !== 'request' || msg.method === 'ACK') return;
    let via;
    try {
      via = topViaOf(msg);
    } catch {
      return;
    }
    const status = err.status ?? 400;
    const res = createResponse(msg, status, { reason: `${reasonPhrase(status)} (${err.message})`.slice(0, 120) });
    this.opts.transport.send(res, responseTarget(via, source));
  }
}
