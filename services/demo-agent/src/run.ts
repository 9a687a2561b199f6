import { findEspeak, renderPrompts } from './audio/prompts';
import type { DemoAgentConfig } from './config';
import { DemoAgentServer } from './server';
import type { SessionLogger } from './session';

export interface RunningDemoAgent {
  readonly url: string;
  readonly server: DemoAgentServer;
  close(): Promise<void>;
}

/**
 * Builds and starts the demo agent from a validated config: renders the prompts
 * (espeak-ng if it is on PATH, else tones), listens, logs where.
 */
export async function runDemoAgent(
  config: DemoAgentConfig,
  logger: SessionLogger,
  espeak: string | null = findEspeak(),
): Promise<RunningDemoAgent> {
  const prompts = await renderPrompts(espeak);
  const server = new DemoAgentServer({ secrets: config.secrets, defaultMode: config.mode, prompts, logger });
  const url = await server.listen(config.port, config.host);
  logger.info(`demo-agent listening on ${url}`, {
    mode: config.mode,
    voice: prompts.voice,
    paths: ['/olib', '/twilio', '/binary', '/ (any)'],
    sms: ['WebSocket sms session on /olib, /binary, /', 'POST /sms'],
  });
  return { url, server, close: () => server.close() };
}
