import type { ControlPlaneMetrics } from '../../metrics/metrics';
import { defineRoute, type Route } from '../route';

/** `GET /metrics`: Prometheus exposition; a Kamailio outage shows as `kamailio_up 0`, never as a failed scrape. */
export function metricsRoutes(metrics: ControlPlaneMetrics): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      summary: 'Prometheus metrics',
      description:
        'Process metrics, HTTP request durations, Kamailio event counters (evapi) and Kamailio gauges read from `stats.fetch` at scrape time.',
      tag: 'monitoring',
      access: 'public',
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      async handle() {
        return { status: 200, text: await metrics.render(), contentType: metrics.contentType };
      },
    }),
  ];
}
