import type { TransferMode } from '../../../common/src/ai-protocol/wire/olib';
import { transferTarget } from '../../../common/src/calls/transfer-target';
import { CodedError } from '../../../common/src/errors';
import type { CallEvent } from '../ai-stream/dialects/types';
import { MediaBridge, type BridgeSide } from './bridge';
import type { CallDeps, DialogLike, EndedBy } from './call';
import type { MediaLeg, RtpSocket } from './media-leg';
import { outcome, type Dial, type OutgoingLeg } from './outbound';
import { TargetDial, type TargetLeg } from './target-leg';

/**
 * Transfers of one call (issue 14): blind (RFC 3515 REFER, the caller places the new
 * call), bridged (the gateway dials the target through Kamailio and joins the two
 * legs' media itself, so it works where the far end refuses REFER) and warm (the AI,
 * or an operator through it, talks to the target first, then joins the caller).
 *
 * ```
 *   idle ──blind──► referring ──NOTIFY 2xx──► done (the call ends: the caller left)
 *    │                 ├──NOTIFY non-2xx──► idle (the caller is still with the AI)
 *    │                 └──REFER refused, mode auto──► dialing
 *    ├──bridged / warm──► dialing ──answered, bridged──► bridged ──BYE either side──► done
 *    │                      │    └──answered, warm──► consulting ──complete──► bridged
 *    │                      │                             └──cancel, target BYE──► idle
 *    │                      └──busy, no answer, failed, cancel──► idle (the AI is told why)
 *    └── the call ends in any state ──► done (dial cancelled, target BYE'd)
 * ```
 */
export type TransferState = 'idle' | 'referring' | 'dialing' | 'consulting' | 'bridged' | 'done';

const EDGES: Record<TransferState, readonly TransferState[]> = {
  idle: ['referring', 'dialing', 'done'],
  referring: ['idle', 'dialing', 'done'],
  dialing: ['idle', 'consulting', 'bridged', 'done'],
  consulting: ['idle', 'bridged', 'done'],
  bridged: ['done'],
  done: [],
};

export type TransferErrorCode =
  | 'ERR_TRANSFER_TARGET_INVALID'
  | 'ERR_TRANSFER_IN_PROGRESS'
  | 'ERR_TRANSFER_NOT_PENDING'
  | 'ERR_TRANSFER_UNAVAILABLE'
  | 'ERR_CALL_TRANSFER_FAILED'
  | 'ERR_CALL_NOT_ACTIVE';

/** A transfer refused or failed; `details.sip_status` carries the SIP status when there is one. */
export class TransferError extends CodedError<TransferErrorCode> {}

export interface TransferRequest {
  readonly mode: TransferMode;
  /** E.164 number, user name, or a SIP URI of our domain (see transferTarget). */
  readonly target: string;
  /** Warm transfer: what the AI should tell the target (handed to it with transfer_target_answered). */
  readonly announce?: string;
  /** Resolve once the outcome is known (NOTIFY final status, the target's answer), not when the transfer starts. */
  readonly waitForOutcome?: boolean;
  readonly requestedBy: 'ai' | 'api';
}

/** What the API command returns (snake_case: it is written to call_commands.result as is). */
export interface TransferResult {
  readonly ok: true;
  readonly mode: Exclude<TransferMode, 'auto'>;
  readonly target: string;
  readonly state: TransferState;
  /** Blind: the REFER's own status (202 when accepted). */
  readonly refer_status?: number;
  /** The outcome's SIP status: the final NOTIFY sipfrag (blind) or the INVITE's final response (bridged, warm). */
  readonly sip_status?: number;
  /** Bridged: `relay` (same codec, RTP passed through) or `transcode` (through PCM). */
  readonly bridge?: string;
  /** A blind transfer the far end refused that went on as a bridged one (mode `auto`). */
  readonly fell_back?: boolean;
}

