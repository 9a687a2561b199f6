import { Registry } from 'prom-client';
import type { QueueStats } from '../queues/service';
import { QueueStatsExporter } from './queue-stats';

const stats = (queue: string, fields: Partial<QueueStats> = {}): QueueStats => ({
  queue,
  since: new Date(0).toISOString(),
  waiting: 0,
  longest_wait_seconds: 0,
  offered: 0,
  answered: 0,
  answered_within_service_level: 0,
  abandoned: 0,
  overflowed: 0,
  service_level: null,
  service_level_seconds: 20,
  avg_wait_seconds: null,
  ...fields,
});

describe('QueueStatsExporter', () => {
  test('each queue → its gauges; a service level of null → no series; a deleted queue → gone at the next scrape', async () => {
    const registry = new Registry();
    let rows = [
      stats('sales', { waiting: 3, longest_wait_seconds: 42, answered: 10, abandoned: 2, service_level: 0.75 }),
      stats('idle'),
    ];
    const exporter = new QueueStatsExporter({ statsOf: async () => rows }, registry, { warn: () => undefined }, 1000);
    await exporter.refresh();
    const text = await registry.metrics();
    expect(text).toContain('queue_stats_waiting_callers{queue="sales"} 3');
    expect(text).toContain('queue_stats_longest_wait_seconds{queue="sales"} 42');
    expect(text).toContain('queue_stats_answered_24h{queue="sales"} 10');
    expect(text).toContain('queue_stats_abandoned_24h{queue="sales"} 2');
    expect(text).toContain('queue_stats_service_level_24h{queue="sales"} 0.75');
    expect(text).toContain('queue_stats_waiting_callers{queue="idle"} 0');
    expect(text).not.toContain('queue_stats_service_level_24h{queue="idle"}');
    rows = [stats('idle')];
    await exporter.refresh();
    expect(await registry.metrics()).not.toContain('queue="sales"');
  });

  test('a database that does not answer in time → gauges absent, the error counted and logged', async () => {
    const registry = new Registry();
    const warnings: string[] = [];
    let answer = true;
    const exporter = new QueueStatsExporter(
      {
        statsOf: () =>
          answer ? Promise.resolve([stats('sales', { waiting: 1 })]) : new Promise<never>(() => undefined),
      },
      registry,
      { warn: (m: string) => void warnings.push(m) },
      20,
    );
    await exporter.refresh();
    answer = false;
    await exporter.refresh();
    const text = await registry.metrics();
    expect(text).not.toContain('queue_stats_waiting_callers{queue="sales"}');
    expect(text).toContain('queue_stats_scrape_errors_total 1');
    expect(warnings).toEqual(['queue statistics unavailable for this scrape']);
  });
});
