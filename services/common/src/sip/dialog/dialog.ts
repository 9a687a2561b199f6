import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { SipError } from '../errors';
import { SipHeaders } from '../message/headers';
import { contentTypeOf, cseqOf, fromTagOf, sdpOf, type SipRequest, type SipResponse } from '../message/message';
import { formatNameAddr, parseNameAddr } from '../message/name-addr';
import { createResponse } from '../message/response';
import { formatUri, isLooseRouter, parseUri, type SipUri } from '../message/uri';
import { newBranch, type ServerTransaction } from '../transaction/layer';
import type { ServerInviteTransaction } from '../transaction/server-invite';
import { TimerSet } from '../transaction/timers';
import { resolveTarget } from '../transport/resolve';
import type { MessageSource, TransportTarget } from '../transport/transport';
import { ACCEPTED_TYPES, ALLOWED_METHODS, dialogKey, type DialogHandle, type UaContext } from './context';
import { parseDtmfInfo, type DtmfInfo } from './dtmf';
import { sipfragStatus } from './sipfrag';

/**
 * Dialog state (RFC 3261 §12, UAS side):
 *
 * ```
 *   early ──2xx sent──► confirmed ──BYE (either side) / no ACK / transport error──► terminated
 *     └──── rejected, CANCELed or BYE on the early dialog ──────────────────────────────┘
 * ```
 */
export type DialogState = 'early' | 'confirmed' | 'terminated';

const EDGES: Readonly<Record<DialogState, readonly DialogState[]>> = {
  early: ['confirmed', 'terminated'],
  confirmed: ['terminated'],
  terminated: [],
};

/** Why a dialog ended. `status` is the SIP status involved (a BYE's response, a failed re-INVITE), when one is. */
export interface TerminationReason {
  readonly by: 'remote' | 'local' | 'timeout' | 'error';
  readonly status?: number;
  readonly reason?: string;
}

/** Answers a re-INVITE: `reply(sdp)` sends 200 with it; `reject(status)` (488 by default) leaves the session as it was (§14.2). */
export type ReinviteReply = (answer: string) => void;
export type ReinviteReject = (status?: number, reason?: string) => void;

type Events = {
  /** A re-INVITE (hold, resume, session refresh): the offer (null when the peer wants ours). */
  reinvite: [offer: string | null, reply: ReinviteReply, reject: ReinviteReject];
  /** An INFO; DTMF bodies (application/dtmf-relay, application/dtmf) are parsed. Already answered 200. */
  info: [dtmf: DtmfInfo | null, raw: SipRequest];
  /** The ACK for our 2xx arrived; carries the peer's answer when our 2xx held the offer. */
  ack: [sdp: string | null];
  terminated: [reason: TerminationReason];
};

interface PendingAck {
  readonly seq: number;
  readonly response: SipResponse;
  readonly txn: ServerInviteTransaction;
  /** Our 2xx held the offer, so the ACK must bring the answer. */
  readonly expectsAnswer: boolean;
  interval: number;
}

interface PendingRefer {
  status: number;
  readonly resolve: (result: { status: number }) => void;
}

/** Set up by the INVITE's owner: what happens when the caller BYEs an early dialog (§15.1.2). */
export interface DialogHooks {
  readonly onEarlyBye: () => void;
}

/**
 * A dialog created by an INVITE we answered (RFC 3261 §12.1.1): route set from
 * Record-Route, remote target from Contact, our tag in To. Handles the requests
 * inside it (§12.2.2) and sends ours (§12.2.1.1): BYE (§15), re-INVITE answers
 * (§14.2) with 2xx retransmission until ACK (§13.3.1.4), INFO, OPTIONS, REFER out
 * with its NOTIFYs (RFC 3515).
 */
export class Dialog extends EventEmitter<Events> implements DialogHandle {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly key: string;
  /** The connection and transport the dialog was created over; in-dialog requests prefer it. */
  readonly flow: MessageSource;
  private current: DialogState = 'early';
  private remoteTarget: string;
  private readonly routeSet: readonly string[];
  private localSeq: number | null = null;
  private remoteSeq: number;
  /** From and To for our requests (§12.2.1.1: local URI and tag, remote URI and tag). */
  private readonly localAddr: string;
  private readonly remoteAddr: string;
  private local: string | null = null;
  private remote: string | null;
  private pendingAck: PendingAck | undefined;
  private ackWaiters: Array<() => void> = [];
  private reinvite: { settled: boolean; txn: ServerTransaction } | undefined;
  private refers: PendingRefer | undefined;
  private byeDone: Promise<void> | undefined;
  private released = false;
  private readonly timers = new TimerSet<'2xx' | 'ack' | 'refer'>();