/** What a transfer needs of its call (call.ts implements it). */
export interface TransferHost {
  readonly callId: string;
  /** Our number on this call (the From of the leg the gateway dials). */
  readonly ourNumber: string;
  /** The other party's number or name (the display name of that leg). */
  readonly theirNumber: string;
  readonly dialog: DialogLike;
  /** The caller's media: its leg, its socket, what was negotiated. */
  readonly caller: BridgeSide;
  /** Which leg the AI hears and speaks to: the caller's (default), the target's (warm), or none. */
  connectAi(leg: MediaLeg | null): void;
  /** While true the caller hears hold audio and nothing of the AI. */
  holdCaller(onHold: boolean): void;
  tellAi(event: CallEvent): void;
  /** The AI leaves the call for good (bridged); the call goes on. */
  releaseAi(reason: string): Promise<void>;
  record(type: string, data: Record<string, unknown>): void;
  end(reason: string, by: EndedBy): Promise<void>;
  readonly log: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

export interface TransferMetrics {
  /** outcome: requested, succeeded, failed, fallback, cancelled, refused (bad target, busy transfer). */
  transfer(mode: Exclude<TransferMode, 'auto'>, outcome: string): void;
}

/** The gateway-wide parts a transfer uses. */
export interface TransferDeps {
  /** Our SIP domain: targets become sip:<user>@<domain>. */
  readonly domain: string;
  /** Places the target leg through Kamailio; absent: only blind transfers are possible. */
  readonly dial?: Dial;
  readonly openSocket: () => Promise<RtpSocket>;
  readonly rtpAddress: string;
  readonly mediaParts: CallDeps['mediaParts'];
  readonly subscribeClock: CallDeps['subscribeClock'];
  /** How long the target may ring before the transfer gives up (no_answer). */
  readonly ringTimeoutMs: number;
  readonly metrics?: TransferMetrics;
}

/** RFC 3515 §2.4.2 / RFC 3261: statuses of a REFER that mean "this peer will not transfer", so bridging is worth trying. */
function referRefused(status: number): boolean {
  return status >= 400 && status !== 481 && status !== 487;
}

/** One call's transfer controller; at most one transfer runs at a time. */
export class CallTransfer {
  private current: TransferState = 'idle';
  private outgoing: OutgoingLeg | null = null;
  private target: TargetLeg | null = null;
  private bridge: MediaBridge | null = null;
  private pending: { mode: 'bridged' | 'warm'; user: string; uri: string; announce?: string } | null = null;
  private cancelRequested = false;

  constructor(
    private readonly host: TransferHost,
    private readonly deps: TransferDeps,
  ) {}

  get state(): TransferState {
    return this.current;
  }

  /** The bridge while the caller and target are joined (for tests and metrics). */
  get media(): MediaBridge | null {
    return this.bridge;
  }

  private transition(to: TransferState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`transfer of ${this.host.callId}: illegal ${this.current} → ${to}`);
    this.current = to;
  }

  /** Starts a transfer; resolves as described by {@link TransferResult}, or throws a {@link TransferError}. */
  async start(req: TransferRequest): Promise<TransferResult> {
    const target = transferTarget(req.target, this.deps.domain);
    const mode = req.mode;
    if (!target.ok) {
      this.host.log.warn('transfer refused: bad target', { by: req.requestedBy, reason: target.reason });
      this.deps.metrics?.transfer(mode === 'auto' ? 'blind' : mode, 'refused');
      throw new TransferError('ERR_TRANSFER_TARGET_INVALID', target.reason);
    }
    if (this.current !== 'idle')
      throw new TransferError('ERR_TRANSFER_IN_PROGRESS', `a transfer is already ${this.current}`);
    if ((mode === 'bridged' || mode === 'warm') && !this.deps.dial)
      throw new TransferError('ERR_TRANSFER_UNAVAILABLE', 'this gateway cannot place calls; only blind transfer');
    this.host.record('transfer_requested', { mode, target: target.uri, by: req.requestedBy });
    if (mode === 'blind' || mode === 'auto') return this.blind(target, req);
    return this.dialTarget({ mode, user: target.user, uri: target.uri, ...announceOf(req) }, req.waitForOutcome);
  }

