import { Writable } from 'node:stream';
import winston from 'winston';
import { loadConfig, type Config } from '../../services/common/src/config';
import { connectDatabase } from '../../services/common/src/db/connect';
import { createMediaRelay } from '../../services/common/src/media-relay';
import { createApp, type App } from '../../services/control-plane/src/app';
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { REPO_ROOT } from '../../scripts/stack/env';
import { stackView, testStack, type TestStack } from '../support/stack';

/** Keeps every log line in memory, as the JSON the real process would print. */
function memoryTransport(lines: string[]): winston.transport {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return new winston.transports.Stream({ stream });
}

export interface InProcessApp {
  readonly url: string;
  readonly app: App;
  readonly config: Config;
  /** A view of the test stack with this app's URL and config (for tests/support/api.ts). */
  readonly stack: TestStack;
  /** Everything the app logged so far. */
  readonly logs: () => string;
  close(): Promise<void>;
}

/**
 * A second control-plane built in this test process with `createApp` over the test
 * stack's PostgreSQL, Kamailio and relay, with environment overrides (tiny rate
 * limits, an allowlist, a Kamailio RPC port nobody listens on...). It listens on an
 * ephemeral port.
 */
export async function startInProcessApp(
  overrides: Record<string, string> = {},
  host = '127.0.0.1',
): Promise<InProcessApp> {
  const env = { ...testStack().env, ...overrides, API_HOST: host, API_PORT: '1' };
  const config = loadConfig(env, REPO_ROOT);
  const lines: string[] = [];
  // No redaction format here (unlike createLogger): the app itself must not log secrets.
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    defaultMeta: { service: 'control-plane-in-process' },
    transports: [memoryTransport(lines)],
  });
  const database = connectDatabase(config.databaseUrl, { max: 2 });
  const relay = createMediaRelay(config.relay);
  const kamailio = kamailioRpcFromConfig(config, { timeoutMs: 1000 });
  const app = createApp({ config, logger, db: database.db, kamailio, relay });
  const url = await app.listen(0, host);
  const port = new URL(url).port;
  return {
    url,
    app,
    config,
    stack: { ...stackView({ ...env, API_PORT: port }), apiUrl: url },
    logs: () => lines.join(''),
    async close() {
      await app.close();
      await relay.close();
      await database.close();
    },
  };
}