  constructor(
    private readonly ctx: UaContext,
    invite: SipRequest,
    localTag: string,
    source: MessageSource,
    private readonly hooks: DialogHooks,
  ) {
    super();
    this.callId = (invite.headers.get('Call-ID') as string).trim();
    this.localTag = localTag;
    this.remoteTag = fromTagOf(invite) ?? '';
    this.key = dialogKey(this.callId, this.localTag, this.remoteTag);
    this.flow = source;
    // §12.1.1: "The route set MUST be set to the list of URIs in the Record-Route header field from the request, taken in order".
    this.routeSet = invite.headers.getAll('Record-Route').map((rr) => parseNameAddr(rr).uri);
    this.remoteTarget = parseNameAddr(invite.headers.get('Contact') as string).uri;
    this.remoteSeq = cseqOf(invite).seq;
    const to = parseNameAddr(invite.headers.get('To') as string);
    this.localAddr = formatNameAddr({
      ...to,
      params: [...to.params.filter(([n]) => n.toLowerCase() !== 'tag'), ['tag', localTag]],
    });
    this.remoteAddr = invite.headers.get('From') as string;
    this.remote = sdpOf(invite);
  }

  get state(): DialogState {
    return this.current;
  }

  /** The peer's latest session description (offer or answer). */
  get remoteSdp(): string | null {
    return this.remote;
  }

  /** Ours: the latest answer (or offer) we sent. */
  get localSdp(): string | null {
    return this.local;
  }

  /** Ends the call: waits for the ACK to our 2xx if it is due (§15), then sends BYE. Idempotent. */
  bye(): Promise<void> {
    if (this.byeDone) return this.byeDone;
    if (this.current === 'terminated') return Promise.resolve();
    if (this.current === 'early')
      return Promise.reject(
        new SipError('ERR_SIP_INVALID_STATE', 'an early dialog is ended by rejecting the INVITE, not by BYE (§15)'),
      );
    this.byeDone = this.afterAck().then(async () => {
      if (this.current === 'terminated') return;
      // §15.1.1: the session ends as soon as the BYE is handed to its transaction.
      const sending = this.send('BYE');
      this.terminate({ by: 'local' });
      try {
        const res = await sending;
        this.ctx.logger.debug('BYE answered', { sip_call_id: this.callId, status: res.status });
      } catch (err) {
        this.ctx.logger.info('BYE got no answer', { sip_call_id: this.callId, err: (err as Error).message });
      }
    });
    return this.byeDone;
  }

  /**
   * Blind transfer (RFC 3515): REFER with Refer-To, then the outcome the peer reports
   * in NOTIFY sipfrag bodies. Resolves with the final sipfrag status; the REFER's own
   * status when it was refused; the last status known when the peer reports no final
   * one within the refer timeout or the dialog ends first.
   */
  async refer(target: string): Promise<{ status: number }> {
    if (this.current !== 'confirmed')
      throw new SipError('ERR_SIP_INVALID_STATE', `cannot REFER in state ${this.current}`);
    if (this.refers) throw new SipError('ERR_SIP_INVALID_STATE', 'a REFER is already waiting for its outcome');
    const referTo = target.includes('<') ? target : `<${target}>`;
    parseNameAddr(referTo);
    await this.afterAck();
    let settle: (result: { status: number }) => void = () => undefined;
    const result = new Promise<{ status: number }>((resolve) => {
      settle = resolve;
    });
    const pending: PendingRefer = { status: 0, resolve: settle };
    this.refers = pending;
    let res: SipResponse;
    try {
      res = await this.send('REFER', {
        headers: [
          ['Refer-To', referTo],
          ['Referred-By', this.localAddr.replace(/;tag=[^;]*/, '')],
        ],
      });
    } catch (err) {
      this.settleRefer((err as SipError).status ?? 408);
      return result;
    }
    if (res.status >= 300) this.settleRefer(res.status);
    else if (this.refers === pending) {
      pending.status = res.status;
      this.timers.start('refer', this.ctx.referTimeoutMs, () => this.settleRefer());
    }
    return result;
  }

