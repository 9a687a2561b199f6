import { ConfigError, loadConfig, type Config } from '../../common/src/config';
import { connectDatabase } from '../../common/src/db/connect';
import { createLogger } from '../../common/src/logger';
import { createMediaRelay } from '../../common/src/media-relay';
import { createApp } from './app';
import { EvapiClient } from './kamailio/evapi';
import { kamailioRpcFromConfig } from '../../common/src/kamailio/rpc';
import { SmsRuntime } from './sms/runtime';

/**
 * The control-plane process: reads the configuration, builds every client once and
 * hands each its slice. SIGTERM / SIGINT close everything in reverse order of
 * construction; nothing is left holding the event loop.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`control-plane: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const logger = createLogger('control-plane', config.logLevel);
  const database = connectDatabase(config.databaseUrl, {
    onIdleError: (err) => logger.warn('database connection lost; reconnecting on next use', { error: err.message }),
  });
  const kamailio = kamailioRpcFromConfig(config);
  const relay = createMediaRelay(config.relay, logger.child({ component: 'media-relay' }));
  const events = new EvapiClient({
    host: '127.0.0.1',
    port: config.kamailio.evapiPort,
    logger: logger.child({ component: 'evapi' }),
  });
  const app = createApp({ config, logger, db: database.db, kamailio, relay, events });
  const sms = new SmsRuntime({
    config,
    db: database.db,
    rpc: kamailio,
    events,
    service: app.sms,
    registry: app.metrics.registry,
    logger: logger.child({ component: 'sms' }),
  });

  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('control-plane stopping', { reason });
      await app.close();
      await sms.close();
      events.close();
      await relay.close();
      await database.close();
      logger.info('control-plane stopped');
    })());
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stop(signal).catch((err: unknown) => {
        logger.error('shutdown failed', { message: (err as Error).message });
        process.exitCode = 1;
      });
    });
  }

  try {
    events.start();
    await sms.start();
    const url = await app.listen(config.api.port, config.api.host);
    logger.info(`control-plane listening on ${url}`);
  } catch (err) {
    logger.error('control-plane failed to start', { message: (err as Error).message });
    process.exitCode = 1;
    await stop('start-up failed');
  }
}

main().catch((err: unknown) => {
  // A programmer error during construction (e.g. an invalid API_ALLOWED_CIDRS entry).
  process.stderr.write(`control-plane: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
