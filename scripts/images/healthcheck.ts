import { readFileSync } from 'node:fs';
import { ENV_SCHEMA } from '../../services/common/src/config';

/**
 * The app image's HEALTHCHECK: finds which service PID 1 runs and asks its /health,
 * on the port that service reads from the environment (or its default). Exit 0 when
 * it answers 200 within 2 s. A wildcard bind address is probed on loopback.
 */
type PortName = 'API_PORT' | 'GATEWAY_HTTP_PORT' | 'DEMO_AGENT_PORT';
type HostName = 'API_HOST' | 'GATEWAY_HTTP_HOST' | 'DEMO_AGENT_HOST';

const SERVICES: Record<string, { readonly port: PortName; readonly host?: HostName }> = {
  'control-plane': { port: 'API_PORT', host: 'API_HOST' },
  'media-gateway': { port: 'GATEWAY_HTTP_PORT', host: 'GATEWAY_HTTP_HOST' },
  'demo-agent': { port: 'DEMO_AGENT_PORT', host: 'DEMO_AGENT_HOST' },
};

function envOr(name: PortName | HostName): string {
  return process.env[name] || String(ENV_SCHEMA.properties[name].default);
}

export function healthUrl(cmdline: readonly string[]): string {
  const service = Object.keys(SERVICES).find((name) => cmdline.some((arg) => arg.includes(`/services/${name}/`)));
  if (!service) throw new Error(`PID 1 runs no service of this image: ${cmdline.join(' ')}`);
  const { port, host } = SERVICES[service]!;
  let address = host ? envOr(host) : '127.0.0.1';
  if (address === '0.0.0.0' || address === '::') address = '127.0.0.1';
  if (address.includes(':')) address = `[${address}]`;
  return `http://${address}:${envOr(port)}/health`;
}

async function main(): Promise<void> {
  const cmdline = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
  const url = healthUrl(cmdline);
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`unhealthy: ${err.message}\n`);
    process.exit(1);
  });
}