  /** Sends an INFO or OPTIONS inside the dialog and resolves with the final response. */
  request(
    method: 'INFO' | 'OPTIONS',
    opts: { body?: string; contentType?: string; headers?: ReadonlyArray<readonly [string, string]> } = {},
  ): Promise<SipResponse> {
    if (this.current !== 'confirmed')
      return Promise.reject(new SipError('ERR_SIP_INVALID_STATE', `cannot send ${method} in state ${this.current}`));
    return this.send(method, opts);
  }

  // ---- used by the INVITE's owner and the UA core ----

  /** §12.1.1: the dialog exists once a 1xx/2xx with our tag is sent. */
  announce(): void {
    this.ctx.dialogCreated(this);
  }

  /** The 2xx to the INVITE was sent: confirmed, retransmit until ACK (§13.3.1.4). */
  confirm(txn: ServerInviteTransaction, response: SipResponse, answer: string): void {
    this.local = answer;
    this.transition('confirmed');
    this.awaitAck(txn, response, this.remote === null);
  }

  /** Ends the dialog without signalling (the INVITE was rejected, CANCELed or failed). */
  abandon(reason: TerminationReason): void {
    this.terminate(reason);
  }

  /** An ACK no transaction absorbed, for this dialog. */
  handleAck(req: SipRequest): void {
    const pending = this.pendingAck;
    if (!pending || cseqOf(req).seq !== pending.seq) return;
    this.pendingAck = undefined;
    this.timers.stop('2xx');
    this.timers.stop('ack');
    const sdp = sdpOf(req);
    if (sdp !== null) this.remote = sdp;
    for (const w of this.ackWaiters.splice(0)) w();
    this.safeEmit('ack', sdp);
  }

  /** A request inside this dialog (never ACK or CANCEL, which the UA core routes itself). */
  handleRequest(req: SipRequest, txn: ServerTransaction): void {
    const seq = cseqOf(req).seq;
    // §12.2.2: a lower CSeq than the last one is out of order.
    if (seq < this.remoteSeq) {
      txn.respond(this.response(req, 500, { reason: 'CSeq Out of Order' }));
      return;
    }
    this.remoteSeq = seq;
    if (this.current === 'terminated') {
      if (req.method === 'BYE') txn.respond(this.response(req, 200));
      else if (req.method === 'NOTIFY' && this.refers) this.handleNotify(req, txn);
      else txn.respond(this.response(req, 481));
      return;
    }
    switch (req.method) {
      case 'BYE':
        this.handleBye(req, txn);
        break;
      case 'INVITE':
        this.handleReinvite(req, txn as ServerInviteTransaction);
        break;
      case 'INFO':
        txn.respond(this.response(req, 200));
        this.safeEmit('info', parseDtmfInfo(contentTypeOf(req), req.body.toString('utf8')), req);
        break;
      case 'OPTIONS':
        txn.respond(
          this.response(req, 200, {
            headers: [
              ['Allow', ALLOWED_METHODS.join(', ')],
              ['Accept', ACCEPTED_TYPES.join(', ')],
            ],
          }),
        );
        break;
      case 'NOTIFY':
        this.handleNotify(req, txn);
        break;
      default:
        txn.respond(this.response(req, 405, { headers: [['Allow', ALLOWED_METHODS.join(', ')]] }));
    }
  }

  /** Closing the UA: BYE when confirmed; an early dialog is the INVITE owner's to reject. */
  close(): Promise<void> {
    return this.current === 'confirmed' ? this.bye() : Promise.resolve();
  }

  /** Drops the dialog at once, without signalling: every timer stops, a pending REFER settles. */
  shutdown(): void {
    this.terminate({ by: 'local', reason: 'user agent closed' });
    this.settleRefer();
    this.release();
  }

  // ---- internals ----

  private handleBye(req: SipRequest, txn: ServerTransaction): void {
    txn.respond(this.response(req, 200));
    if (this.current === 'early') {
      // §15.1.2: BYE on an early dialog ends the INVITE with 487 too.
      this.hooks.onEarlyBye();
      this.terminate({ by: 'remote' });
      return;
    }
    this.terminate({ by: 'remote' });
  }

