import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { isIP, isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../../services/common/src/config';
import { KAMAILIO_NAMES } from '../../services/common/src/kamailio/names';
import { REPO_ROOT } from './env';
import { renderTlsConfig } from './tls';

/** The templates: kamailio.cfg and the route files it includes (kamailio/README.md). */
export const KAMAILIO_TEMPLATE_DIR = join(REPO_ROOT, 'kamailio');
/** The file `kamailio -f` reads; it includes the others from the directory it was rendered for. */
export const KAMAILIO_MAIN_FILE = 'kamailio.cfg';

/** Kamailio's db_postgres wants `postgres://user:pass@host:port/db`. */
export function kamailioDbUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const port = url.port || '5432';
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const db = url.pathname.replace(/^\//, '');
  if (/[@:/"\s]/.test(user) || /[@/"\s]/.test(pass)) {
    throw new Error('DATABASE_URL: Kamailio cannot use a user or password containing @ / " or spaces');
  }
  return `postgres://${user}${pass ? `:${pass}` : ''}@${url.hostname}:${port}/${db}`;
}

/** The placeholder values: the configuration's, the shared names, and where the parts are. */
export function kamailioValues(config: Config, outDir: string): Record<string, string> {
  const v: Record<string, string | number> = {
    ...KAMAILIO_NAMES,
    KAMAILIO_CFG_DIR: outDir,
    MEDIA_RELAY_DEFINE: config.relay.kind === 'rtpengine' ? '#!define WITH_RTPENGINE' : '#!define WITH_RTPPROXY',
    KAMAILIO_DEBUG: config.logLevel === 'debug' ? 3 : config.logLevel === 'info' ? 2 : 1,
    KAMAILIO_CHILDREN: config.kamailio.children,
    KAMAILIO_RPC_PORT: config.kamailio.rpcPort,
    KAMAILIO_EVAPI_PORT: config.kamailio.evapiPort,
    // An IPv6 address goes in brackets in a listen= socket and evapi's bind_addr.
    KAMAILIO_CONTROL_LISTEN: isIPv6(config.kamailio.controlListenAddress)
      ? `[${config.kamailio.controlListenAddress}]`
      : config.kamailio.controlListenAddress,
    KAMAILIO_RPC_ALLOWED_CIDRS: config.kamailio.rpcAllowedCidrs.join(','),
    KAMAILIO_CTL_SOCKET: config.kamailio.ctlSocket,
    SIP_DOMAIN: config.sip.domain,
    SIP_DOMAIN_ALIAS: domainAlias(config),
    SIP_LISTEN_ADDRESS: config.sip.listenAddress,
    SIP_PORT: config.sip.port,
    SIP_TLS_PORT: config.sip.tls.port,
    SIP_LOCKOUT_MAX_FAILURES: config.sip.lockout.maxFailures,
    SIP_LOCKOUT_WINDOW_SECONDS: config.sip.lockout.windowSeconds,
    SIP_LOCKOUT_SECONDS: config.sip.lockout.lockSeconds,
    SIP_SOURCE_MAX_FAILURES: config.sip.bruteForce.sourceMaxFailures,
    SIP_STUFFING_MAX_ACCOUNTS: config.sip.bruteForce.stuffingMaxAccounts,
    SIP_SOURCE_BAN_SECONDS: config.sip.bruteForce.sourceBanSeconds,
    SIP_ACCOUNT_LOCK_SOURCES: config.sip.bruteForce.accountLockSources,
    SIP_TRUSTED_SOURCE_SECONDS: config.sip.bruteForce.trustedSourceDays * 86_400,
    SIP_FLOOD_REQUESTS: config.sip.flood.requests,
    SIP_FLOOD_WINDOW_SECONDS: config.sip.flood.windowSeconds,
    SIP_FLOOD_BAN_SECONDS: config.sip.flood.banSeconds,
    STATE_DIR: config.stateDir,
    DB_URL: kamailioDbUrl(config.databaseUrl),
    RTPENGINE_NG_HOST: isIPv6(config.relay.rtpengineNgHost)
      ? `[${config.relay.rtpengineNgHost}]`
      : config.relay.rtpengineNgHost,
    RTPENGINE_NG_PORT: config.relay.rtpengineNgPort,
    RTPPROXY_CONTROL_PORT: config.relay.rtpproxyControlPort,
    PROXY_SHARED_SECRET: config.secrets.proxySharedSecret,
    PROXY_PROOF_MAX_AGE_SECONDS: config.proxyProofMaxAgeSeconds,
  };
  for (const [key, value] of Object.entries(v)) {
    // SIP_DOMAIN_ALIAS is Kamailio syntax built here from checked values (alias="...").
    if (key === 'SIP_DOMAIN_ALIAS') continue;
    if (/["\n\\]/.test(String(value)))
      throw new Error(`configuration value for ${key} contains a quote, backslash or newline`);
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
}

/**
 * A host-name domain is an alias for any port (sip:alice@example.com). An IP-literal
 * domain gets the SIP port only: on a shared address (loopback) every other port
 * belongs to somebody else, and claiming it would break loose routing to them.
 */
function domainAlias(config: Config): string {
  const { domain, listenAddress, port } = config.sip;
  if (isIP(domain) === 0) return `alias="${domain}"`;
  if (domain === listenAddress) return '# SIP_DOMAIN is the listen address: no alias needed';
  return `alias="${domain}:${port}"`;
}

/** Fills the template; an unknown placeholder is an error, not an empty string. */
export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`kamailio.cfg: no value for {{${name}}}`);
    return value;
  });
}

