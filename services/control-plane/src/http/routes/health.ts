import type { Kysely } from 'kysely';
import type { Database } from '../../../../common/src/db/schema';
import { loginOnce, probeDatabase } from '../../health/probes';
import type { KamailioAttachStatus } from '../../kamailio/attach';
import { defineRoute, type Route } from '../route';

const PROBE = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'error'] },
    latency_ms: { type: ['number', 'null'] },
    error: { type: 'string' },
  },
  required: ['status', 'latency_ms'],
} as const;

export const HEALTH_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'error'] },
    uptime_seconds: { type: 'number' },
    database: PROBE,
    kamailio: {
      type: 'object',
      description:
        'Start-up work that needs Kamailio (joining the SMS set): "error" with the reason until Kamailio has answered once, then "ok" for good.',
      properties: { status: { type: 'string', enum: ['ok', 'error'] }, error: { type: 'string' } },
      required: ['status'],
    },
  },
  required: ['status', 'uptime_seconds', 'database'],
} as const;

/** `GET /health`: the process answers and the database does too (liveness/readiness). */
export function healthRoutes(deps: {
  readonly db: Kysely<Database>;
  readonly databaseUrl?: string;
  readonly startedAt: number;
  readonly kamailio?: () => KamailioAttachStatus;
}): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/health',
      operationId: 'getHealth',
      summary: 'Process and database health',
      description:
        'No token needed, for load balancers and Kubernetes probes. 503 when the database does not answer or no longer lets this process log in, and at start-up until Kamailio has answered (the process retries meanwhile).',
      tag: 'monitoring',
      access: 'public',
      responses: {
        200: { description: 'Healthy', schema: HEALTH_SCHEMA },
        503: { description: 'The database did not answer, or Kamailio not yet', schema: HEALTH_SCHEMA },
      },
      async handle() {
        const url = deps.databaseUrl;
        const database = await probeDatabase(deps.db, undefined, url === undefined ? undefined : () => loginOnce(url));
        const kamailio = deps.kamailio?.();
        const ok = database.status === 'ok' && (kamailio === undefined || kamailio.status === 'ok');
        return {
          status: ok ? 200 : 503,
          body: {
            status: ok ? 'ok' : 'error',
            uptime_seconds: Math.round((Date.now() - deps.startedAt) / 100) / 10,
            database,
            ...(kamailio ? { kamailio } : {}),
          },
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    }),
  ];
}