  private handleReinvite(req: SipRequest, txn: ServerInviteTransaction): void {
    if (this.current !== 'confirmed') {
      txn.respond(this.response(req, 491));
      return;
    }
    if (this.reinvite && !this.reinvite.settled) {
      // §14.2: a second INVITE while one is unanswered → 500 with Retry-After 0-10 s.
      txn.respond(this.response(req, 500, { headers: [['Retry-After', String(randomInt(0, 11))]] }));
      return;
    }
    if (this.pendingAck?.expectsAnswer) {
      // Our offer (in a 2xx) is still waiting for its answer in the ACK: glare (§14.2, RFC 3261 491).
      txn.respond(this.response(req, 491));
      return;
    }
    // §12.2.2: a re-INVITE is a target refresh request.
    const contact = req.headers.get('Contact');
    if (contact !== undefined) this.remoteTarget = parseNameAddr(contact).uri;
    const offer = sdpOf(req);
    const entry = { settled: false, txn };
    this.reinvite = entry;
    this.ctx.trackInvite(txn, this.localTag, () => {
      entry.settled = true;
    });
    const reply: ReinviteReply = (answer) => {
      if (entry.settled || this.current !== 'confirmed') return;
      entry.settled = true;
      this.local = answer;
      if (offer !== null) this.remote = offer;
      const res = this.response(req, 200, {
        headers: [
          ['Contact', this.ctx.contact(this.flow.protocol)],
          ['Allow', ALLOWED_METHODS.join(', ')],
        ],
        body: answer,
      });
      txn.respond(res);
      this.awaitAck(txn, res, offer === null);
    };
    const reject: ReinviteReject = (status = 488, reason) => {
      if (entry.settled) return;
      if (!Number.isInteger(status) || status < 300 || status > 699)
        throw new TypeError(`re-INVITE rejection needs a 3xx-6xx status, got ${status}`);
      entry.settled = true;
      txn.respond(this.response(req, status, reason === undefined ? {} : { reason }));
    };
    if (this.listenerCount('reinvite') === 0) {
      // Nobody to ask: treat it as a session refresh and repeat our last description unchanged (RFC 3264 §8).
      reply(this.local ?? '');
      return;
    }
    this.safeEmit('reinvite', offer, reply, reject);
  }

  private handleNotify(req: SipRequest, txn: ServerTransaction): void {
    const event = (req.headers.get('Event') ?? '').split(';')[0]?.trim().toLowerCase();
    if (event !== 'refer' || !this.refers) {
      // RFC 6665 §4.1.3: a NOTIFY for no subscription we know.
      txn.respond(this.response(req, 481, { reason: 'Subscription Does Not Exist' }));
      return;
    }
    txn.respond(this.response(req, 200));
    const status = contentTypeOf(req) === 'message/sipfrag' ? sipfragStatus(req.body.toString('utf8')) : null;
    if (status !== null) this.refers.status = status;
    const terminated = /^\s*terminated/i.test(req.headers.get('Subscription-State') ?? '');
    if ((status !== null && status >= 200) || terminated) this.settleRefer();
  }

  private settleRefer(status?: number): void {
    const pending = this.refers;
    if (!pending) return;
    this.refers = undefined;
    this.timers.stop('refer');
    pending.resolve({ status: status ?? pending.status });
    if (this.current === 'terminated') this.release();
  }

  /** §13.3.1.4: resend the 2xx at T1, doubling to T2, until the ACK; none after 64·T1 → BYE. */
  private awaitAck(txn: ServerInviteTransaction, response: SipResponse, expectsAnswer: boolean): void {
    const pending: PendingAck = {
      seq: cseqOf(response).seq,
      response,
      txn,
      expectsAnswer,
      interval: this.ctx.timers.t1,
    };
    this.pendingAck = pending;
    const resend = (): void => {
      if (this.pendingAck !== pending) return;
      txn.respond(response);
      pending.interval = Math.min(2 * pending.interval, this.ctx.timers.t2);
      this.timers.start('2xx', pending.interval, resend);
    };
    this.timers.start('2xx', pending.interval, resend);
    this.timers.start('ack', 64 * this.ctx.timers.t1, () => {
      if (this.pendingAck !== pending) return;
      this.pendingAck = undefined;
      this.timers.stop('2xx');
      for (const w of this.ackWaiters.splice(0)) w();
      this.ctx.logger.warn('no ACK for our 2xx, ending the call', { sip_call_id: this.callId });
      // §13.3.1.4: "the dialog is confirmed, but the session SHOULD be terminated ... with a BYE".
      this.send('BYE').catch(() => undefined);
      this.terminate({ by: 'timeout', reason: 'no ACK' });
    });
  }

