import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { RelayStatistics } from '../../../common/src/media-relay/relay';
import { parseStatisticsReply } from '../../../common/src/media-relay/rtpengine/client';
import { decodeNgDict } from '../../../common/src/media-relay/rtpengine/ng';
import { numericLeaves, RelayStatisticsExporter, type RelayStatisticsReader } from './relay-stats';

// A real rtpengine 10.5 `statistics` reply (tests/media-relay/fixtures).
const captured = parseStatisticsReply(
  decodeNgDict(
    readFileSync(join(__dirname, '../../../../tests/media-relay/fixtures/rtpengine-10.5-statistics-reply.bencode')),
  ),
);

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function exporter(relay: RelayStatisticsReader, timeoutMs = 200) {
  const registry = new Registry();
  const warn = jest.fn();
  return { registry, warn, exporter: new RelayStatisticsExporter(relay, registry, { warn }, timeoutMs) };
}

describe('media relay statistics exporter', () => {
  test("rtpengine's statistics reply → one media_relay_statistic series per numeric value", async () => {
    const { registry, exporter: e } = exporter({ statistics: () => Promise.resolve(captured) });
    await e.refresh();
    const text = await registry.metrics();
    expect(value(text, 'media_relay_up')).toBe(1);
    expect(value(text, 'media_relay_statistic{section="currentstatistics",name="sessionstotal"}')).toBe(1);
    expect(value(text, 'media_relay_statistic{section="totalstatistics",name="relayedpackets"}')).toBe(8);
    expect(value(text, 'media_relay_statistic{section="totalstatistics",name="relayedbytes"}')).toBe(1376);
    expect(text.split('\n').filter((l) => l.startsWith('media_relay_statistic{'))).toHaveLength(
      numericLeaves(captured.raw).length,
    );
    expect(value(text, 'media_relay_scrape_errors_total')).toBe(0);
  });

  test('relay silent past the deadline → up 0, statistics absent, error counted and logged, refresh resolves', async () => {
    const hanging: RelayStatisticsReader = { statistics: () => new Promise<RelayStatistics>(() => undefined) };
    const { registry, warn, exporter: e } = exporter(hanging, 50);
    await e.refresh();
    const text = await registry.metrics();
    expect(value(text, 'media_relay_up')).toBe(0);
    expect(text.split('\n').filter((l) => l.startsWith('media_relay_statistic{'))).toEqual([]);
    expect(value(text, 'media_relay_scrape_errors_total')).toBe(1);
    expect(warn).toHaveBeenCalledWith('media relay statistics unavailable for this scrape', expect.any(Object));
  });

  test('numericLeaves: numbers and numeric strings inside sections; lists and nested dictionaries left out', () => {
    expect(
      numericLeaves({
        a: { n: 1, s: '0.5', text: 'x', empty: '', list: [1], nested: { k: 2 } },
        b: [{ x: 1 }],
        c: 3,
      }),
    ).toEqual([
      ['a', 'n', 1],
      ['a', 's', 0.5],
    ]);
  });
});
