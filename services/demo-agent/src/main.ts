import { createLogger } from '../../common/src/logger';
import { runProcess } from '../../common/src/process/run';
import { findEspeak, renderPrompts } from './audio/prompts';
import { DemoAgentConfigError, loadDemoAgentConfig } from './config';
import { DemoAgentServer } from './server';

/**
 * The demo agent process: the reference AI platform and the default target when
 * AI_PLATFORM_WS_URL is unset. Renders the prompts (espeak-ng if it is on PATH, else
 * tones), listens, logs where. SIGTERM / SIGINT close every session and the listener.
 */
runProcess({
  name: 'demo-agent',
  configure: () => loadDemoAgentConfig(process.env),
  configError: DemoAgentConfigError,
  logger: (config) => createLogger('demo-agent', config.logLevel),
  async start(config, logger, scope) {
    const prompts = await renderPrompts(findEspeak());
    const server = new DemoAgentServer({ secrets: config.secrets, defaultMode: config.mode, prompts, logger });
    scope.defer(() => server.close());
    const url = await server.listen(config.port, config.host);
    logger.info(`demo-agent listening on ${url}`, {
      mode: config.mode,
      voice: prompts.voice,
      paths: ['/olib', '/twilio', '/binary', '/ (any)'],
      sms: ['WebSocket sms session on /olib, /binary, /', 'POST /sms'],
    });
  },
});
