import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../../common/src/logger';
import type { RelayStatistics } from '../../../common/src/media-relay/relay';
import { deadline } from '../health/deadline';

/** The part of the media relay client (services/common/src/media-relay) the exporter reads. */
export interface RelayStatisticsReader {
  statistics(): Promise<RelayStatistics>;
}

/**
 * The media relay's own statistics beside ours: rtpengine's NG `statistics` reply
 * (sections currentstatistics, totalstatistics, intervalstatistics, ... as
 * `list jsonstats` prints them) flattened into `media_relay_statistic{section,name}`,
 * one series per numeric value, read at scrape time within `timeoutMs`. A relay that
 * does not answer in time: `media_relay_up` 0, its statistics absent from that
 * scrape, `media_relay_scrape_errors_total` + 1 and a log line; the scrape still answers.
 */
export class RelayStatisticsExporter {
  private readonly statistic: Gauge<'section' | 'name'>;
  private readonly up: Gauge;
  private readonly errors: Counter;
  private readonly seconds: Gauge;

  constructor(
    private readonly relay: RelayStatisticsReader,
    registry: Registry,
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly timeoutMs: number,
  ) {
    const registers = [registry];
    this.statistic = new Gauge({
      name: 'media_relay_statistic',
      help: "The media relay's own statistics (rtpengine NG `statistics`: section and name as rtpengine reports them), read at scrape time; totals restart with the relay.",
      labelNames: ['section', 'name'],
      registers,
    });
    this.up = new Gauge({
      name: 'media_relay_up',
      help: '1 if the media relay answered `statistics` during this scrape.',
      registers,
    });
    this.errors = new Counter({
      name: 'media_relay_scrape_errors_total',
      help: 'Scrapes where the media relay did not answer `statistics` within the deadline.',
      registers,
    });
    this.seconds = new Gauge({
      name: 'media_relay_scrape_duration_seconds',
      help: 'How long the media relay took to answer `statistics` during the last scrape.',
      registers,
    });
  }

  /** Reads the relay once; never throws. */
  async refresh(): Promise<void> {
    const started = performance.now();
    let stats: RelayStatistics;
    try {
      stats = await deadline(this.relay.statistics(), this.timeoutMs, 'media relay statistics');
    } catch (err) {
      this.logger.warn('media relay statistics unavailable for this scrape', { reason: (err as Error).message });
      this.errors.inc();
      this.up.set(0);
      this.statistic.reset();
      return;
    }
    this.seconds.set((performance.now() - started) / 1000);
    this.up.set(1);
    this.statistic.reset();
    for (const [section, name, value] of numericLeaves(stats.raw)) this.statistic.set({ section, name }, value);
  }
}

/**
 * `[section, name, value]` for every number (or numeric string: rtpengine sends
 * averages as "0.000000") one level inside each section dictionary. Lists (per
 * control-socket figures) and deeper dictionaries are left out: their keys are
 * addresses and would make series without bound.
 */
export function numericLeaves(raw: Readonly<Record<string, unknown>>): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  for (const [section, content] of Object.entries(raw)) {
    if (content === null || typeof content !== 'object' || Array.isArray(content)) continue;
    for (const [name, value] of Object.entries(content as Record<string, unknown>)) {
      const n =
        typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (Number.isFinite(n)) out.push([section, name, n]);
    }
  }
  return out;
}
