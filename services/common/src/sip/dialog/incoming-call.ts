import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { SipError } from '../errors';
import { fromOf, sdpOf, toOf, type SipRequest, type SipResponse } from '../message/message';
import type { NameAddr } from '../message/name-addr';
import { createResponse } from '../message/response';
import type { ServerInviteTransaction } from '../transaction/server-invite';
import type { MessageSource } from '../transport/transport';
import { ALLOWED_METHODS, type UaContext } from './context';
import { Dialog, uasDialogInit } from './dialog';

/**
 * An INVITE waiting for the application's answer:
 *
 * ```
 *   offered ──progress()──► early
 *      │  └──────┬──────────┘
 *      │ accept()│ reject()            CANCEL, BYE on the early dialog,
 *      ▼         ▼                     ring timeout, UA closing
 *   accepted  rejected          ──────────────► cancelled ('cancel')
 * ```
 */
export type IncomingCallState = 'offered' | 'early' | 'accepted' | 'rejected' | 'cancelled';

const EDGES: Readonly<Record<IncomingCallState, readonly IncomingCallState[]>> = {
  offered: ['early', 'accepted', 'rejected', 'cancelled'],
  early: ['accepted', 'rejected', 'cancelled'],
  accepted: [],
  rejected: [],
  cancelled: [],
};

type Events = { cancel: [] };

/** What the UA core learns from a call: when it stops being pending. */
export interface IncomingCallHooks {
  readonly settled: (call: IncomingCall) => void;
}

/** A new tag for our side of a dialog (§19.3: at least 32 bits of randomness). */
export function newTag(): string {
  return randomBytes(6).toString('hex');
}

/**
 * A call offered by an INVITE (RFC 3261 §13.3). The application answers it with
 * progress() (180/183, creating an early dialog), accept() (200 with its SDP answer,
 * resolving with the confirmed {@link Dialog}) or reject(); 'cancel' says the caller
 * (or the UA) gave up first.
 */
export class IncomingCall extends EventEmitter<Events> {
  readonly callId: string;
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly requestUri: string;
  /** Every header of the INVITE: lower-case name → values (list headers split). */
  readonly headers: ReadonlyMap<string, string[]>;
  /** The SDP offer, or null for an INVITE without one (our 200 must then carry the offer). */
  readonly offer: string | null;
  /** Where the INVITE came from (normally Kamailio). */
  readonly source: MessageSource;
  private current: IncomingCallState = 'offered';
  private readonly dialog: Dialog;
  private readonly ringTimer: NodeJS.Timeout;

  constructor(
    private readonly ctx: UaContext,
    private readonly invite: SipRequest,
    private readonly txn: ServerInviteTransaction,
    ringTimeoutMs: number,
    private readonly hooks: IncomingCallHooks,
  ) {
    super();
    this.callId = (invite.headers.get('Call-ID') as string).trim();
    this.from = fromOf(invite);
    this.to = toOf(invite);
    this.requestUri = invite.uri;
    this.headers = invite.headers.toMap();
    this.offer = sdpOf(invite);
    this.source = txn.source;
    const localTag = newTag();
    this.dialog = new Dialog(ctx, uasDialogInit(invite, localTag, txn.source), {
      onEarlyBye: () => {
        this.txn.respond(this.response(487));
        this.cancelled('BYE on the early dialog');
      },
    });
    // The UA core answers a matching CANCEL with 200 and this INVITE with 487 (§9.2), then tells us.
    ctx.trackInvite(txn, localTag, () => this.cancelled('CANCEL'));
    txn.once('transportError', (err) => {
      if (this.pending) this.cancelled(`transport error: ${err.message}`);
    });
    this.ringTimer = setTimeout(() => {
      if (!this.pending) return;
      ctx.logger.info('call not answered in time, rejecting', { sip_call_id: this.callId });
      this.txn.respond(this.response(480));
      this.cancelled('ring timeout');
    }, ringTimeoutMs);
  }

  get state(): IncomingCallState {
    return this.current;
  }

  /** Not yet accepted, rejected or cancelled. */
  get pending(): boolean {
    return this.current === 'offered' || this.current === 'early';
  }

