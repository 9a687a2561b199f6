import { EventEmitter } from 'node:events';
import type { SipError } from '../errors';
import type { SipRequest, SipResponse } from '../message/message';
import { isReliable, type MessageSource, type SipTransport, type TransportTarget } from '../transport/transport';
import { TimerSet, type TimerValues } from './timers';

/**
 * Server non-INVITE transaction (RFC 3261 §17.2.2):
 *
 * ```
 *        request
 *           │
 *        trying ──1xx──► proceeding ──┐ 1xx (resend on retransmission)
 *           │                 │ ◄─────┘
 *           │ 200-699         │ 200-699
 *           └──────► completed ◄┘  (resend final on retransmission)
 *                        │ Timer J (64·T1 unreliable, 0 reliable)
 *                        ▼
 *                   terminated ◄── transport error
 * ```
 */
export type ServerNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

const EDGES: Readonly<Record<ServerNonInviteState, readonly ServerNonInviteState[]>> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

type Events = { terminated: []; transportError: [SipError] };

export class ServerNonInviteTransaction extends EventEmitter<Events> {
  readonly kind = 'server-non-invite' as const;
  private current: ServerNonInviteState = 'trying';
  private readonly timers = new TimerSet<'J'>();
  private last: SipResponse | undefined;

  constructor(
    readonly id: string,
    readonly request: SipRequest,
    readonly source: MessageSource,
    private readonly target: TransportTarget,
    private readonly transport: SipTransport,
    private readonly t: TimerValues,
  ) {
    super();
  }

  get state(): ServerNonInviteState {
    return this.current;
  }

  get answered(): boolean {
    return this.current === 'completed' || this.current === 'terminated';
  }

  respond(res: SipResponse): void {
    if (this.current !== 'trying' && this.current !== 'proceeding') return;
    this.last = res;
    this.send(res);
    if (res.status < 200) {
      if (this.current === 'trying') this.transition('proceeding');
      return;
    }
    this.transition('completed');
    if (isReliable(this.target.protocol)) this.transition('terminated');
    else this.timers.start('J', 64 * this.t.t1, () => this.transition('terminated'));
  }

  /** A retransmission of the request: absorbed, answered with the last response if any. */
  receive(_req: SipRequest): boolean {
    if ((this.current === 'proceeding' || this.current === 'completed') && this.last) this.send(this.last);
    return true;
  }

  terminate(): void {
    if (this.current !== 'terminated') this.transition('terminated');
  }

  private send(res: SipResponse): void {
    this.transport.send(res, this.target, (err) => {
      if (this.current === 'terminated') return;
      this.emit('transportError', err);
      this.transition('terminated');
    });
  }

  private transition(to: ServerNonInviteState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`server non-INVITE transaction ${this.id}: illegal ${this.current} → ${to}`);
    this.current = to;
    if (to === 'terminated') {
      this.timers.stopAll();
      this.emit('terminated');
    }
  }
}