  /** Warm transfer: join the caller and the target (the AI leaves). */
  async complete(): Promise<TransferResult> {
    const p = this.pending;
    if (this.current !== 'consulting' || !p || p.mode !== 'warm' || !this.target)
      throw new TransferError('ERR_TRANSFER_NOT_PENDING', 'no warm transfer is waiting to be completed');
    await this.join(this.target);
    return { ok: true, mode: 'warm', target: p.uri, state: this.current, ...this.bridgeInfo() };
  }

  /** Warm (or bridged, while ringing) transfer: give up; the caller goes back to the AI. */
  async cancel(): Promise<TransferResult> {
    const p = this.pending;
    if (!p || (this.current !== 'dialing' && this.current !== 'consulting'))
      throw new TransferError('ERR_TRANSFER_NOT_PENDING', 'no transfer is waiting to be cancelled');
    this.cancelRequested = true;
    if (this.current === 'dialing') {
      // The dial settles with 487 and reports the cancellation itself.
      this.outgoing?.cancel();
      return { ok: true, mode: p.mode, target: p.uri, state: this.current };
    }
    const leg = this.target;
    this.target = null;
    if (leg) await this.hangUpTarget(leg);
    this.backToAi(p, 'cancelled');
    return { ok: true, mode: p.mode, target: p.uri, state: this.current };
  }

