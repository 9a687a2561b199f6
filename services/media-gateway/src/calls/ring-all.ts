import { transferTarget } from '../../../common/src/calls/transfer-target';
import { MediaBridge, type BridgeSide } from './bridge';
import type { EndedBy } from './call';
import type { BridgeOutcome } from './handle';
import { outcome, type DialResult } from './outbound';
import { TargetDial, type TargetDialDeps, type TargetLeg } from './target-leg';

/**
 * CallHandle.bridgeTo: the gateway dials one or several people for a caller that
 * no AI holds (a queue's agents, a menu's SIP user or external number) and joins the
 * caller to the first who answers.
 *
 * ```
 *   idle ──ring()──► ringing ──first 2xx──► bridged ──BYE either side──► done
 *                       │  (the others CANCELled; a 2xx that crossed our CANCEL gets a BYE)
 *                       └──all failed, ring timeout (CANCEL → 487), the call ended──► idle
 * ```
 *
 * Forking is ours, not the proxy's: each target gets its own INVITE (its own
 * Call-ID, socket and offer) through Kamailio, so a trunk number and a SIP user can
 * ring together, and the parallel search ends at the first 2xx as RFC 3261 §16.7
 * point 10 has a forking proxy do: every other branch is CANCELled. While the targets
 * ring the caller's leg keeps playing what it played (its music, or silence).
 */
export type RingAllState = 'idle' | 'ringing' | 'bridged' | 'done';

const EDGES: Record<RingAllState, readonly RingAllState[]> = {
  idle: ['ringing', 'done'],
  ringing: ['idle', 'bridged', 'done'],
  bridged: ['done'],
  done: [],
};

/** What ringing needs of its call (call.ts implements it). */
export interface RingAllHost {
  readonly callId: string;
  /** Our number on this call: the From of the legs the gateway dials. */
  readonly ourNumber: string;
  /** The caller's media: its leg, its socket, what was negotiated. */
  readonly caller: BridgeSide;
  /** The targets answered: the caller stops hearing what `play` gave it. */
  joined(): void;
  record(type: string, data: Record<string, unknown>): void;
  end(reason: string, by: EndedBy): Promise<void>;
  readonly log: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

export interface RingAllDeps extends TargetDialDeps {
  /** Our SIP domain: targets become sip:<user>@<domain>. */
  readonly domain: string;
}

/** One branch of the fork. */
interface Branch {
  readonly target: string;
  readonly dial: TargetDial;
  settled: boolean;
}

export class RingAll {
  private current: RingAllState = 'idle';
  private branches: Branch[] = [];
  private winner: { target: string; leg: TargetLeg } | null = null;
  /** A branch's 2xx is being taken: a second 2xx meanwhile loses. */
  private claimed = false;
  private bridge: MediaBridge | null = null;

  constructor(
    private readonly host: RingAllHost,
    private readonly deps: RingAllDeps,
  ) {}

  get state(): RingAllState {
    return this.current;
  }

  /** The bridge while the caller and the winner are joined. */
  get media(): MediaBridge | null {
    return this.bridge;
  }

  private transition(to: RingAllState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`ring-all of ${this.host.callId}: illegal ${this.current} → ${to}`);
    this.current = to;
  }