  private afterAck(): Promise<void> {
    if (!this.pendingAck) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push(resolve));
  }

  /** Builds and sends a request inside the dialog (§12.2.1.1) through a client transaction. */
  private async send(
    method: string,
    opts: { body?: string; contentType?: string; headers?: ReadonlyArray<readonly [string, string]> } = {},
  ): Promise<SipResponse> {
    const remoteTarget = parseUri(this.remoteTarget);
    let requestUri: SipUri = remoteTarget;
    let routes: readonly string[] = [];
    let nextHop: SipUri = remoteTarget;
    const first = this.routeSet[0];
    if (first !== undefined) {
      const firstUri = parseUri(first);
      if (isLooseRouter(firstUri)) {
        routes = this.routeSet;
        nextHop = firstUri;
      } else {
        // Strict router (§12.2.1.1): its URI, less what a Request-URI may not hold (§19.1.1 Table 1),
        // becomes the Request-URI, and the remote target goes last in Route.
        requestUri = {
          ...firstUri,
          params: firstUri.params.filter(([n]) => n.toLowerCase() !== 'method'),
          headers: null,
        };
        routes = [...this.routeSet.slice(1), this.remoteTarget];
        nextHop = requestUri;
      }
    }
    const resolved = await resolveTarget(nextHop, this.flow.protocol, this.ctx.resolver);
    const target: TransportTarget =
      resolved.protocol === 'tcp' &&
      this.flow.protocol === 'tcp' &&
      this.flow.connectionId !== undefined &&
      resolved.address === this.flow.address
        ? { ...resolved, connectionId: this.flow.connectionId }
        : resolved;
    this.localSeq = this.localSeq === null ? randomInt(1, 2 ** 30) : this.localSeq + 1;
    const headers = new SipHeaders([
      ['Via', this.ctx.via(target.protocol, newBranch())],
      ['Max-Forwards', '70'],
      ['From', this.localAddr],
      ['To', this.remoteAddr],
      ['Call-ID', this.callId],
      ['CSeq', `${this.localSeq} ${method}`],
    ]);
    for (const r of routes) headers.append('Route', `<${r}>`);
    if (method === 'REFER') headers.append('Contact', this.ctx.contact(this.flow.protocol));
    headers.append('User-Agent', this.ctx.userAgent);
    for (const [n, v] of opts.headers ?? []) headers.append(n, v);
    const body = Buffer.from(opts.body ?? '', 'utf8');
    if (body.length > 0) headers.set('Content-Type', opts.contentType ?? 'application/sdp');
    const req: SipRequest = { type: 'request', method, uri: formatUri(requestUri), headers, body };
    const txn = this.ctx.layer.request(req, target);
    return new Promise<SipResponse>((resolve, reject) => {
      txn.on('response', (res) => {
        if (res.status >= 200) resolve(res);
      });
      txn.once('failed', reject);
    });
  }

  private response(
    req: SipRequest,
    status: number,
    opts: { reason?: string; headers?: ReadonlyArray<readonly [string, string]>; body?: string } = {},
  ): SipResponse {
    return createResponse(req, status, {
      toTag: this.localTag,
      ...(opts.reason === undefined ? {} : { reason: opts.reason }),
      headers: [...(opts.headers ?? []), ['Server', this.ctx.userAgent]],
      ...(opts.body === undefined ? {} : { body: opts.body }),
    });
  }

  private terminate(reason: TerminationReason): void {
    if (this.current === 'terminated') return;
    this.transition('terminated');
    this.pendingAck = undefined;
    this.timers.stop('2xx');
    this.timers.stop('ack');
    for (const w of this.ackWaiters.splice(0)) w();
    const pending = this.reinvite;
    if (pending && !pending.settled) {
      // §15.1.2: pending requests of an ending dialog get 487.
      pending.settled = true;
      pending.txn.respond(createResponse(pending.txn.request, 487, { toTag: this.localTag }));
    }
    this.ctx.logger.info('dialog terminated', { sip_call_id: this.callId, ...reason });
    this.safeEmit('terminated', reason);
    // A REFER still waiting for its NOTIFY keeps the dialog reachable until it settles.
    if (!this.refers) this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.timers.stopAll();
    this.ctx.dialogReleased(this);
  }

  private transition(to: DialogState): void {
    if (!EDGES[this.current].includes(to)) throw new TypeError(`dialog ${this.key}: illegal ${this.current} → ${to}`);
    this.current = to;
  }

  /** Application listeners must not break the SIP stack: their exceptions are logged. */
  private safeEmit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    try {
      (this.emit as (e: K, ...a: Events[K]) => boolean)(event, ...args);
    } catch (err) {
      this.ctx.logger.error('dialog listener threw', { sip_call_id: this.callId, event, err: (err as Error).message });
    }
  }
}