  /** The call ended: cancel the dial, hang up the target, release the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.current === 'done') return;
    const wasDialing = this.current === 'dialing';
    this.current = 'done';
    if (wasDialing) this.outgoing?.cancel();
    const leg = this.target;
    this.target = null;
    if (leg) await this.hangUpTarget(leg);
  }

  // ---- blind ----

  private async blind(target: { user: string; uri: string }, req: TransferRequest): Promise<TransferResult> {
    this.transition('referring');
    this.deps.metrics?.transfer('blind', 'requested');
    let refer: { status: number; outcome?: Promise<number> };
    try {
      refer = await this.host.dialog.refer(target.uri);
    } catch (err) {
      refer = { status: 500 };
      this.host.log.warn('REFER not sent', { error: (err as Error).message });
    }
    if (this.current !== 'referring') throw new TransferError('ERR_CALL_NOT_ACTIVE', 'the call ended');
    if (refer.status >= 300) {
      this.host.record('transfer_failed', {
        mode: 'blind',
        target: target.uri,
        stage: 'refer',
        sip_status: refer.status,
      });
      if (req.mode === 'auto' && referRefused(refer.status) && this.deps.dial) {
        this.host.log.info('REFER refused; transferring bridged instead', { target: target.uri, status: refer.status });
        this.deps.metrics?.transfer('blind', 'fallback');
        this.transition('idle');
        this.host.record('transfer_requested', { mode: 'bridged', target: target.uri, by: req.requestedBy });
        const r = await this.dialTarget({ mode: 'bridged', ...target }, req.waitForOutcome);
        return { ...r, refer_status: refer.status, fell_back: true };
      }
      this.transition('idle');
      this.deps.metrics?.transfer('blind', 'failed');
      this.host.tellAi({
        type: 'transfer_failed',
        target: target.uri,
        mode: 'blind',
        reason: 'refused',
        sipStatus: refer.status,
      });
      throw new TransferError('ERR_CALL_TRANSFER_FAILED', `REFER refused with ${refer.status}`, {
        sip_status: refer.status,
        refer_status: refer.status,
      });
    }
    this.host.record('transfer_accepted', { mode: 'blind', target: target.uri, refer_status: refer.status });
    // A peer that reports nothing is taken at its word: the REFER's 2xx.
    const settled = (refer.outcome ?? Promise.resolve(refer.status)).then((status) =>
      this.blindOutcome(target.uri, status),
    );
    if (!req.waitForOutcome) {
      void settled;
      return { ok: true, mode: 'blind', target: target.uri, state: this.current, refer_status: refer.status };
    }
    const status = await settled;
    if (status >= 300)
      throw new TransferError('ERR_CALL_TRANSFER_FAILED', `the transferred call failed with ${status}`, {
        sip_status: status,
        refer_status: refer.status,
      });
    return {
      ok: true,
      mode: 'blind',
      target: target.uri,
      state: this.current,
      refer_status: refer.status,
      sip_status: status,
    };
  }

  private async blindOutcome(uri: string, status: number): Promise<number> {
    if (this.current !== 'referring') return status;
    if (status >= 200 && status < 300) {
      this.deps.metrics?.transfer('blind', 'succeeded');
      this.host.record('transfer_succeeded', { mode: 'blind', target: uri, sip_status: status });
      this.transition('done');
      // RFC 3515 §2.4.7 has the transferee end the old dialog itself; not every phone does.
      await this.host.end(`transferred to ${uri}`, 'transfer');
      return status;
    }
    // RFC 3515 §2.4.5: the transfer failed; the caller is still on this call, with the AI.
    this.deps.metrics?.transfer('blind', 'failed');
    this.host.record('transfer_failed', { mode: 'blind', target: uri, stage: 'notify', sip_status: status });
    this.transition('idle');
    this.host.tellAi({
      type: 'transfer_failed',
      target: uri,
      mode: 'blind',
      reason: reasonOf(status),
      sipStatus: status,
    });
    return status;
  }

  // ---- bridged and warm ----

  private async dialTarget(
    p: { mode: 'bridged' | 'warm'; user: string; uri: string; announce?: string },
    waitForOutcome: boolean | undefined,
  ): Promise<TransferResult> {
    const dial = this.deps.dial as Dial;
    this.transition('dialing');
    this.pending = p;
    this.cancelRequested = false;
    this.deps.metrics?.transfer(p.mode, 'requested');
    let placed: TargetDial;
    try {
      placed = await TargetDial.place(
        { ...this.deps, dial },
        {
          from: this.host.ourNumber,
          to: p.user,
          codecPt: this.host.caller.codecPt,
        },
      );
    } catch {
      this.dialFailed(p, 503, 'no media port');
      throw new TransferError('ERR_CALL_TRANSFER_FAILED', 'no media port for the target leg', { sip_status: 503 });
    }
    const leg = placed.outgoing;
    this.outgoing = leg;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      leg.cancel();
    }, this.deps.ringTimeoutMs);
    this.host.log.info('transfer: dialling the target', { mode: p.mode, target: p.uri });
    const settled = leg.result
      .then(async (r) => {
        clearTimeout(timer);
        this.outgoing = null;
        if (!r.ok) {
          placed.discard();
          const why = this.cancelRequested
            ? 'cancelled'
            : outcome(r.status, r.reason, { timedOut, hungUp: null }).disposition;
          this.dialFailed(p, r.status, why);
          return r.status;
        }
        if (this.current !== 'dialing' || this.cancelRequested) {
          // Cancelled or the call ended while the 2xx crossed our CANCEL (RFC 3261 §9.1): hang up at once.
          await placed.hangUp(r);
          this.dialFailed(p, 487, 'cancelled');
          return 487;
        }
        const target = await placed.answered(r, this.host.log);
        if (!target) {
          this.dialFailed(p, 488, 'failed');
          return 488;
        }
        this.target = target;
        r.dialog.onTerminated((reason) => void this.targetGone(target, reason));
        this.host.record('transfer_answered', { mode: p.mode, target: p.uri, sip_status: 200 });
        if (p.mode === 'bridged') await this.join(target);
        else this.consult(target, p);
        return 200;
      })
      .catch((err: Error) => {
        clearTimeout(timer);
        this.host.log.warn('transfer: dial failed unexpectedly', { error: err.message });
        placed.discard();
        this.dialFailed(p, 500, 'failed');
        return 500;
      });
    if (!waitForOutcome) return { ok: true, mode: p.mode, target: p.uri, state: this.current };
    const status = await settled;
    if (status >= 300)
      throw new TransferError('ERR_CALL_TRANSFER_FAILED', `the target did not answer: ${status}`, {
        sip_status: status,
      });
    return { ok: true, mode: p.mode, target: p.uri, state: this.current, sip_status: status, ...this.bridgeInfo() };
  }

  /** Warm: the caller waits on hold audio while the AI talks to the target. */
  private consult(target: TargetLeg, p: { uri: string; announce?: string }): void {
    this.transition('consulting');
    this.host.holdCaller(true);
    this.host.connectAi(target.side.leg);
    this.host.tellAi({
      type: 'transfer_target_answered',
      target: p.uri,
      ...(p.announce ? { announce: p.announce } : {}),
    });
    this.host.log.info('transfer: the target answered; the AI talks to it first', { target: p.uri });
  }

