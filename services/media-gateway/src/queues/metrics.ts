import { Counter, Gauge, type Registry } from 'prom-client';
import type { SeatMetrics } from './seats';

/** What the gauges read at scrape time: this gateway's waiting callers. */
export interface WaitingNow {
  /** Per queue: how many wait on this gateway and since when the longest has (ms epoch). */
  waiting(): ReadonlyMap<string, { count: number; oldestMs: number }>;
}

/**
 * The queues' figures of one gateway, on its /metrics: callers waiting here, the
 * longest wait, how queue visits ended, and callers refused a seat. The
 * control-plane's /metrics has the queue-wide view (from PostgreSQL).
 */
export class QueueMetrics implements SeatMetrics {
  private readonly outcomes: Counter<'queue' | 'outcome'>;
  private readonly refusals: Counter<'scope' | 'outcome'>;
  private readonly dispatches: Counter<'result'>;

  constructor(registry: Registry, live: WaitingNow) {
    const registers = [registry];
    new Gauge({
      name: 'gateway_queue_waiting',
      help: 'Callers waiting in each queue on this gateway (music on hold).',
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const [queue, w] of live.waiting()) this.set({ queue }, w.count);
      },
    });
    new Gauge({
      name: 'gateway_queue_longest_wait_seconds',
      help: 'How long the longest-waiting caller of each queue on this gateway has waited.',
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const [queue, w] of live.waiting()) this.set({ queue }, Math.max(0, (now - w.oldestMs) / 1000));
      },
    });
    this.outcomes = new Counter({
      name: 'gateway_queue_calls_total',
      help: 'Queue visits of callers on this gateway, by how they ended: answered (an agent took the caller), abandoned (hung up waiting), overflow (max wait or max length), left (the leave digit), lost.',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    this.refusals = new Counter({
      name: 'gateway_seat_refusals_total',
      help: 'Calls over a concurrency limit, by scope (number, ai_route) and what happened to them: queued or busy.',
      labelNames: ['scope', 'outcome'],
      registers,
    });
    for (const scope of ['number', 'ai_route'])
      for (const outcome of ['queued', 'busy']) this.refusals.inc({ scope, outcome }, 0);
    this.dispatches = new Counter({
      name: 'gateway_queue_dispatch_total',
      help: 'Queue dispatches this gateway ran: offers (one per offer made), empty (nothing to offer), failed (a database error; retried by the next kick or poll).',
      labelNames: ['result'],
      registers,
    });
  }

  outcome(queue: string, outcome: string): void {
    this.outcomes.inc({ queue, outcome });
  }

  seatRefused(scope: 'number' | 'ai_route', outcome: 'queued' | 'busy'): void {
    this.refusals.inc({ scope, outcome });
  }

  dispatched(result: 'offers' | 'empty' | 'failed', count = 1): void {
    this.dispatches.inc({ result }, count);
  }
}
