import { EventEmitter } from 'node:events';
import type { SipError } from '../errors';
import type { SipRequest, SipResponse } from '../message/message';
import { createResponse } from '../message/response';
import { isReliable, type MessageSource, type SipTransport, type TransportTarget } from '../transport/transport';
import { TimerSet, type TimerValues } from './timers';

/**
 * Server INVITE transaction (RFC 3261 §17.2.1, with the Accepted state of RFC 6026 §7.1):
 *
 * ```
 *              INVITE → 100 Trying
 *                   |
 *              proceeding ──1xx──┐ (resend last provisional on retransmitted INVITE)
 *              │        │ ◄──────┘
 *          2xx │        │ 300-699
 *              ▼        ▼
 *        accepted      completed ── Timer G: resend final (T1, doubling to T2; unreliable only)
 *      (absorb INVITE;  │     │
 *       2xx resends     │ ACK  └── Timer H (64·T1): no ACK → terminated + 'timeout'
 *       from the TU)    ▼
 *           │       confirmed ── Timer I (T4; 0 reliable) → terminated
 *   Timer L (64·T1)     │
 *           └──────► terminated ◄── transport error ('transportError')
 * ```
 */
export type ServerInviteState = 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

const EDGES: Readonly<Record<ServerInviteState, readonly ServerInviteState[]>> = {
  proceeding: ['accepted', 'completed', 'terminated'],
  accepted: ['terminated'],
  completed: ['confirmed', 'terminated'],
  confirmed: ['terminated'],
  terminated: [],
};

type Events = { terminated: []; timeout: []; transportError: [SipError] };

export class ServerInviteTransaction extends EventEmitter<Events> {
  readonly kind = 'server-invite' as const;
  private current: ServerInviteState = 'proceeding';
  private readonly timers = new TimerSet<'G' | 'H' | 'I' | 'L'>();
  private readonly reliable: boolean;
  private lastProvisional: SipResponse;
  private lastFinal: SipResponse | undefined;
  private intervalG: number;

  constructor(
    readonly id: string,
    readonly request: SipRequest,
    readonly source: MessageSource,
    private readonly target: TransportTarget,
    private readonly transport: SipTransport,
    private readonly t: TimerValues,
  ) {
    super();
    this.reliable = isReliable(target.protocol);
    this.intervalG = t.t1;
    // §17.2.1: a 100 unless the TU answers within 200 ms; we always send it at once, which
    // stops the caller's Timer A retransmissions as early as possible.
    this.lastProvisional = createResponse(request, 100);
    this.send(this.lastProvisional);
  }

  get state(): ServerInviteState {
    return this.current;
  }

  /** Whether a final response has been sent. */
  get answered(): boolean {
    return this.current !== 'proceeding';
  }

  /** Sends a response from the TU; ignored once the transaction cannot carry it. */
  respond(res: SipResponse): void {
    if (this.current === 'proceeding') {
      if (res.status < 200) {
        this.lastProvisional = res;
        this.send(res);
      } else if (res.status < 300) {
        this.send(res);
        this.transition('accepted');
        // RFC 6026 §7.1: Timer L keeps the transaction to absorb INVITE retransmissions.
        this.timers.start('L', 64 * this.t.t1, () => this.transition('terminated'));
      } else {
        this.lastFinal = res;
        this.send(res);
        this.transition('completed');
        if (!this.reliable) this.timers.start('G', this.intervalG, () => this.fireG());
        this.timers.start('H', 64 * this.t.t1, () => {
          this.emit('timeout');
          this.transition('terminated');
        });
      }
    } else if (this.current === 'accepted' && res.status >= 200 && res.status < 300) {
      // RFC 6026 §8.7: 2xx retransmissions from the TU pass straight to the transport.
      this.send(res);
    }
  }

  /**
   * A request matching this transaction: a retransmitted INVITE or an ACK. Returns
   * false when the TU must see it (an ACK in Accepted is an ACK for the 2xx, RFC 6026 §8.9).
   */
  receive(req: SipRequest): boolean {
    if (req.method === 'ACK') {
      if (this.current === 'completed') {
        this.timers.stop('G');
        this.timers.stop('H');
        this.transition('confirmed');
        if (this.reliable) this.transition('terminated');
        else this.timers.start('I', this.t.t4, () => this.transition('terminated'));
        return true;
      }
      return this.current !== 'accepted';
    }
    // §17.2.1: a retransmitted INVITE gets the most recent provisional (Proceeding) or the final (Completed).
    if (this.current === 'proceeding') this.send(this.lastProvisional);
    else if (this.current === 'completed' && this.lastFinal) this.send(this.lastFinal);
    return true;
  }

  /** Ends the transaction without waiting for timers (owner closing). */
  terminate(): void {
    if (this.current !== 'terminated') this.transition('terminated');
  }

  private fireG(): void {
    if (this.current !== 'completed' || !this.lastFinal) return;
    this.send(this.lastFinal);
    this.intervalG = Math.min(2 * this.intervalG, this.t.t2);
    this.timers.start('G', this.intervalG, () => this.fireG());
  }

  private send(res: SipResponse): void {
    this.transport.send(res, this.target, (err) => {
      // §17.2.4: a transport failure ends the transaction and is reported to the TU.
      if (this.current === 'terminated') return;
      this.emit('transportError', err);
      this.transition('terminated');
    });
  }

  private transition(to: ServerInviteState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`server INVITE transaction ${this.id}: illegal ${this.current} → ${to}`);
    this.current = to;
    if (to === 'terminated') {
      this.timers.stopAll();
      this.emit('terminated');
    }
  }
}
