import type { Kysely } from 'kysely';
import type { Config } from '../../../../common/src/config';
import type { Database } from '../../../../common/src/db/schema';
import { probeDatabase, probeKamailio, probeRelay, type RelayPing } from '../../health/probes';
import type { KamailioControl } from '../../kamailio/control';
import type { KamailioEventSource } from '../../kamailio/evapi';
import { defineRoute, type Route } from '../route';

const component = (extra: Record<string, object>) =>
  ({
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['ok', 'error'] },
      latency_ms: { type: ['number', 'null'] },
      error: { type: 'string' },
      ...extra,
    },
    required: ['status', 'latency_ms'],
  }) as const;

export const CONFIG_STATUS_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'], description: '"degraded" when any component did not answer.' },
    checked_at: { type: 'string', format: 'date-time' },
    components: {
      type: 'object',
      properties: {
        database: component({}),
        kamailio: component({
          version: { type: 'string' },
          uptime_seconds: { type: 'integer' },
          events_connected: { type: 'boolean', description: 'Whether the evapi event stream is connected.' },
        }),
        media_relay: component({
          kind: { type: 'string', enum: ['rtpengine', 'rtpproxy'] },
          version: { type: 'string' },
        }),
      },
      required: ['database', 'kamailio', 'media_relay'],
    },
    sip: {
      type: 'object',
      properties: { domain: { type: 'string' }, proxy: { type: 'string' }, port: { type: 'integer' } },
      required: ['domain', 'proxy', 'port'],
    },
  },
  required: ['status', 'checked_at', 'components', 'sip'],
} as const;

export interface ConfigStatusDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly kamailio: KamailioControl;
  readonly relay: RelayPing;
  readonly events: KamailioEventSource | undefined;
}

/** `GET /api/config/status`: is everything the SIP edge needs reachable, and how fast. */
export function configStatusRoutes(deps: ConfigStatusDeps): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/config/status',
      operationId: 'getConfigStatus',
      summary: 'Reachability and latency of PostgreSQL, Kamailio and the media relay',
      description: 'Always 200 when the API itself works; `status` says "degraded" when a component did not answer.',
      tag: 'monitoring',
      access: 'any-role',
      responses: { 200: { description: 'Component status', schema: CONFIG_STATUS_SCHEMA } },
      async handle() {
        const [database, kamailio, relay] = await Promise.all([
          probeDatabase(deps.db),
          probeKamailio(deps.kamailio),
          probeRelay(deps.relay),
        ]);
        const all = [database, kamailio, relay];
        return {
          status: 200,
          body: {
            status: all.every((c) => c.status === 'ok') ? 'ok' : 'degraded',
            checked_at: new Date().toISOString(),
            components: {
              database,
              kamailio: { ...kamailio, events_connected: deps.events?.connected ?? false },
              media_relay: { ...relay, kind: deps.config.relay.kind },
            },
            sip: { domain: deps.config.sip.domain, proxy: deps.config.sip.proxyAddress, port: deps.config.sip.port },
          },
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    }),
  ];
}
