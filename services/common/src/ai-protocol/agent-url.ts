import { urlProblem } from '../webhooks/destination';

/** ai_routes.agent_url is VARCHAR(1024). */
export const MAX_AGENT_URL_LENGTH = 1024;

/**
 * Why an AI agent URL stored through the API cannot be used, or null when it can: a
 * ws:// or wss:// URL of at most 1024 characters, without user name or password
 * (credentials never travel in a URL: docs/ai-protocol.md), and, unless private
 * addresses are allowed, not naming a loopback, private or link-local address
 * literally, nor `localhost` — the same server-side request forgery guard as a
 * webhook_url's (../webhooks/destination.ts), since a gateway opens this URL.
 */
export function agentUrlProblem(url: string, options: { readonly allowPrivate: boolean }): string | null {
  return urlProblem(url, { ...options, maxLength: MAX_AGENT_URL_LENGTH, schemes: ['ws', 'wss'] });
}
