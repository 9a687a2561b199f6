import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig, type Config, type MediaRelayKind } from '../../services/common/src/config';
import { createMediaRelay, type MediaRelay } from '../../services/common/src/media-relay';
import { relayLaunch } from '../../scripts/stack/relay';

/**
 * A config of the relay suites' own: ports away from the dev stack (2223, 7722,
 * 10000-20000) and the test stack (12223, 17722, 40000-44999), a throwaway
 * STATE_DIR, and placeholder secrets (no database is involved).
 */
export function relayTestConfig(
  kind: MediaRelayKind,
  ports: { control: number; rtpMin: number; rtpMax: number },
): Config {
  const stateDir = mkdtempSync(join(tmpdir(), `sipai-${kind}-test-`));
  return loadConfig({
    STACK_INSTANCE: 'relay-test',
    STATE_DIR: stateDir,
    LOG_LEVEL: 'info',
    DATABASE_URL: 'postgresql://unused:unused@127.0.0.1:1/unused',
    JWT_SECRET_KEY: 'relay-test-placeholder-secret-0000000000',
    SIP_JWT_SECRET: 'relay-test-placeholder-secret-1111111111',
    SIP_SHARED_SECRET: 'relay-test-placeholder-secret-2222222222',
    PROXY_SHARED_SECRET: 'relay-test-placeholder-secret-3333333333',
    MEDIA_RELAY: kind,
    RELAY_ADDRESS: '127.0.0.1',
    RTPENGINE_NG_PORT: String(ports.control),
    RTPPROXY_CONTROL_PORT: String(ports.control),
    RTP_PORT_MIN: String(ports.rtpMin),
    RTP_PORT_MAX: String(ports.rtpMax),
  });
}

export interface RunningRelay {
  readonly relay: MediaRelay;
  readonly pid: number | undefined;
  /** Everything the relay wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the relay exactly as the stack supervisor does (scripts/stack/relay.ts:
 * write its files, spawn its command in the foreground) and waits for ping().
 */
export async function startRelay(config: Config, readyTimeoutMs = 15_000): Promise<RunningRelay> {
  let launch;
  try {
    launch = relayLaunch(config);
  } catch (err) {
    rmSync(config.stateDir, { recursive: true, force: true });
    throw err;
  }
  for (const file of launch.files) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.content, { mode: file.mode });
  }
  let output = '';
  const child: ChildProcess = spawn(launch.command, [...launch.args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      output += `spawn failed: ${err.message}\n`;
      resolve(-1);
    });
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });

  const relay = createMediaRelay(config.relay, undefined, { timeoutMs: 500, retransmitMs: 100 });
  const stop = async (): Promise<void> => {
    await relay.close();
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(config.stateDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  let lastError = '';
  while (Date.now() < deadline && !gone) {
    try {
      await relay.ping();
      return { relay, pid: child.pid, output: () => output, stop };
    } catch (err) {
      lastError = (err as Error).message;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await stop();
  throw new Error(`${launch.command} did not answer ping (${gone ? 'it exited' : lastError}). Output:\n${output}`);
}
