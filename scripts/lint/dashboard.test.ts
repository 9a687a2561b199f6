import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import winston from 'winston';
import { loadConfig } from '../../services/common/src/config';
import { connectDatabase } from '../../services/common/src/db/connect';
import { GatewayMetrics } from '../../services/media-gateway/src/metrics';
import { KamailioControl } from '../../services/control-plane/src/kamailio/control';
import type { KamailioRpc } from '../../services/common/src/kamailio/rpc';
import { ControlPlaneMetrics, KAMAILIO_GAUGES } from '../../services/control-plane/src/metrics/metrics';
import { RelayDropCounter } from '../../services/control-plane/src/metrics/relay-drops';
import { RelayStatisticsExporter } from '../../services/control-plane/src/metrics/relay-stats';
import { SmsRuntime } from '../../services/control-plane/src/sms/runtime';
import type { SmsService } from '../../services/control-plane/src/sms/service';
import { REPO_ROOT } from '../stack/env';

/**
 * deploy/grafana/sip-ai-bridge.json queries only metrics the code registers: every
 * metric name in every panel's PromQL is one the control-plane's or the gateway's
 * registry holds, built here the way app.ts and main.ts build them (nothing is
 * started: no socket, no database query).
 */
const DASHBOARD = join(REPO_ROOT, 'deploy', 'grafana', 'sip-ai-bridge.json');

interface Panel {
  readonly title?: string;
  readonly targets?: ReadonlyArray<{ readonly expr: string }>;
  readonly panels?: readonly Panel[];
}

// PromQL words that look like names: functions, aggregations and their modifiers.
const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
]);

/** The metric names a PromQL expression reads (histogram series map to their metric). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const m of bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, word = '', call] = m;
    if (call || PROMQL_WORDS.has(word) || word.startsWith('$')) continue;
    if (m.index > 0 && bare[m.index - 1] === '$') continue;
    names.add(word.replace(/_(bucket|count|sum)$/, ''));
  }
  return [...names];
}

function panelsOf(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

async function registeredNames(): Promise<Set<string>> {
  const silent = winston.createLogger({ silent: true });
  const stats = (
    JSON.parse(
      readFileSync(join(REPO_ROOT, 'services/control-plane/src/kamailio/fixtures/stats-fetch.json'), 'utf8'),
    ) as { reply: { result: unknown } }
  ).reply.result;
  const rpc: KamailioRpc = { call: <T>() => Promise.resolve(stats as T) };
  const control = new KamailioControl(rpc, {
    maxFailures: 5,
    lockSeconds: 900,
    sourceBanSeconds: 3600,
    floodBanSeconds: 300,
  });
  const cp = new ControlPlaneMetrics(control, silent, 200);
  // A scrape registers the Kamailio gauges (absent until Kamailio answers).
  await cp.render();
  new RelayDropCounter(
    { capabilities: { list: false }, list: async () => [], query: () => Promise.reject(new Error('unused')) },
    cp.registry,
    silent,
    200,
  );
  new RelayStatisticsExporter({ statistics: () => Promise.reject(new Error('unused')) }, cp.registry, silent, 200);
  const config = loadConfig(
    {
      DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none',
      JWT_SECRET_KEY: 'x'.repeat(32),
      SIP_JWT_SECRET: 'y'.repeat(32),
      SIP_SHARED_SECRET: 'z'.repeat(32),
      PROXY_SHARED_SECRET: 'w'.repeat(32),
      SMS_WORKER: 'false',
    },
    REPO_ROOT,
  );
  // The pool connects on first query only; none is made.
  const db = connectDatabase(config.databaseUrl);
  try {
    const service = {} as SmsService; // used only by the worker, which SMS_WORKER=false leaves out
    new SmsRuntime({ config, db: db.db, rpc, service, registry: cp.registry, logger: silent });
    const gw = new GatewayMetrics({ active: 0, totals: () => ({ playoutMs: 0, jitterMs: 0, calls: 0 }) });
    const names = (r: Registry): string[] => r.getMetricsAsArray().map((m) => m.name);
    // Kamailio gauges whose statistic the captured reply lacks (script counters, pike) register on the first scrape that has it.
    return new Set([...names(cp.registry), ...names(gw.registry), ...KAMAILIO_GAUGES.map((g) => g.name)]);
  } finally {
    await db.close();
  }
}

describe('Grafana dashboard', () => {
  test('metricNames: names only, not functions, labels, label values or Grafana variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{route=~"a|b"}[$__rate_interval]))) / clamp_min(up, 1)',
      ).sort(),
    ).toEqual(['http_request_duration_seconds', 'up']);
  });

  test('every metric a panel queries is registered by the control-plane or the gateway', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const queried = new Map<string, string>();
    for (const panel of panelsOf(dashboard.panels)) {
      for (const t of panel.targets ?? []) for (const n of metricNames(t.expr)) queried.set(n, panel.title ?? '');
    }
    expect(queried.size).toBeGreaterThan(30);
    const registered = await registeredNames();
    const unknown = [...queried].filter(([name]) => !registered.has(name)).map(([n, title]) => `${n} (${title})`);
    expect(unknown).toEqual([]);
  });
});
