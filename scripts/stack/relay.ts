import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import type { Config, MediaRelayKind } from '../../services/common/src/config';
import { REPO_ROOT } from './env';
import { renderTemplate } from './kamailio';

export const RTPENGINE_TEMPLATE = join(REPO_ROOT, 'rtpproxy', 'rtpengine.conf');

/** Binary each relay runs as. */
export const RELAY_BINARIES: Readonly<Record<MediaRelayKind, string>> = {
  rtpengine: 'rtpengine',
  rtpproxy: 'rtpproxy',
};

const INSTALL_HINTS: Readonly<Record<MediaRelayKind, string>> = {
  rtpengine:
    'install it with `apt-get install rtpengine-daemon` (Debian bookworm ships 10.5), or set MEDIA_RELAY=rtpproxy',
  rtpproxy:
    'RTPProxy is not packaged in Debian bookworm: build it from https://github.com/sippy/rtpproxy and put the `rtpproxy` binary on PATH, or set MEDIA_RELAY=rtpengine',
};

/** How to run the relay in the foreground as a child process, and the files it needs first. */
export interface RelayLaunch {
  readonly command: string;
  readonly args: readonly string[];
  readonly files: ReadonlyArray<{ readonly path: string; readonly content: string; readonly mode: number }>;
  /** Where the relay writes its pid. */
  readonly pidFile: string;
}

export interface RelayLaunchOptions {
  /** Directories searched for the binary; default PATH. */
  readonly searchPath?: string;
  /** RTPProxy refuses a network control socket as root unless told `-F`; default: whether we are root. */
  readonly root?: boolean;
  readonly template?: string;
}

export class RelayNotInstalledError extends Error {
  constructor(readonly kind: MediaRelayKind) {
    super(`${RELAY_BINARIES[kind]} not found on PATH: ${INSTALL_HINTS[kind]}`);
    this.name = 'RelayNotInstalledError';
  }
}

/**
 * The relay of `config.relay.kind`, in the foreground, logging to stderr, its control
 * socket on RTPENGINE_NG_LISTEN_ADDRESS (rtpengine) or 127.0.0.1 (RTPProxy) and its pid file in STATE_DIR. Throws {@link RelayNotInstalledError}
 * when the binary is not on PATH.
 */
export function relayLaunch(config: Config, options: RelayLaunchOptions = {}): RelayLaunch {
  const { kind, address } = config.relay;
  if (/[\s;#]/.test(address))
    throw new Error(`RELAY_ADDRESS ${JSON.stringify(address)} cannot contain spaces, ';' or '#'`);
  const command = findOnPath(RELAY_BINARIES[kind], options.searchPath);
  if (!command) throw new RelayNotInstalledError(kind);
  // Directly in STATE_DIR, which the supervisor creates: RTPProxy has no file of its own to make a directory for.
  const pidFile = join(config.stateDir, `${kind}.pid`);
  return kind === 'rtpengine'
    ? rtpengineLaunch(config, command, pidFile, options)
    : rtpproxyLaunch(config, command, pidFile, options);
}

/** Whether the relay's binary is on PATH. */
export function isRelayAvailable(kind: MediaRelayKind, searchPath?: string): boolean {
  return findOnPath(RELAY_BINARIES[kind], searchPath) !== undefined;
}

function rtpengineLaunch(config: Config, command: string, pidFile: string, options: RelayLaunchOptions): RelayLaunch {
  const configFile = join(config.stateDir, 'rtpengine', 'rtpengine.conf');
  const values = {
    INTERFACE: config.relay.address,
    // rtpengine takes an IPv6 listen-ng address in brackets.
    NG_LISTEN: isIPv6(config.relay.rtpengineNgListenAddress)
      ? `[${config.relay.rtpengineNgListenAddress}]`
      : config.relay.rtpengineNgListenAddress,
    NG_PORT: String(config.relay.rtpengineNgPort),
    PORT_MIN: String(config.relay.rtpPortMin),
    PORT_MAX: String(config.relay.rtpPortMax),
    PID_FILE: pidFile,
    LOG_LEVEL: String(SYSLOG_LEVELS[config.logLevel]),
  };
  let content: string;
  try {
    content = renderTemplate(options.template ?? readFileSync(RTPENGINE_TEMPLATE, 'utf8'), values);
  } catch (err) {
    // renderTemplate was written for kamailio.cfg and names it in its message.
    throw new Error(`rtpproxy/rtpengine.conf: ${(err as Error).message.replace(/^kamailio\.cfg: /, '')}`);
  }
  return {
    command,
    // --config-file also keeps /etc/rtpengine/rtpengine.conf from being read.
    args: [`--config-file=${configFile}`, '--foreground', '--log-stderr'],
    files: [{ path: configFile, content, mode: 0o644 }],
    pidFile,
  };
}

function rtpproxyLaunch(config: Config, command: string, pidFile: string, options: RelayLaunchOptions): RelayLaunch {
  const { address, rtpproxyControlPort, rtpPortMin, rtpPortMax } = config.relay;
  const root = options.root ?? process.getuid?.() === 0;
  return {
    command,
    args: [
      '-f', // foreground; logs go to stderr
      ...(root ? ['-F'] : []),
      '-s',
      `udp:127.0.0.1:${rtpproxyControlPort}`,
      ...(isIPv6(address) ? ['-6', address] : ['-l', address]),
      '-m',
      String(rtpPortMin),
      '-M',
      String(rtpPortMax),
      '-d',
      `${RTPPROXY_LEVELS[config.logLevel]}:LOG_LOCAL0`,
      '-p',
      pidFile,
    ],
    files: [],
    pidFile,
  };
}

const SYSLOG_LEVELS: Readonly<Record<Config['logLevel'], number>> = { error: 3, warn: 4, info: 6, debug: 7 };
const RTPPROXY_LEVELS: Readonly<Record<Config['logLevel'], string>> = {
  error: 'ERR',
  warn: 'WARN',
  info: 'INFO',
  debug: 'DBUG',
};

function findOnPath(binary: string, searchPath = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