  /** Caller ↔ target; the AI leaves. */
  private async join(target: TargetLeg): Promise<void> {
    const p = this.pending;
    this.transition('bridged');
    this.host.connectAi(null);
    this.host.holdCaller(false);
    this.bridge = new MediaBridge(this.host.caller, target.side);
    this.deps.metrics?.transfer(p?.mode ?? 'bridged', 'succeeded');
    this.host.record('transfer_succeeded', { mode: p?.mode ?? 'bridged', target: p?.uri, bridge: this.bridge.mode });
    this.host.log.info('transfer: caller and target joined', { target: p?.uri, bridge: this.bridge.mode });
    await this.host.releaseAi('transferred');
  }

  private async targetGone(target: TargetLeg, reason: string): Promise<void> {
    if (this.target !== target) return;
    const p = this.pending;
    if (this.current === 'bridged') {
      this.target = null;
      this.closeLeg(target);
      await this.host.end(`transfer target hung up (${reason})`, 'transfer');
      return;
    }
    if (this.current === 'consulting' && p) {
      this.target = null;
      this.closeLeg(target);
      this.backToAi(p, 'target_hung_up');
    }
  }

  private backToAi(p: { mode: 'bridged' | 'warm'; uri: string }, reason: string): void {
    this.host.connectAi(this.host.caller.leg);
    this.host.holdCaller(false);
    this.transition('idle');
    this.pending = null;
    this.deps.metrics?.transfer(p.mode, reason === 'cancelled' ? 'cancelled' : 'failed');
    this.host.record('transfer_failed', { mode: p.mode, target: p.uri, reason });
    this.host.tellAi({ type: 'transfer_failed', target: p.uri, mode: p.mode, reason });
  }

  private dialFailed(p: { mode: 'bridged' | 'warm'; uri: string }, status: number, reason: string): void {
    if (this.current === 'done') return;
    this.host.log.info('transfer: the target leg failed; the caller stays with the AI', {
      target: p.uri,
      sip_status: status,
      reason,
    });
    if (this.current !== 'idle') this.transition('idle');
    this.pending = null;
    this.deps.metrics?.transfer(p.mode, reason === 'cancelled' ? 'cancelled' : 'failed');
    this.host.record('transfer_failed', { mode: p.mode, target: p.uri, sip_status: status, reason });
    this.host.tellAi({ type: 'transfer_failed', target: p.uri, mode: p.mode, reason, sipStatus: status });
  }

  private async hangUpTarget(leg: TargetLeg): Promise<void> {
    this.closeLeg(leg);
    await leg.dialog.bye().catch(() => undefined);
  }

  private closeLeg(leg: TargetLeg): void {
    leg.unsubscribe();
    if (this.bridge) {
      this.host.log.info('transfer: bridge closed', { bridge: this.bridge.mode, ...this.bridge.stats });
      this.bridge.close();
      this.bridge = null;
    }
    leg.side.leg.close();
  }

  private bridgeInfo(): { bridge?: string } {
    return this.bridge ? { bridge: this.bridge.mode } : {};
  }
}

function announceOf(req: TransferRequest): { announce?: string } {
  return req.announce ? { announce: req.announce } : {};
}

/** A failed transfer's reason in words an agent can act on. */
function reasonOf(status: number): string {
  if (status === 486 || status === 600) return 'busy';
  if (status === 480 || status === 408 || status === 487) return 'no_answer';
  return 'failed';
}
