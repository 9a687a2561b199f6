import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { SipError } from '../errors';
import { SipHeaders } from '../message/headers';
import {
  contentTypeOf,
  cseqOf,
  fromTagOf,
  sdpOf,
  toTagOf,
  type SipRequest,
  type SipResponse,
} from '../message/message';
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
 * Dialog state (RFC 3261 §12). A dialog we answered (UAS) starts early with our first
 * 1xx; one we created by calling (UAC) starts confirmed with the 2xx we ACK:
 *
 * ```
 *   early ──2xx sent──► confirmed ──BYE (either side) / no ACK / transport error──► terminated
 *     │   (UAC: 2xx received)  └── re-INVITE answered 408/481 or unanswered (§12.2.1.2) ──┤
 *     └──── rejected, CANCELed or BYE on the early dialog ─────────────────────────────────┘
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
  /** The latest sipfrag status the peer reported (0: none yet). */
  status: number;
  readonly resolve: (outcome: number) => void;
}

/** An ACK we sent for a 2xx (§13.2.2.4), kept to answer that 2xx's retransmissions. */
interface SentAck {
  readonly seq: number;
  readonly ready: Promise<{ req: SipRequest; target: TransportTarget } | null>;
}

/** What a REFER got: the REFER's own status, and for an accepted one the transfer's outcome. */
export interface ReferResult {
  readonly status: number;
  /**
   * The final status of the NOTIFY sipfrag bodies (RFC 3515 §2.4.5): e.g. 200 when the
   * transfer target answered, 486 when busy. When the peer reports no final status: the
   * last one it did report when it ends the subscription (RFC 3515 §2.4.7), 408 when
   * nothing final came within the refer timeout. Present only when the REFER was accepted (2xx).
   */
  readonly outcome?: Promise<number>;
}

/** What our re-INVITE got (§14.1): the final status and, for a 2xx, the peer's answer. */
export interface ReinviteResult {
  readonly status: number;
  readonly answer: string | null;
}

/** How a dialog starts: the identifiers, route set and targets of §12.1.1 (UAS) or §12.1.2 (UAC). */
export interface DialogInit {
  /** UAS: we answered the INVITE; UAC: we sent it (and own the Call-ID, which sets the glare delay of §14.1). */
  readonly role: 'uas' | 'uac';
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly flow: MessageSource;
  readonly routeSet: readonly string[];
  readonly remoteTarget: string;
  /** CSeq of our last request (null: none yet, a random start is chosen). */
  readonly localSeq: number | null;
  /** CSeq of the peer's last request (null: none yet, §12.1.2). */
  readonly remoteSeq: number | null;
  /** From of our requests (local URI and tag) and their To (remote URI and tag), §12.2.1.1. */
  readonly localAddr: string;
  readonly remoteAddr: string;
  readonly localSdp: string | null;
  readonly remoteSdp: string | null;
  readonly state: 'early' | 'confirmed';
}

/** §12.1.1: the dialog an INVITE we answer creates (Record-Route in order, remote target from Contact). */
export function uasDialogInit(invite: SipRequest, localTag: string, source: MessageSource): DialogInit {
  const to = parseNameAddr(invite.headers.get('To') as string);
  return {
    role: 'uas',
    callId: (invite.headers.get('Call-ID') as string).trim(),
    localTag,
    remoteTag: fromTagOf(invite) ?? '',
    flow: source,
    // §12.1.1: "The route set MUST be set to the list of URIs in the Record-Route header field from the request, taken in order".
    routeSet: invite.headers.getAll('Record-Route').map((rr) => parseNameAddr(rr).uri),
    remoteTarget: parseNameAddr(invite.headers.get('Contact') as string).uri,
    localSeq: null,
    remoteSeq: cseqOf(invite).seq,
    localAddr: formatNameAddr({
      ...to,
      params: [...to.params.filter(([n]) => n.toLowerCase() !== 'tag'), ['tag', localTag]],
    }),
    remoteAddr: invite.headers.get('From') as string,
    localSdp: null,
    remoteSdp: sdpOf(invite),
    state: 'early',
  };
}

/**
 * §12.1.2: the dialog a 2xx to our INVITE creates: route set from the response's
 * Record-Route in reverse order, remote target from its Contact, our CSeq the
 * INVITE's, the peer's empty. Throws a parse error for a 2xx without a SIP Contact (§13.3.1.4
 * requires one) or with a Record-Route that is not a SIP URI.
 */
export function uacDialogInit(invite: SipRequest, response: SipResponse, source: MessageSource): DialogInit {
  const contact = response.headers.get('Contact');
  if (contact === undefined) throw new SipError('ERR_SIP_PARSE', '2xx to INVITE without Contact', 400);
  const remoteTarget = parseNameAddr(contact).uri;
  const routeSet = response.headers
    .getAll('Record-Route')
    .map((rr) => parseNameAddr(rr).uri)
    .reverse();
  // Every request of the dialog goes to these: a URI we cannot route to makes the 2xx unusable now, not later.
  for (const uri of [remoteTarget, ...routeSet]) parseUri(uri);
  return {
    role: 'uac',
    callId: (invite.headers.get('Call-ID') as string).trim(),
    localTag: fromTagOf(invite) ?? '',
    remoteTag: toTagOf(response) ?? '',
    flow: source,
    routeSet,
    remoteTarget,
    localSeq: cseqOf(invite).seq,
    remoteSeq: null,
    localAddr: invite.headers.get('From') as string,
    remoteAddr: response.headers.get('To') as string,
    localSdp: sdpOf(invite),
    remoteSdp: sdpOf(response),
    state: 'confirmed',
  };
}

/** Set up by the INVITE's owner: what happens when the caller BYEs an early dialog (§15.1.2). */
export interface DialogHooks {
  readonly onEarlyBye: () => void;
}

/**
 * An INVITE dialog, created by an INVITE we answered (§12.1.1, see {@link IncomingCall})
 * or by the 2xx to one we sent (§12.1.2, see {@link OutgoingCall}). Handles the requests
 * inside it (§12.2.2) and sends ours (§12.2.1.1): BYE (§15), re-INVITE answers (§14.2)
 * with 2xx retransmission until ACK (§13.3.1.4), re-INVITEs of our own (§14.1) with
 * their ACK, INFO, OPTIONS, REFER out with its NOTIFYs (RFC 3515).
 */
export class Dialog extends EventEmitter<Events> implements DialogHandle {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly key: string;
  /** The connection and transport the dialog was created over; in-dialog requests prefer it. */
  readonly flow: MessageSource;
  readonly role: 'uas' | 'uac';
  private current: DialogState;
  private remoteTarget: string;
  private readonly routeSet: readonly string[];
  private localSeq: number | null;
  private remoteSeq: number | null;
  /** From and To for our requests (§12.2.1.1: local URI and tag, remote URI and tag). */
  private readonly localAddr: string;
  private readonly remoteAddr: string;
  private local: string | null = null;
  private remote: string | null;
  private pendingAck: PendingAck | undefined;
  private ackWaiters: Array<() => void> = [];
  private peerReinvite: { settled: boolean; txn: ServerTransaction } | undefined;
  /** Our own re-INVITE is in progress (§14.1: one INVITE transaction at a time, either direction). */
  private reinviting = false;
  /** Our re-INVITE is sent and has no final response yet: a re-INVITE from the peer now is glare (491). */
  private reinviteSent = false;
  private idleWaiters: Array<() => void> = [];
  private lastAck: SentAck | undefined;
  private refers: PendingRefer | undefined;
  private byeDone: Promise<void> | undefined;
  private released = false;
  private readonly timers = new TimerSet<'2xx' | 'ack' | 'refer' | 'glare'>();

  constructor(
    private readonly ctx: UaContext,
    init: DialogInit,
    private readonly hooks: DialogHooks,
  ) {
    super();
    this.role = init.role;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.key = dialogKey(this.callId, this.localTag, this.remoteTag);
    this.flow = init.flow;
    this.routeSet = init.routeSet;
    this.remoteTarget = init.remoteTarget;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.localAddr = init.localAddr;
    this.remoteAddr = init.remoteAddr;
    this.local = init.localSdp;
    this.remote = init.remoteSdp;
    this.current = init.state;
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
    // Our ACK (for a 2xx we received) goes out before the BYE.
    this.byeDone = Promise.all([this.afterAck(), this.lastAck?.ready]).then(async () => {
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
   * Blind or attended transfer (RFC 3515): REFER with Refer-To (and, for an attended
   * transfer, the Replaces header of RFC 3891 escaped into its URI, §3), then the
   * outcome the peer reports in NOTIFY sipfrag bodies (see {@link ReferResult}).
   * Resolves once the REFER is answered; a REFER that gets no answer resolves with 408
   * (503 on a transport failure).
   */
  async refer(target: string, options: { readonly replaces?: string } = {}): Promise<ReferResult> {
    if (this.current !== 'confirmed')
      throw new SipError('ERR_SIP_INVALID_STATE', `cannot REFER in state ${this.current}`);
    if (this.refers) throw new SipError('ERR_SIP_INVALID_STATE', 'a REFER is already waiting for its outcome');
    let referTo = target.includes('<') ? target : `<${target}>`;
    const parsed = parseNameAddr(referTo);
    if (/[\r\n]/.test(referTo)) throw new TypeError('Refer-To target must be one line');
    if (options.replaces !== undefined) {
      if (options.replaces.trim() === '' || /[\r\n]/.test(options.replaces))
        throw new TypeError('replaces must be a Replaces header value (call-id;to-tag=…;from-tag=…)');
      const sep = parsed.uri.includes('?') ? '&' : '?';
      referTo = formatNameAddr({
        ...parsed,
        uri: `${parsed.uri}${sep}Replaces=${encodeURIComponent(options.replaces.trim())}`,
      });
    }
    await this.afterAck();
    if (this.current !== 'confirmed')
      throw new SipError('ERR_SIP_INVALID_STATE', 'the dialog ended before the REFER could be sent');
    let settle: (outcome: number) => void = () => undefined;
    const outcome = new Promise<number>((resolve) => {
      settle = resolve;
    });
    // Set before sending: a NOTIFY may overtake the REFER's 202 (RFC 3515 §2.4.4).
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
      this.dropRefer(pending);
      return { status: (err as SipError).status ?? 408 };
    }
    if (res.status >= 300) {
      this.dropRefer(pending);
      return { status: res.status };
    }
    if (this.refers === pending) this.timers.start('refer', this.ctx.referTimeoutMs, () => this.settleRefer(408));
    return { status: res.status, outcome };
  }

  /**
   * Sends a re-INVITE with our new offer (§14.1: hold, resume, a new media address) and
   * ACKs its 2xx. Waits first for any INVITE transaction in progress on the dialog (ours
   * is refused: one at a time). A 491 (glare, both sides re-INVITing) is retried once after
   * §14.1's random wait (2.1-4 s when we own the Call-ID, else 0-2 s); 408, 481 or no
   * answer at all end the dialog (§12.2.1.2; a BYE goes out but for 481). Any non-2xx
   * leaves the session as it was.
   */
  async reinvite(sdp: string): Promise<ReinviteResult> {
    if (typeof sdp !== 'string' || sdp.length === 0) throw new TypeError('reinvite() needs an SDP offer');
    if (this.current !== 'confirmed')
      throw new SipError('ERR_SIP_INVALID_STATE', `cannot re-INVITE in state ${this.current}`);
    if (this.reinviting) throw new SipError('ERR_SIP_INVALID_STATE', 'a re-INVITE of ours is already in progress');
    this.reinviting = true;
    try {
      await this.idle();
      let result = await this.sendReinvite(sdp);
      if (result.status === 491 && this.current === 'confirmed') {
        // §14.1: "the UAC MUST NOT" retry at once; meanwhile the peer's own re-INVITE must get through.
        this.reinviting = false;
        const wait = this.role === 'uac' ? randomInt(210, 401) * 10 : randomInt(0, 201) * 10;
        await new Promise<void>((resolve) => this.timers.start('glare', wait, resolve));
        if (this.current !== 'confirmed') return result;
        this.reinviting = true;
        await this.idle();
        if (this.current !== 'confirmed') return result;
        result = await this.sendReinvite(sdp);
      }
      return result;
    } finally {
      this.reinviting = false;
    }
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
    if (this.remoteSeq !== null && seq < this.remoteSeq) {
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
    this.settleRefer(this.refers?.status || 408);
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
    if (this.peerReinvite && !this.peerReinvite.settled) {
      // §14.2: a second INVITE while one is unanswered → 500 with Retry-After 0-10 s.
      txn.respond(this.response(req, 500, { headers: [['Retry-After', String(randomInt(0, 11))]] }));
      return;
    }
    if (this.pendingAck?.expectsAnswer || this.reinviteSent) {
      // Our offer (in a 2xx, or in our own re-INVITE) is still waiting for its answer: glare (§14.2).
      txn.respond(this.response(req, 491));
      return;
    }
    // §12.2.2: a re-INVITE is a target refresh request.
    const contact = req.headers.get('Contact');
    if (contact !== undefined) this.remoteTarget = parseNameAddr(contact).uri;
    const offer = sdpOf(req);
    const entry = { settled: false, txn };
    this.peerReinvite = entry;
    this.ctx.trackInvite(txn, this.localTag, () => this.settleIncoming(entry));
    const reply: ReinviteReply = (answer) => {
      if (entry.settled || this.current !== 'confirmed') return;
      this.settleIncoming(entry);
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
      this.settleIncoming(entry);
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
    if (status !== null && status >= 200) this.settleRefer(status);
    else if (terminated) this.settleRefer(this.refers.status || 408);
  }

  private settleRefer(outcome: number): void {
    const pending = this.refers;
    if (!pending) return;
    this.refers = undefined;
    this.timers.stop('refer');
    pending.resolve(outcome);
    if (this.current === 'terminated') this.release();
  }

  /** A REFER refused or unanswered: no subscription, nothing to report. */
  private dropRefer(pending: PendingRefer): void {
    if (this.refers !== pending) return;
    this.refers = undefined;
    this.timers.stop('refer');
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

  private settleIncoming(entry: { settled: boolean }): void {
    entry.settled = true;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves once no INVITE transaction of the peer's is in progress (its re-INVITE answered and ACKed). */
  private async idle(): Promise<void> {
    while (this.current === 'confirmed') {
      if (this.peerReinvite && !this.peerReinvite.settled)
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      else if (this.pendingAck) await this.afterAck();
      else return;
    }
  }

  /** One re-INVITE transaction of ours, to its final response (§14.1). */
  private async sendReinvite(sdp: string): Promise<ReinviteResult> {
    let built: { req: SipRequest; target: TransportTarget };
    try {
      built = await this.build('INVITE', { body: sdp, headers: [['Allow', ALLOWED_METHODS.join(', ')]] });
    } catch (err) {
      return this.reinviteFailed((err as SipError).status ?? 503, (err as Error).message);
    }
    if (this.current !== 'confirmed') return { status: 481, answer: null };
    this.reinviteSent = true;
    const txn = this.ctx.layer.invite(built.req, built.target);
    return new Promise<ReinviteResult>((resolve) => {
      let done = false;
      const finish = (result: ReinviteResult): void => {
        if (done) return;
        done = true;
        this.reinviteSent = false;
        resolve(result);
      };
      txn.on('response', (res) => {
        if (res.status < 200) return;
        if (res.status >= 300) {
          finish(this.reinviteFailed(res.status, res.reason));
          return;
        }
        if (!done) {
          // §12.2.1.2: the 2xx to a target refresh request carries the new remote target.
          const contact = res.headers.get('Contact');
          if (contact !== undefined) {
            try {
              this.remoteTarget = parseNameAddr(contact).uri;
            } catch {
              // An unreadable Contact leaves the target as it was.
            }
          }
        }
        // §13.2.2.4: every 2xx (retransmissions included) gets the ACK.
        this.acknowledge(res);
        if (done) return;
        const answer = sdpOf(res);
        this.local = sdp;
        if (answer !== null) this.remote = answer;
        finish({ status: res.status, answer });
      });
      txn.once('failed', (err) => finish(this.reinviteFailed(err.status ?? 503, err.message)));
    });
  }

  /**
   * A re-INVITE that failed: the session stays as it was (§14.1), but 481, 408 or no
   * answer at all end the dialog (§12.2.1.2), with a BYE unless the peer said it has no such dialog.
   */
  private reinviteFailed(status: number, reason: string): ReinviteResult {
    const fatal = status === 481 || status === 408 || status === 503;
    if (fatal && this.current === 'confirmed') {
      if (status !== 481) this.send('BYE').catch(() => undefined);
      this.terminate({ by: 'error', status, reason: `re-INVITE failed: ${reason}` });
    }
    return { status, answer: null };
  }

  /**
   * Sends the ACK for a 2xx to one of our INVITEs (§13.2.2.4: built like any request
   * in the dialog, with the INVITE's CSeq number). A retransmission of that 2xx gets
   * the same ACK again; used by the call that created the dialog and by our re-INVITEs.
   */
  acknowledge(res: SipResponse): void {
    const seq = cseqOf(res).seq;
    const last = this.lastAck;
    if (last && last.seq >= seq) {
      if (last.seq === seq)
        void last.ready.then((ack) => ack && this.ctx.layer.send(ack.req, ack.target, () => undefined));
      return;
    }
    const ready = this.build('ACK', {}, seq).then(
      (ack) => {
        this.ctx.layer.send(ack.req, ack.target, (err) =>
          this.ctx.logger.info('ACK not sent', { sip_call_id: this.callId, err: err.message }),
        );
        return ack;
      },
      (err: Error) => {
        this.ctx.logger.warn('ACK not sent', { sip_call_id: this.callId, err: err.message });
        return null;
      },
    );
    this.lastAck = { seq, ready };
  }

  /** Builds and sends a request inside the dialog (§12.2.1.1) through a client transaction. */
  private async send(
    method: string,
    opts: { body?: string; contentType?: string; headers?: ReadonlyArray<readonly [string, string]> } = {},
  ): Promise<SipResponse> {
    const { req, target } = await this.build(method, opts);
    const txn = this.ctx.layer.request(req, target);
    return new Promise<SipResponse>((resolve, reject) => {
      txn.on('response', (res) => {
        if (res.status >= 200) resolve(res);
      });
      txn.once('failed', reject);
    });
  }

  /**
   * A request inside the dialog (§12.2.1.1): Request-URI and Route from the remote
   * target and route set (loose or strict first hop), From/To/Call-ID of the dialog,
   * the next local CSeq (or `seq`, for an ACK), sent to the first hop, reusing the
   * dialog's TCP connection when it goes to the same address.
   */
  private async build(
    method: string,
    opts: { body?: string; contentType?: string; headers?: ReadonlyArray<readonly [string, string]> } = {},
    seq?: number,
  ): Promise<{ req: SipRequest; target: TransportTarget }> {
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
    let cseq: number;
    if (seq !== undefined) cseq = seq;
    else {
      this.localSeq = this.localSeq === null ? randomInt(1, 2 ** 30) : this.localSeq + 1;
      cseq = this.localSeq;
    }
    const headers = new SipHeaders([
      ['Via', this.ctx.via(target.protocol, newBranch())],
      ['Max-Forwards', '70'],
      ['From', this.localAddr],
      ['To', this.remoteAddr],
      ['Call-ID', this.callId],
      ['CSeq', `${cseq} ${method}`],
    ]);
    for (const r of routes) headers.append('Route', `<${r}>`);
    // §8.1.1.8: INVITEs carry Contact (a target refresh, §12.2.1.1); so does REFER (RFC 3515 §2.4.1).
    if (method === 'REFER' || method === 'INVITE') headers.append('Contact', this.ctx.contact(this.flow.protocol));
    headers.append('User-Agent', this.ctx.userAgent);
    for (const [n, v] of opts.headers ?? []) headers.append(n, v);
    const body = Buffer.from(opts.body ?? '', 'utf8');
    if (body.length > 0) headers.set('Content-Type', opts.contentType ?? 'application/sdp');
    return { req: { type: 'request', method, uri: formatUri(requestUri), headers, body }, target };
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
    const pending = this.peerReinvite;
    if (pending && !pending.settled) {
      // §15.1.2: pending requests of an ending dialog get 487.
      this.settleIncoming(pending);
      pending.txn.respond(createResponse(pending.txn.request, 487, { toTag: this.localTag }));
    }
    for (const w of this.idleWaiters.splice(0)) w();
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
