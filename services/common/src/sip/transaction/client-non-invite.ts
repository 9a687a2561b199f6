import { EventEmitter } from 'node:events';
import { SipError } from '../errors';
import type { SipRequest, SipResponse } from '../message/message';
import { isReliable, type SipTransport, type TransportTarget } from '../transport/transport';
import { TimerSet, type TimerValues } from './timers';

/**
 * Client non-INVITE transaction (RFC 3261 §17.1.2), for the BYE, INFO, OPTIONS,
 * REFER we send:
 *
 * ```
 *           send request; Timer F (64·T1); Timer E (T1, unreliable only)
 *                  │
 *               trying ── Timer E: resend, E = min(2E, T2)
 *                  │ 1xx
 *             proceeding ── Timer E: resend, E = T2
 *                  │ 200-699 (also straight from trying)
 *             completed ── Timer K (T4; 0 reliable) → terminated
 *   Timer F / transport error in trying or proceeding → terminated, 'failed'
 * ```
 */
export type ClientNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

const EDGES: Readonly<Record<ClientNonInviteState, readonly ClientNonInviteState[]>> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

type Events = { response: [SipResponse]; failed: [SipError]; terminated: [] };

export class ClientNonInviteTransaction extends EventEmitter<Events> {
  readonly kind = 'client-non-invite' as const;
  private current: ClientNonInviteState = 'trying';
  private readonly timers = new TimerSet<'E' | 'F' | 'K'>();
  private readonly reliable: boolean;
  private intervalE: number;

  constructor(
    readonly id: string,
    readonly request: SipRequest,
    readonly target: TransportTarget,
    private readonly transport: SipTransport,
    private readonly t: TimerValues,
  ) {
    super();
    this.reliable = isReliable(target.protocol);
    this.intervalE = t.t1;
  }

  /** Sends the request and starts the timers; separate from construction so listeners attach first. */
  start(): void {
    this.send();
    this.timers.start('F', 64 * this.t.t1, () =>
      this.fail(new SipError('ERR_SIP_TIMEOUT', `no final response to ${this.request.method} (Timer F)`)),
    );
    if (!this.reliable) this.timers.start('E', this.intervalE, () => this.fireE());
  }

  get state(): ClientNonInviteState {
    return this.current;
  }

  receive(res: SipResponse): void {
    if (this.current === 'completed' || this.current === 'terminated') return;
    if (res.status < 200) {
      if (this.current === 'trying') this.transition('proceeding');
      this.emit('response', res);
      return;
    }
    this.timers.stop('E');
    this.timers.stop('F');
    this.transition('completed');
    this.emit('response', res);
    if (this.reliable) this.transition('terminated');
    else this.timers.start('K', this.t.t4, () => this.transition('terminated'));
  }

  terminate(): void {
    if (this.current !== 'terminated') this.transition('terminated');
  }

  private fireE(): void {
    if (this.current !== 'trying' && this.current !== 'proceeding') return;
    this.send();
    this.intervalE = this.current === 'trying' ? Math.min(2 * this.intervalE, this.t.t2) : this.t.t2;
    this.timers.start('E', this.intervalE, () => this.fireE());
  }

  private send(): void {
    this.transport.send(this.request, this.target, (err) => this.fail(err));
  }

  private fail(err: SipError): void {
    if (this.current !== 'trying' && this.current !== 'proceeding') return;
    this.emit('failed', err);
    this.terminate();
  }

  private transition(to: ClientNonInviteState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`client non-INVITE transaction ${this.id}: illegal ${this.current} → ${to}`);
    this.current = to;
    if (to === 'terminated') {
      this.timers.stopAll();
      this.emit('terminated');
    }
  }
}