  /** Sends 180 or 183 (with an SDP for early media); ignored once the call is settled. */
  progress(status: 180 | 183, sdp?: string): void {
    if (status !== 180 && status !== 183)
      throw new TypeError(`progress status must be 180 or 183, got ${String(status)}`);
    if (!this.pending) return;
    this.txn.respond(this.response(status, sdp));
    if (this.current === 'offered') {
      this.transition('early');
      this.dialog.announce();
    }
  }

  /** Sends 200 with the SDP answer; resolves with the confirmed dialog (§13.3.1.4). */
  accept(answerSdp: string): Promise<Dialog> {
    if (typeof answerSdp !== 'string' || answerSdp.length === 0) throw new TypeError('accept() needs an SDP answer');
    if (this.current === 'cancelled')
      return Promise.reject(
        new SipError('ERR_SIP_CALL_GONE', `call ${this.callId} was cancelled before it was answered`),
      );
    if (!this.pending)
      return Promise.reject(new SipError('ERR_SIP_INVALID_STATE', `call ${this.callId} is already ${this.current}`));
    const res = this.response(200, answerSdp);
    this.txn.respond(res);
    if (this.current === 'offered') this.dialog.announce();
    this.transition('accepted');
    this.settle();
    this.dialog.confirm(this.txn, res, answerSdp);
    return Promise.resolve(this.dialog);
  }

  /** Sends a final failure response (300-699), e.g. 488 for an offer the application cannot take (`headers`: e.g. Retry-After). */
  reject(status: number, reason?: string, headers: ReadonlyArray<readonly [string, string]> = []): void {
    if (!Number.isInteger(status) || status < 300 || status > 699)
      throw new TypeError(`reject() needs a 3xx-6xx status, got ${status}`);
    if (!this.pending) return;
    this.txn.respond(this.response(status, undefined, reason, headers));
    this.transition('rejected');
    this.settle();
    this.dialog.abandon({ by: 'local', status, ...(reason === undefined ? {} : { reason }) });
  }

  /** The UA is closing or overloaded: refuse with 503 and tell the application the call is gone. */
  abort(status = 503, reason?: string): void {
    if (!this.pending) return;
    this.txn.respond(this.response(status, undefined, reason, [['Retry-After', '5']]));
    this.cancelled(reason ?? 'user agent closing');
  }

  private cancelled(why: string): void {
    if (!this.pending) return;
    this.transition('cancelled');
    this.settle();
    this.dialog.abandon({ by: 'remote', status: 487, reason: why });
    this.ctx.logger.info('call cancelled before answer', { sip_call_id: this.callId, why });
    try {
      this.emit('cancel');
    } catch (err) {
      this.ctx.logger.error('cancel listener threw', { sip_call_id: this.callId, err: (err as Error).message });
    }
  }

  private settle(): void {
    clearTimeout(this.ringTimer);
    this.hooks.settled(this);
  }

  /**
   * A response to the INVITE with our tag; 1xx and 2xx carry Contact and the
   * Record-Route values, in order, since they make a dialog (§12.1.1).
   */
  private response(
    status: number,
    sdp?: string,
    reason?: string,
    extra: ReadonlyArray<readonly [string, string]> = [],
  ): SipResponse {
    const headers: Array<[string, string]> = [];
    if (status < 300 && status > 100) {
      for (const f of this.invite.headers.fields())
        if (f.name === 'Record-Route') headers.push(['Record-Route', f.value]);
      headers.push(['Contact', this.ctx.contact(this.txn.source.protocol)]);
    }
    if (status >= 200 && status < 300) headers.push(['Allow', ALLOWED_METHODS.join(', ')]);
    headers.push(...extra.map(([n, v]) => [n, v] as [string, string]), ['Server', this.ctx.userAgent]);
    return createResponse(this.invite, status, {
      toTag: this.dialog.localTag,
      headers,
      ...(reason === undefined ? {} : { reason }),
      ...(sdp === undefined ? {} : { body: sdp }),
    });
  }

  private transition(to: IncomingCallState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`incoming call ${this.callId}: illegal ${this.current} → ${to}`);
    this.current = to;
  }
}