/** Every `*.cfg` template of `dir` by file name. */
export function readKamailioTemplates(dir = KAMAILIO_TEMPLATE_DIR): Record<string, string> {
  const names = readdirSync(dir).filter((name) => name.endsWith('.cfg'));
  return Object.fromEntries(names.sort().map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}

/** One file of a rendered Kamailio configuration. */
export interface KamailioFile {
  readonly name: string;
  readonly path: string;
  readonly content: string;
}

/** Where a local stack keeps its rendered configuration: beside Kamailio's runtime files. */
export function kamailioConfigDir(config: Config): string {
  return join(config.stateDir, 'kamailio');
}

/**
 * The whole Kamailio configuration as it must lie in `outDir`: kamailio.cfg, the
 * route files it includes by absolute path into `outDir`, and tls.cfg. A pure function
 * of the configuration, the directory and the templates; nothing is written.
 */
export function renderKamailioConfig(
  config: Config,
  outDir = kamailioConfigDir(config),
  templates = readKamailioTemplates(),
): KamailioFile[] {
  if (templates[KAMAILIO_MAIN_FILE] === undefined) throw new Error(`kamailio templates: no ${KAMAILIO_MAIN_FILE}`);
  const values = kamailioValues(config, outDir);
  const rendered = Object.entries(templates).map(([name, template]) => {
    try {
      return { name, path: join(outDir, name), content: renderTemplate(template, values) };
    } catch (err) {
      throw new Error((err as Error).message.replace(/^kamailio\.cfg: /, `${name}: `));
    }
  });
  return [...rendered, { name: 'tls.cfg', path: join(outDir, 'tls.cfg'), content: renderTlsConfig(config) }];
}

/** Renders the configuration into `outDir` (files mode 0600) and returns the path for `kamailio -f`. */
export function writeKamailioConfig(config: Config, outDir = kamailioConfigDir(config)): string {
  mkdirSync(outDir, { recursive: true });
  for (const file of renderKamailioConfig(config, outDir)) writeFileSync(file.path, file.content, { mode: 0o600 });
  return join(outDir, KAMAILIO_MAIN_FILE);
}

/** Command line of a foreground Kamailio with its own runtime directory and memory sizes. */
export function kamailioArgs(config: Config, cfgPath: string): string[] {
  const dir = join(config.stateDir, 'kamailio');
  return [
    '-f',
    cfgPath,
    '-DD', // stay in the foreground, keep the process tree under our control
    '-E', // log to stderr
    '--log-engine=json:pM', // JSON lines with sip_call_id (log_prefix in kamailio.cfg)
    '-P',
    join(dir, 'kamailio.pid'),
    '-Y',
    dir,
    '-m',
    String(config.kamailio.sharedMemoryMb),
    '-M',
    String(config.kamailio.pkgMemoryMb),
  ];
}
