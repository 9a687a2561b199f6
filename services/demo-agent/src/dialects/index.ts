import type { IncomingHttpHeaders } from 'node:http';
import { AUTH_HEADERS } from '../../../common/src/ai-protocol/auth';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import { OlibAgentDialect } from './olib';
import { TwilioAgentDialect } from './twilio';
import type { AgentDialect } from './types';

export type { AgentDialect, Credentials, GatewayEvent, WireFrame } from './types';

/**
 * The dialect a connection speaks, from its URL path: /olib, /twilio or /binary.
 * A bare `/` (a gateway pointed at the agent's base URL) is worked out from the
 * request: Twilio credentials in the headers mean twilio, otherwise olib or binary as
 * the auth frame says.
 */
export function dialectForPath(pathname: string): Dialect | 'auto' | null {
  switch (pathname.replace(/\/+$/, '')) {
    case '':
      return 'auto';
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

export function createAgentDialect(name: Dialect | 'auto', headers: IncomingHttpHeaders = {}): AgentDialect {
  switch (name) {
    case 'auto':
      return headers[AUTH_HEADERS.signature] !== undefined ? new TwilioAgentDialect() : new OlibAgentDialect('auto');
    case 'olib':
      return new OlibAgentDialect(false);
    case 'binary':
      return new OlibAgentDialect(true);
    case 'twilio':
      return new TwilioAgentDialect();
  }
}
