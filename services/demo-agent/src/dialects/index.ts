import type { DialectName } from '../../../media-gateway/src/ai-stream/dialects';
import { OlibAgentDialect } from './olib';
import { TwilioAgentDialect } from './twilio';
import type { AgentDialect } from './types';

export type { AgentDialect, Credentials, GatewayEvent, WireFrame } from './types';

/** The dialect a connection speaks, from its URL path: /olib, /twilio or /binary. */
export function dialectForPath(pathname: string): DialectName | null {
  switch (pathname.replace(/\/+$/, '')) {
    case '/olib':
      return 'olib';
    case '/twilio':
      return 'twilio';
    case '/binary':
      return 'binary';
    default:
      return null;
  }
}

export function createAgentDialect(name: DialectName): AgentDialect {
  switch (name) {
    case 'olib':
      return new OlibAgentDialect(false);
    case 'binary':
      return new OlibAgentDialect(true);
    case 'twilio':
      return new TwilioAgentDialect();
  }
}
