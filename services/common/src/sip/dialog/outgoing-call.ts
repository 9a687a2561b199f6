import { randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { SipHeaders } from '../message/headers';
import { cseqOf, sdpOf, toTagOf, type SipRequest, type SipResponse } from '../message/message';
import { formatNameAddr } from '../message/name-addr';
import { formatUri, parseUri, type SipUri } from '../message/uri';
import type { ClientInviteTransaction } from '../transaction/client-invite';
import { newBranch } from '../transaction/layer';
import { TimerSet } from '../transaction/timers';
import { resolveTarget } from '../transport/resolve';
import type { MessageSource, TransportProtocol, TransportTarget } from '../transport/transport';
import { ALLOWED_METHODS, type UaContext } from './context';
import { Dialog, uacDialogInit } from './dialog';
import { newTag } from './incoming-call';

/** What {@link UserAgent.invite} needs to place a call. */
export interface InviteOptions {
  /** Who we call: `sip:+15551234567@127.0.0.1:5060`, `sip:alice@example.com`. */
  readonly requestUri: string;
  /** Where the INVITE goes (Kamailio); default: resolved from the Request-URI (RFC 3263 subset, UDP). */
  readonly nextHop?: { readonly host: string; readonly port: number; readonly transport: TransportProtocol };
  /** The caller: user part of From (E.164 or a user name), its host (default our Contact host), display name. */
  readonly from: { readonly user: string; readonly host?: string; readonly display?: string };
  /** To URI; default the Request-URI without parameters. */
  readonly to?: string;
  /** Our SDP offer: the gateway always offers in the INVITE. */
  readonly sdp: string;
  /** Extra headers, e.g. X-Bridge-Proof. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Default: random. */
  readonly callId?: string;
}

/** How an outgoing call ended before (or instead of) being answered. */
export interface CallFailure {
  readonly status: number;
  readonly reason: string;
}

export type OutgoingCallResult =
  { readonly ok: true; readonly dialog: Dialog; readonly answer: string } | ({ readonly ok: false } & CallFailure);

/**
 * ```
 *   calling ──1xx──► proceeding ──2xx (first one wins)──► answered
 *      │                  │
 *      └──────────────────┴── 3xx-6xx / Timer B (408) / transport (503) / CANCELed (487) ──► failed
 * ```
 */
export type OutgoingCallState = 'calling' | 'proceeding' | 'answered' | 'failed';

const EDGES: Readonly<Record<OutgoingCallState, readonly OutgoingCallState[]>> = {
  calling: ['proceeding', 'answered', 'failed'],
  proceeding: ['answered', 'failed'],
  answered: [],
  failed: [],
};

type Events = {
  /** A provisional response other than 100 (180 ringing, 183 with early media). */
  progress: [status: number, reason: string, sdp: string | null];
  answered: [dialog: Dialog, answerSdp: string];
  failed: [failure: CallFailure];
};

/** What the UA core learns from a call: when it stops being pending. */
export interface OutgoingCallHooks {
  readonly settled: (call: OutgoingCall) => void;
}

/** Header names we build ourselves; `headers` may not replace them. */
const RESERVED_HEADERS = new Set(
  [
    'via',
    'max-forwards',
    'from',
    'to',
    'call-id',
    'cseq',
    'contact',
    'content-type',
    'content-length',
    'route',
    'record-route',
    'allow',
    'supported',
    'require',
    'user-agent',
  ].concat(['v', 'f', 't', 'i', 'm', 'c', 'l', 'k']),
);
const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

/**
 * Forks (To tags) we keep track of per call: a proxy forks to a few phones, not more;
 * a peer answering from endless tags would otherwise make us keep state and send an
 * ACK and a BYE for each. Beyond it, early SDPs are not kept and 2xx are dropped (logged).
 */
export const MAX_FORKS = 16;

/**
 * A call we place (RFC 3261 §13.2, UAC side). Built and sent by {@link UserAgent.invite}:
 * 'progress' for each provisional, then 'answered' with the confirmed {@link Dialog}
 * (ACKed, §13.2.2.4) or 'failed'; `result` resolves with the same outcome. Forks: the
 * first 2xx wins; a 2xx from any other fork is ACKed and BYEd (§13.2.2.4).
 */
export class OutgoingCall extends EventEmitter<Events> {
  readonly callId: string;
  readonly result: Promise<OutgoingCallResult>;
  private current: OutgoingCallState = 'calling';
  private readonly requestUri: SipUri;
  private readonly localTag = newTag();
  private invite: SipRequest | undefined;
  private target: TransportTarget | undefined;
  private txn: ClientInviteTransaction | undefined;
  private dialog: Dialog | undefined;
  /** Dialogs of other forks that answered too: ACKed and BYEd, kept to re-ACK their 2xx retransmissions. */
  private readonly losers = new Map<string, Dialog>();
  private provisional = false;
  private forksDropped = false;
  private cancelRequested = false;
  private cancelSent = false;
  /** Early SDP per To tag (a 183), used when that fork's 2xx repeats no answer. */
  private readonly earlySdp = new Map<string, string>();
  private readonly timers = new TimerSet<'cancel'>();
  private settle: (result: OutgoingCallResult) => void = () => undefined;

  constructor(
    private readonly ctx: UaContext,
    private readonly options: InviteOptions,
    private readonly hooks: OutgoingCallHooks,
  ) {
    super();
    this.result = new Promise((resolve) => (this.settle = resolve));
    this.requestUri = checkOptions(options);
    this.callId = options.callId ?? randomBytes(16).toString('hex');
  }

  get state(): OutgoingCallState {
    return this.current;
  }

  /** Not yet answered or failed. */
  get pending(): boolean {
    return this.current === 'calling' || this.current === 'proceeding';
  }

  /**
   * Gives up (§9.1): a CANCEL once a provisional response has come (at once if one
   * has), then 487 from the callee; no final answer to the INVITE within 64·T1 of the
   * CANCEL also ends it as 487. A 2xx that crosses the CANCEL is ACKed and BYEd (§15).
   */
  cancel(): void {
    if (!this.pending || this.cancelRequested) return;
    this.cancelRequested = true;
    this.ctx.logger.info('cancelling outgoing call', { sip_call_id: this.callId, provisional: this.provisional });
    if (!this.txn) return; // not sent yet: start() sees the request and stops
    if (this.provisional) this.sendCancel();
  }

  /** Resolves the next hop, sends the INVITE. Called once by the UA core. */
  async start(): Promise<void> {
    let target: TransportTarget;
    try {
      const hop = this.options.nextHop;
      target = hop
        ? await resolveTarget(
            { scheme: 'sip', user: null, password: null, host: hop.host, port: hop.port, params: [], headers: null },
            hop.transport,
            this.ctx.resolver,
          )
        : await resolveTarget(this.requestUri, 'udp', this.ctx.resolver);
    } catch (err) {
      this.fail(503, 'Service Unavailable', (err as Error).message);
      return;
    }
    if (this.cancelRequested) {
      this.fail(487, 'Request Terminated', 'cancelled before the INVITE was sent');
      return;
    }
    if (!this.pending) return;
    this.target = target;
    this.invite = this.buildInvite(target.protocol);
    let txn: ClientInviteTransaction;
    try {
      txn = this.ctx.layer.invite(this.invite, target);
    } catch (err) {
      this.fail(503, 'Service Unavailable', (err as Error).message);
      return;
    }
    this.txn = txn;
    txn.on('response', (res, source) => this.onResponse(res, source));
    txn.once('failed', (err) => {
      if (this.cancelRequested) this.fail(487, 'Request Terminated', `cancelled; then ${err.message}`);
      else if (err.code === 'ERR_SIP_TIMEOUT') this.fail(408, 'Request Timeout', err.message);
      else this.fail(503, 'Service Unavailable', err.message);
    });
    this.ctx.logger.info('outgoing call', {
      sip_call_id: this.callId,
      to: this.invite.uri,
      via: `${target.protocol}:${target.address}:${target.port}`,
    });
  }

  /** The UA is closing: CANCEL a ringing call, or end one not yet sent as 503. */
  abort(): void {
    if (!this.pending) return;
    if (!this.txn) this.fail(503, 'Service Unavailable', 'user agent closing');
    else this.cancel();
  }

  /** Drops the call without signalling (the UA's sockets are going). */
  shutdown(): void {
    this.txn?.terminate();
    this.fail(503, 'Service Unavailable', 'user agent closed');
    this.timers.stopAll();
  }

  private onResponse(res: SipResponse, source: MessageSource): void {
    const tag = toTagOf(res);
    if (res.status < 200) {
      if (!this.pending) return;
      this.provisional = true;
      if (this.current === 'calling') this.transition('proceeding');
      const sdp = sdpOf(res);
      if (sdp !== null && tag !== null && (this.earlySdp.has(tag) || this.earlySdp.size < MAX_FORKS))
        this.earlySdp.set(tag, sdp);
      if (this.cancelRequested && !this.cancelSent) this.sendCancel();
      if (res.status > 100) this.safeEmit('progress', res.status, res.reason, sdp);
      return;
    }
    if (res.status >= 300) {
      this.fail(res.status, res.reason);
      return;
    }
    this.on2xx(res, source, tag ?? '');
  }

  /** §13.2.2.4: each 2xx is ACKed; the first makes the call's dialog, the others are BYEd. */
  private on2xx(res: SipResponse, source: MessageSource, tag: string): void {
    if (this.dialog?.remoteTag === tag) {
      this.dialog.acknowledge(res);
      return;
    }
    const loser = this.losers.get(tag);
    if (loser) {
      loser.acknowledge(res);
      return;
    }
    if (this.losers.size >= MAX_FORKS) {
      if (!this.forksDropped)
        this.ctx.logger.warn('2xx from too many forks, dropped', { sip_call_id: this.callId, limit: MAX_FORKS });
      this.forksDropped = true;
      return;
    }
    const invite = this.invite as SipRequest;
    let dialog: Dialog;
    try {
      dialog = new Dialog(this.ctx, uacDialogInit(invite, res, source), { onEarlyBye: () => undefined });
    } catch (err) {
      // A 2xx we cannot make a dialog of (no usable Contact or Record-Route): nowhere to send ACK or BYE.
      this.ctx.logger.warn('unusable 2xx to our INVITE', { sip_call_id: this.callId, err: (err as Error).message });
      this.fail(502, 'Bad Gateway', (err as Error).message);
      return;
    }
    dialog.acknowledge(res);
    const answer = sdpOf(res) ?? this.earlySdp.get(tag) ?? null;
    if (!this.pending || this.cancelRequested || answer === null) {
      // Another fork answered first, or we cancelled: this one is ACKed and ended (§13.2.2.4, §9.1).
      this.losers.set(tag, dialog);
      const why = !this.pending ? 'another fork answered first' : this.cancelRequested ? 'cancelled' : 'no SDP answer';
      this.ctx.logger.info('ending an answer we do not keep', { sip_call_id: this.callId, why });
      void dialog.bye().catch(() => undefined);
      if (this.pending && this.cancelRequested) this.fail(487, 'Request Terminated', 'answered across our CANCEL');
      else if (this.pending) this.fail(488, 'Not Acceptable Here', '2xx without an SDP answer');
      return;
    }
    this.dialog = dialog;
    this.ctx.dialogCreated(dialog);
    this.transition('answered');
    this.finish();
    this.ctx.logger.info('outgoing call answered', { sip_call_id: this.callId, status: res.status });
    this.settle({ ok: true, dialog, answer });
    this.safeEmit('answered', dialog, answer);
  }

  /** §9.1: CANCEL copies the INVITE's Request-URI, Call-ID, From, To, CSeq number, top Via and Route. */
  private sendCancel(): void {
    const invite = this.invite;
    const target = this.target;
    if (!invite || !target || this.cancelSent || !this.pending) return;
    this.cancelSent = true;
    const headers = new SipHeaders();
    headers.append('Via', invite.headers.getAll('Via')[0] as string);
    headers.append('Max-Forwards', '70');
    headers.append('From', invite.headers.get('From') as string);
    headers.append('To', invite.headers.get('To') as string);
    headers.append('Call-ID', this.callId);
    headers.append('CSeq', `${cseqOf(invite).seq} CANCEL`);
    for (const route of invite.headers.getAll('Route')) headers.append('Route', route);
    headers.append('User-Agent', this.ctx.userAgent);
    for (const [name, value] of Object.entries(this.options.headers ?? {})) headers.append(name, value);
    const cancel: SipRequest = { type: 'request', method: 'CANCEL', uri: invite.uri, headers, body: Buffer.alloc(0) };
    const txn = this.ctx.layer.request(cancel, target);
    txn.once('failed', (err) =>
      this.ctx.logger.info('CANCEL got no answer', { sip_call_id: this.callId, err: err.message }),
    );
    // §9.1: no final response within 64·T1 of the CANCEL → the INVITE transaction is given up.
    this.timers.start('cancel', 64 * this.ctx.timers.t1, () => {
      this.txn?.terminate();
      this.fail(487, 'Request Terminated', 'no final response after CANCEL');
    });
  }

  /** §8.1.1: Request-URI, To, From with our tag, Call-ID, CSeq, Max-Forwards, Via, Contact; our offer. */
  private buildInvite(protocol: TransportProtocol): SipRequest {
    const o = this.options;
    const from = formatNameAddr({
      displayName: o.from.display ?? null,
      uri: formatUri({
        scheme: 'sip',
        user: o.from.user,
        password: null,
        host: o.from.host ?? this.ctx.host,
        port: null,
        params: [],
        headers: null,
      }),
      params: [['tag', this.localTag]],
    });
    const to = o.to ?? formatUri({ ...this.requestUri, params: [], headers: null });
    const headers = new SipHeaders([
      ['Via', this.ctx.via(protocol, newBranch())],
      ['Max-Forwards', '70'],
      ['From', from],
      ['To', to.includes('<') ? to : `<${to}>`],
      ['Call-ID', this.callId],
      // §8.1.1.5: any start below 2**31; a random one keeps CSeqs of successive calls apart.
      ['CSeq', `${randomInt(1, 2 ** 16)} INVITE`],
      ['Contact', this.ctx.contact(protocol)],
      ['Allow', ALLOWED_METHODS.join(', ')],
      // §20.37: an empty Supported says we support no extension (so no 100rel provisional, §13.2.1).
      ['Supported', ''],
      ['User-Agent', this.ctx.userAgent],
    ]);
    for (const [name, value] of Object.entries(o.headers ?? {})) headers.append(name, value);
    headers.append('Content-Type', 'application/sdp');
    return {
      type: 'request',
      method: 'INVITE',
      uri: formatUri(this.requestUri),
      headers,
      body: Buffer.from(o.sdp, 'utf8'),
    };
  }

  private fail(status: number, reason: string, detail?: string): void {
    if (!this.pending) return;
    this.transition('failed');
    this.finish();
    this.ctx.logger.info('outgoing call failed', {
      sip_call_id: this.callId,
      status,
      reason,
      ...(detail === undefined ? {} : { detail }),
    });
    this.settle({ ok: false, status, reason });
    this.safeEmit('failed', { status, reason });
  }

  private finish(): void {
    this.timers.stop('cancel');
    this.hooks.settled(this);
  }

  private transition(to: OutgoingCallState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`outgoing call ${this.callId}: illegal ${this.current} → ${to}`);
    this.current = to;
  }

  /** Application listeners must not break the SIP stack: their exceptions are logged. */
  private safeEmit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    try {
      (this.emit as (e: K, ...a: Events[K]) => boolean)(event, ...args);
    } catch (err) {
      this.ctx.logger.error('outgoing call listener threw', {
        sip_call_id: this.callId,
        event,
        err: (err as Error).message,
      });
    }
  }
}

