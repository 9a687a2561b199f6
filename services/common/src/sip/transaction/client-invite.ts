import { EventEmitter } from 'node:events';
import { SipError } from '../errors';
import { SipHeaders } from '../message/headers';
import type { SipRequest, SipResponse } from '../message/message';
import { isReliable, type MessageSource, type SipTransport, type TransportTarget } from '../transport/transport';
import { TimerSet, type TimerValues } from './timers';

/** Timer D for unreliable transports: "at least 32 seconds" (RFC 3261 §17.1.1.2, Table 4). */
export const TIMER_D_UNRELIABLE_MS = 32_000;

/**
 * Client INVITE transaction (RFC 3261 §17.1.1, with the Accepted state of RFC 6026 §7.2),
 * for the INVITEs and re-INVITEs we send:
 *
 * ```
 *        send INVITE; Timer B (64·T1); Timer A (T1, unreliable only)
 *                  │
 *               calling ── Timer A: resend, A = 2A
 *                  │ 1xx                     Timer B / transport error
 *             proceeding ─────────────────────────────► terminated ('failed')
 *         2xx │       │ 300-699 (also straight from calling): ACK sent here (§17.1.1.3)
 *             ▼       ▼
 *       accepted     completed ── resend the ACK on each retransmitted final
 *   (every 2xx to     │ Timer D (32 s; 0 reliable)
 *    the TU: it ACKs) ▼
 *   Timer M (64·T1) ─► terminated
 * ```
 *
 * Timer B runs in calling only (§17.1.1.2): once a provisional came, the TU decides
 * how long to ring (and CANCELs, §9.1).
 */
export type ClientInviteState = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

const EDGES: Readonly<Record<ClientInviteState, readonly ClientInviteState[]>> = {
  calling: ['proceeding', 'accepted', 'completed', 'terminated'],
  proceeding: ['accepted', 'completed', 'terminated'],
  accepted: ['terminated'],
  completed: ['terminated'],
  terminated: [],
};

type Events = { response: [SipResponse, MessageSource]; failed: [SipError]; terminated: [] };

export class ClientInviteTransaction extends EventEmitter<Events> {
  readonly kind = 'client-invite' as const;
  private current: ClientInviteState = 'calling';
  private readonly timers = new TimerSet<'A' | 'B' | 'D' | 'M'>();
  private readonly reliable: boolean;
  private intervalA: number;
  private ack: SipRequest | undefined;

  constructor(
    readonly id: string,
    readonly request: SipRequest,
    readonly target: TransportTarget,
    private readonly transport: SipTransport,
    private readonly t: TimerValues,
  ) {
    super();
    this.reliable = isReliable(target.protocol);
    this.intervalA = t.t1;
  }

  /** Sends the INVITE and starts the timers; separate from construction so listeners attach first. */
  start(): void {
    if (this.current !== 'calling') return;
    this.send(this.request);
    this.timers.start('B', 64 * this.t.t1, () =>
      this.fail(new SipError('ERR_SIP_TIMEOUT', 'no response to INVITE (Timer B)')),
    );
    if (!this.reliable) this.timers.start('A', this.intervalA, () => this.fireA());
  }

  get state(): ClientInviteState {
    return this.current;
  }

  receive(res: SipResponse, source: MessageSource): void {
    switch (this.current) {
      case 'calling':
      case 'proceeding':
        if (res.status < 200) {
          this.timers.stop('A');
          this.timers.stop('B');
          if (this.current === 'calling') this.transition('proceeding');
        } else if (res.status < 300) {
          this.timers.stopAll();
          this.transition('accepted');
          // RFC 6026 §7.2: stay to pass 2xx retransmissions (and forked 2xx) to the TU.
          this.timers.start('M', 64 * this.t.t1, () => this.transition('terminated'));
        } else {
          this.timers.stopAll();
          this.transition('completed');
          this.ack = ackFor(this.request, res);
          this.send(this.ack);
          if (this.reliable) {
            this.emitResponse(res, source);
            this.transition('terminated');
            return;
          }
          this.timers.start('D', TIMER_D_UNRELIABLE_MS, () => this.transition('terminated'));
        }
        this.emitResponse(res, source);
        return;
      case 'accepted':
        // RFC 6026 §8.4: 2xx (retransmitted, or from another fork) go to the TU; anything else is dropped.
        if (res.status >= 200 && res.status < 300) this.emitResponse(res, source);
        return;
      case 'completed':
        // §17.1.1.2: a retransmitted final response is answered with the same ACK, not passed up.
        if (res.status >= 300 && this.ack) this.send(this.ack);
        return;
      case 'terminated':
        return;
    }
  }

  terminate(): void {
    if (this.current !== 'terminated') this.transition('terminated');
  }

  private fireA(): void {
    if (this.current !== 'calling') return;
    this.send(this.request);
    this.intervalA *= 2;
    this.timers.start('A', this.intervalA, () => this.fireA());
  }

  private send(req: SipRequest): void {
    this.transport.send(req, this.target, (err) => this.fail(err));
  }

  private emitResponse(res: SipResponse, source: MessageSource): void {
    this.emit('response', res, source);
  }

  /** §17.1.1.2: Timer B or a transport error in calling/proceeding informs the TU and ends the transaction. */
  private fail(err: SipError): void {
    if (this.current !== 'calling' && this.current !== 'proceeding') return;
    this.emit('failed', err);
    this.terminate();
  }

  private transition(to: ClientInviteState): void {
    if (!EDGES[this.current].includes(to))
      throw new TypeError(`client INVITE transaction ${this.id}: illegal ${this.current} → ${to}`);
    this.current = to;
    if (to === 'terminated') {
      this.timers.stopAll();
      this.emit('terminated');
    }
  }
}

/**
 * The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID, From, CSeq
 * number and Route of the INVITE, its top Via only (same branch), To from the response.
 */
export function ackFor(invite: SipRequest, res: SipResponse): SipRequest {
  const headers = new SipHeaders();
  const via = invite.headers.getAll('Via')[0];
  if (via !== undefined) headers.append('Via', via);
  headers.append('Max-Forwards', '70');
  headers.append('From', invite.headers.get('From') ?? '');
  headers.append('To', res.headers.get('To') ?? invite.headers.get('To') ?? '');
  headers.append('Call-ID', invite.headers.get('Call-ID') ?? '');
  const seq = (invite.headers.get('CSeq') ?? '').trim().split(/\s+/)[0] ?? '';
  headers.append('CSeq', `${seq} ACK`);
  for (const route of invite.headers.getAll('Route')) headers.append('Route', route);
  return { type: 'request', method: 'ACK', uri: invite.uri, headers, body: Buffer.alloc(0) };
}