  /**
   * Rings every target at once for up to `ringTimeoutMs`. Resolves once one answered
   * and was joined to the caller, or every branch failed (busy only when all were
   * busy; no_answer when one rang out; cancelled when the call ended).
   */
  async ring(targets: readonly string[], ringTimeoutMs: number): Promise<BridgeOutcome> {
    if (this.current !== 'idle') throw new TypeError(`ring-all of ${this.host.callId}: already ${this.current}`);
    const statuses: Record<string, number> = {};
    const wanted: Array<{ target: string; user: string }> = [];
    for (const target of targets) {
      const t = transferTarget(target, this.deps.domain);
      if (!t.ok) {
        this.host.log.warn('bridge: target refused', { target, reason: t.reason });
        statuses[target] = 400;
      } else if (!wanted.some((w) => w.user === t.user)) wanted.push({ target, user: t.user });
    }
    if (wanted.length === 0) return { ok: false, sipStatus: 400, reason: 'failed', statuses };
    this.transition('ringing');
    this.host.record('bridge_ringing', { targets: wanted.map((w) => w.target), ring_timeout_ms: ringTimeoutMs });
    this.host.log.info('bridge: ringing', { targets: wanted.map((w) => w.target) });

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.cancelBranches(null);
    }, ringTimeoutMs);
    try {
      const results = await Promise.all(
        wanted.map(async (w): Promise<{ target: string; result: DialResult } | null> => {
          let dial: TargetDial;
          try {
            dial = await TargetDial.place(this.deps, {
              from: this.host.ourNumber,
              to: w.user,
              codecPt: this.host.caller.codecPt,
            });
          } catch {
            return { target: w.target, result: { ok: false, status: 503, reason: 'no media port' } };
          }
          const branch: Branch = { target: w.target, dial, settled: false };
          this.branches.push(branch);
          // The call ended or another branch won while our socket opened.
          if (this.current !== 'ringing' || timedOut) dial.outgoing.cancel();
          const result = await dial.result;
          branch.settled = true;
          if (result.ok && (await this.answered(branch, result))) return null;
          if (!result.ok) dial.discard();
          return { target: w.target, result };
        }),
      );
      if (this.winner) return { ok: true, target: this.winner.target };
      for (const r of results) if (r) statuses[r.target] = r.result.ok ? 487 : r.result.status;
      return this.failed(statuses, timedOut);
    } finally {
      clearTimeout(timer);
      this.branches = [];
      this.claimed = false;
    }
  }

  /** A branch's 2xx: the winner if first (the others are cancelled), else hung up. True when it won. */
  private async answered(branch: Branch, r: Extract<DialResult, { ok: true }>): Promise<boolean> {
    if (this.current !== 'ringing' || this.claimed) {
      // A 2xx that crossed our CANCEL, or a second answer (RFC 3261 §9.1, §16.7): BYE.
      await branch.dial.hangUp(r);
      return false;
    }
    this.claimed = true;
    const leg = await branch.dial.answered(r, this.host.log);
    if (!leg || this.current !== 'ringing') {
      this.claimed = false;
      if (leg) await this.hangUp(leg);
      return false;
    }
    this.winner = { target: branch.target, leg };
    this.cancelBranches(branch);
    this.transition('bridged');
    this.host.joined();
    this.bridge = new MediaBridge(this.host.caller, leg.side);
    leg.dialog.onTerminated((reason) => void this.winnerGone(leg, reason));
    this.host.record('bridge_answered', { target: branch.target, bridge: this.bridge.mode });
    this.host.log.info('bridge: caller joined', { target: branch.target, bridge: this.bridge.mode });
    return true;
  }

  private cancelBranches(except: Branch | null): void {
    for (const b of this.branches) if (b !== except && !b.settled) b.dial.outgoing.cancel();
  }

  private failed(statuses: Record<string, number>, timedOut: boolean): BridgeOutcome {
    const ended = this.current === 'done';
    if (this.current === 'ringing') this.transition('idle');
    const codes = Object.values(statuses);
    let reason: 'busy' | 'no_answer' | 'failed' | 'cancelled';
    let sipStatus: number;
    if (ended) {
      reason = 'cancelled';
      sipStatus = 487;
    } else if (codes.every((s) => s === 486 || s === 600)) {
      reason = 'busy';
      sipStatus = 486;
    } else {
      const dispositions = Object.values(statuses).map(
        (s) => outcome(s, '', { timedOut: timedOut && s === 487, hungUp: null }).disposition,
      );
      reason = dispositions.includes('no_answer') ? 'no_answer' : 'failed';
      sipStatus =
        reason === 'no_answer' ? (timedOut ? 487 : 480) : Math.min(...codes.filter((s) => s >= 300).concat([500]));
    }
    this.host.record('bridge_failed', { reason, sip_status: sipStatus, statuses });
    this.host.log.info('bridge: nobody answered', { reason, statuses });
    return { ok: false, sipStatus, reason, statuses };
  }

  private async winnerGone(leg: TargetLeg, reason: string): Promise<void> {
    if (this.winner?.leg !== leg || this.current !== 'bridged') return;
    this.closeLeg(leg);
    this.winner = null;
    await this.host.end(`bridged party hung up (${reason})`, 'callee');
  }

  private async hangUp(leg: TargetLeg): Promise<void> {
    this.closeLeg(leg);
    await leg.dialog.bye().catch(() => undefined);
  }

  private closeLeg(leg: TargetLeg): void {
    leg.unsubscribe();
    if (this.bridge) {
      this.host.log.info('bridge: closed', { bridge: this.bridge.mode, ...this.bridge.stats });
      this.bridge.close();
      this.bridge = null;
    }
    leg.side.leg.close();
  }

  /** The call ended: cancel what rings, hang up the bridged party. Idempotent. */
  async close(): Promise<void> {
    if (this.current === 'done') return;
    this.current = 'done';
    this.cancelBranches(null);
    const won = this.winner?.leg;
    this.winner = null;
    if (won) await this.hangUp(won);
  }
}
