import { createLogger } from '../../common/src/logger';
import { DemoAgentConfigError, loadDemoAgentConfig, type DemoAgentConfig } from './config';
import { runDemoAgent } from './run';

/**
 * The demo agent process: the reference AI platform and the default target when
 * AI_PLATFORM_WS_URL is unset. SIGTERM / SIGINT close every session and the listener.
 */
async function main(): Promise<void> {
  let config: DemoAgentConfig;
  try {
    config = loadDemoAgentConfig(process.env);
  } catch (err) {
    if (!(err instanceof DemoAgentConfigError)) throw err;
    process.stderr.write(`demo-agent: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const logger = createLogger('demo-agent', config.logLevel);
  const agent = await runDemoAgent(config, logger);
  let stopping: Promise<void> | undefined;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping ??= agent.close().then(() => {
        logger.info('demo-agent stopped', { signal });
      });
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
