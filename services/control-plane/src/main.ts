import { ConfigError, loadConfig } from '../../common/src/config';
import { Gauge } from 'prom-client';
import { DONE_CHANNEL, PgNotifications } from '../../common/src/calls/commands';
import { connectDatabase } from '../../common/src/db/connect';
import { Leadership } from '../../common/src/db/leadership';
import { createLogger } from '../../common/src/logger';
import { createMediaRelay } from '../../common/src/media-relay';
import { runProcess } from '../../common/src/process/run';
import { createApp } from './app';
import { KamailioAttach } from './kamailio/attach';
import { EvapiClient } from './kamailio/evapi';
import { kamailioRpcFromConfig } from '../../common/src/kamailio/rpc';
import { SmsRuntime } from './sms/runtime';
import { KamailioReconciler, PgKamailioState } from './trunks/kamailio-reconciler';
import { WebhookDeliverer } from './webhooks/deliverer';

/** Lock key of the trunk sync leader (Leadership, LEADER_LOCK namespace). */
const TRUNK_SYNC_LEADER_KEY = 1;

/**
 * The control-plane process: reads the configuration, builds every client once and
 * hands each its slice. SIGTERM / SIGINT close everything in reverse order of
 * construction (runProcess); nothing is left holding the event loop.
 */
runProcess({
  name: 'control-plane',
  configure: () => loadConfig(process.env),
  configError: ConfigError,
  logger: (config) => createLogger('control-plane', config.logLevel),
  async start(config, logger, scope) {
    const database = connectDatabase(config.databaseUrl, {
      max: config.api.dbPoolSize,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      onIdleError: (err) => logger.warn('database connection lost; reconnecting on next use', { error: err.message }),
    });
    scope.defer(() => database.close());
    const kamailio = kamailioRpcFromConfig(config);
    scope.defer(() => kamailio.close());
    const relay = createMediaRelay(config.relay, logger.child({ component: 'media-relay' }));
    scope.defer(() => relay.close());
    const events = new EvapiClient({
      host: config.kamailio.evapiHost,
      port: config.kamailio.evapiPort,
      logger: logger.child({ component: 'evapi' }),
    });
    scope.defer(() => events.close());
    // Pods start in any order: until Kamailio answers, this process retries and /health says why.
    const kamailioAttach = new KamailioAttach({
      what: 'joining the SMS set',
      attempt: () => sms.joinSmsSet(),
      logger: logger.child({ component: 'kamailio' }),
    });
    // Wakes the API's call-command waiters when a gateway finishes a command.
    const commandSignal = new PgNotifications({
      connection: { connectionString: config.databaseUrl, connectionTimeoutMillis: config.databaseConnectTimeoutMs },
      channels: [DONE_CHANNEL],
      logger: logger.child({ component: 'call-commands' }),
    });
    scope.defer(() => commandSignal.close());
    await commandSignal.start();
    const app = createApp({
      config,
      logger,
      db: database.db,
      commandSignal,
      kamailio,
      relay,
      events,
      startup: () => kamailioAttach.status(),
    });
    const sms = new SmsRuntime({
      config,
      db: database.db,
      rpc: kamailio,
      events,
      service: app.sms,
      registry: app.metrics.registry,
      logger: logger.child({ component: 'sms' }),
    });
    scope.defer(() => sms.close());
    // No retry once stopping: closed before the SMS runtime leaves the set.
    scope.defer(() => kamailioAttach.close());
    // The API stops taking requests before the SMS runtime it hands messages to.
    scope.defer(() => app.close());
    // Call webhooks: every replica delivers from the outbox (closed before the database).
    const webhooks = new WebhookDeliverer(
      { databaseUrl: config.databaseUrl, ...config.webhooks },
      { db: database.db, registry: app.metrics.registry, logger: logger.child({ component: 'webhooks' }) },
    );
    scope.defer(() => webhooks.close());
    const leaderGauge = new Gauge({
      name: 'control_plane_leader',
      help: 'Whether this replica leads a job that runs on one replica at a time (1) or follows (0).',
      labelNames: ['job'],
      registers: [app.metrics.registry],
    });
    leaderGauge.set({ job: 'trunk_sync' }, 0);
    const trunkSync = new Leadership(
      {
        databaseUrl: config.databaseUrl,
        name: 'trunk_sync',
        key: TRUNK_SYNC_LEADER_KEY,
        logger: logger.child({ component: 'trunk-sync' }),
        onChange: (leader) => leaderGauge.set({ job: 'trunk_sync' }, leader ? 1 : 0),
      },
      new KamailioReconciler({
        state: new PgKamailioState(database.db),
        apply: (reloads) => app.kamailioSync.apply(reloads),
        intervalMs: config.api.kamailioSyncIntervalSeconds * 1000,
        logger: logger.child({ component: 'trunk-sync' }),
      }),
    );
    scope.defer(() => trunkSync.close());

    events.start();
    await sms.start();
    await webhooks.start();
    kamailioAttach.start();
    trunkSync.start();
    const url = await app.listen(config.api.port, config.api.host);
    logger.info(`control-plane listening on ${url}`);
  },
});
