import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { ClientConfig } from 'pg';
import { PgNotifications } from '../../../common/src/calls/commands';
import type { Database } from '../../../common/src/db/schema';
import { QUEUE_CHANNEL } from '../../../common/src/queues/events';
import type { MusicSource } from '../calls/media-leg';
import type { CallRoutes } from '../calls/routes';
import type { Speak } from './announce';
import { QueueMetrics } from './metrics';
import { PgSeats, SeatedAi, type AiTargetResolver } from './seats';
import { QueueService, type QueueServiceOptions } from './service';
import { PgQueueStore } from './store';
import type { QueueActions } from './waiting';

export { QueueService } from './service';
export { SeatedAi, PgSeats } from './seats';

export interface QueuesOptions {
  readonly gateway: string;
  readonly db: Kysely<Database>;
  /** The dedicated LISTEN connection's settings (not a pooled one: it holds LISTEN for the process's life). */
  readonly connection: ClientConfig;
  readonly targets: AiTargetResolver;
  readonly music: (name: string | null, codec: 'PCMU' | 'PCMA') => Promise<MusicSource>;
  readonly speak?: Speak;
  readonly registry: Registry;
  readonly pollMs?: number;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

/** What main.ts wires: the CallManager's routes, the IVR's AI connector and queue door, and the stop. */
export interface Queues {
  readonly service: QueueService;
  readonly ai: SeatedAi;
  readonly routes: Required<Pick<CallRoutes, 'queue' | 'admitAi'>>;
  /** The executor of overflow and leave actions (the IVR's Actions, which needs `service` and `ai` first). */
  setActions(actions: QueueActions): void;
  stop(): Promise<void>;
}

/**
 * Builds the queues of one gateway: store, seats, the seated AI connector, the
 * service with its safety poll, and the LISTEN connection on queue_events (its own
 * pg client, reconnecting with backoff; after a reconnect the service looks again).
 */
export async function startQueues(o: QueuesOptions): Promise<Queues> {
  const store = new PgQueueStore(o.db);
  const seats = new PgSeats(o.db, o.gateway);
  let service: QueueService | null = null;
  const metrics = new QueueMetrics(o.registry, {
    waiting: () => service?.waiting() ?? new Map<string, { count: number; oldestMs: number }>(),
  });
  const options: QueueServiceOptions = {
    gateway: o.gateway,
    store,
    seats,
    targets: o.targets,
    actions: null,
    music: o.music,
    ...(o.speak ? { speak: o.speak } : {}),
    metrics,
    ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
    logger: o.logger,
  };
  service = new QueueService(options);
  const built = service;
  const ai = new SeatedAi({ seats, targets: o.targets, queues: built, metrics, logger: o.logger });
  const notices = new PgNotifications({
    connection: o.connection,
    channels: [QUEUE_CHANNEL],
    applicationName: `queues ${o.gateway}`.slice(0, 63),
    logger: o.logger,
    onConnected: () => built.resync(),
  });
  await notices.start();
  await built.start(notices);
  return {
    service: built,
    ai,
    routes: {
      queue: (call, queue, opts) => built.route(call, queue, opts),
      admitAi: (digits, parties) => ai.admitAi(digits, parties),
    },
    setActions(actions) {
      options.actions = actions;
    },
    async stop() {
      built.close();
      await notices.close();
    },
  };
}
