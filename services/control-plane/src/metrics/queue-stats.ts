import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../../common/src/logger';
import { deadline } from '../health/deadline';
import { DEFAULT_STATS_WINDOW_MS, type QueueStats } from '../queues/service';

/** The part of the queue service the exporter reads. */
export interface QueueStatsReader {
  statsOf(since: Date): Promise<QueueStats[]>;
}

/**
 * Per-queue gauges computed from PostgreSQL at scrape time, so every control-plane
 * replica reports the same figures and they survive restarts: callers waiting and the
 * longest wait now, answered and abandoned callers and the service level over the
 * last 24 hours. (The gateways export their own live counters beside these.) A
 * database that does not answer within the deadline: the gauges are absent from that
 * scrape, `queue_stats_scrape_errors_total` + 1 and a log line.
 */
export class QueueStatsExporter {
  private readonly waiting: Gauge<'queue'>;
  private readonly longestWait: Gauge<'queue'>;
  private readonly answered: Gauge<'queue'>;
  private readonly abandoned: Gauge<'queue'>;
  private readonly serviceLevel: Gauge<'queue'>;
  private readonly errors: Counter;

  constructor(
    private readonly reader: QueueStatsReader,
    registry: Registry,
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly timeoutMs: number,
  ) {
    const registers = [registry];
    const gauge = (name: string, help: string): Gauge<'queue'> =>
      new Gauge({ name, help, labelNames: ['queue'], registers });
    this.waiting = gauge(
      'queue_stats_waiting_callers',
      'Callers waiting in the queue now (PostgreSQL, at scrape time).',
    );
    this.longestWait = gauge(
      'queue_stats_longest_wait_seconds',
      'How long the caller waiting longest in the queue has waited (0: nobody waits).',
    );
    this.answered = gauge('queue_stats_answered_24h', 'Callers an agent answered in the last 24 hours.');
    this.abandoned = gauge('queue_stats_abandoned_24h', 'Callers who hung up while waiting, in the last 24 hours.');
    this.serviceLevel = gauge(
      'queue_stats_service_level_24h',
      "Answered within the queue's service_level_seconds ÷ (answered + abandoned), last 24 hours; absent when both are 0.",
    );
    this.errors = new Counter({
      name: 'queue_stats_scrape_errors_total',
      help: 'Scrapes where the queue statistics query did not answer within the deadline.',
      registers,
    });
  }

  private reset(): void {
    for (const g of [this.waiting, this.longestWait, this.answered, this.abandoned, this.serviceLevel]) g.reset();
  }

  /** Reads PostgreSQL once; never throws. */
  async refresh(): Promise<void> {
    let stats: QueueStats[];
    try {
      stats = await deadline(
        this.reader.statsOf(new Date(Date.now() - DEFAULT_STATS_WINDOW_MS)),
        this.timeoutMs,
        'queue statistics',
      );
    } catch (err) {
      this.logger.warn('queue statistics unavailable for this scrape', { reason: (err as Error).message });
      this.errors.inc();
      this.reset();
      return;
    }
    // Reset first: a deleted queue must not linger at its last value.
    this.reset();
    for (const s of stats) {
      const labels = { queue: s.queue };
      this.waiting.set(labels, s.waiting);
      this.longestWait.set(labels, s.longest_wait_seconds);
      this.answered.set(labels, s.answered);
      this.abandoned.set(labels, s.abandoned);
      if (s.service_level !== null) this.serviceLevel.set(labels, s.service_level);
    }
  }
}