/** Programmer mistakes in the options are TypeErrors, thrown before anything is sent. */
function checkOptions(o: InviteOptions): SipUri {
  let uri: SipUri;
  try {
    uri = parseUri(o.requestUri);
  } catch (err) {
    throw new TypeError(`requestUri: ${(err as Error).message}`);
  }
  if (typeof o.sdp !== 'string' || o.sdp.length === 0) throw new TypeError('invite() needs an SDP offer');
  // RFC 3261 §25.1 user = unreserved / escaped / user-unreserved: what an E.164 number or a user name needs.
  if (!/^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+$/.test(o.from.user)) throw new TypeError(`bad From user "${o.from.user}"`);
  if (o.from.host !== undefined && !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/.test(o.from.host))
    throw new TypeError(`bad From host "${o.from.host}"`);
  const oneLine = (what: string, v: string): void => {
    if (/[\r\n\0]/.test(v)) throw new TypeError(`${what} must be one line`);
  };
  if (o.from.display !== undefined) oneLine('display name', o.from.display);
  if (o.to !== undefined) oneLine('to', o.to);
  if (o.callId !== undefined && !/^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}@]+$/.test(o.callId))
    throw new TypeError(`bad Call-ID "${o.callId}"`);
  for (const [name, value] of Object.entries(o.headers ?? {})) {
    if (!TOKEN.test(name) || RESERVED_HEADERS.has(name.toLowerCase()))
      throw new TypeError(`header "${name}" cannot be set`);
    oneLine(`header ${name}`, value);
  }
  return uri;
}
