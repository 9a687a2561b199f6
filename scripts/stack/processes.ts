import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

/**
 * One child of the local stack, in its own process group so that stopping it takes
 * its workers too (Kamailio forks many). Output goes to a log file.
 *
 *   starting ──► running ──► stopping ──► exited
 *        └──────────┴─────────────────────┘ (crash)
 */
export type ChildState = 'starting' | 'running' | 'stopping' | 'exited';

export interface ChildSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  readonly cwd?: string;
}

export class SupervisedChild {
  state: ChildState = 'starting';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;
  private readonly log: WriteStream;

  constructor(
    readonly spec: ChildSpec,
    readonly logPath: string,
  ) {
    this.log = createWriteStream(logPath, { flags: 'a' });
    this.log.write(`\n--- ${new Date().toISOString()} starting ${spec.command} ${spec.args.join(' ')}\n`);
    this.proc = spawn(spec.command, [...spec.args], {
      env: spec.env ?? process.env,
      cwd: spec.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.pipe(this.log, { end: false });
    this.proc.stderr?.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => {
      this.proc.once('error', (err) => {
        this.log.write(`spawn failed: ${err.message}\n`);
        this.state = 'exited';
        resolve({ code: -1, signal: null });
      });
      this.proc.once('exit', (code, signal) => {
        this.state = 'exited';
        this.log.write(`--- exited code=${code} signal=${signal}\n`);
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  markRunning(): void {
    if (this.state === 'starting') this.state = 'running';
  }

  /** SIGTERM to the whole process group, SIGKILL after the grace period. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.state === 'exited') return;
    this.state = 'stopping';
    signalGroup(this.proc.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(this.proc.pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    // Workers that outlived their parent still belong to the group.
    signalGroup(this.proc.pid, 'SIGKILL');
    await new Promise<void>((resolve) => this.log.end(resolve));
  }

  /** SIGKILL to whatever is left of the process group (the leader's workers after it died). */
  killGroup(): void {
    signalGroup(this.proc.pid, 'SIGKILL');
  }

  /** Last lines of the log, for error messages. */
  tail(lines = 25): string {
    try {
      return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Remembers the process groups a stack started, so that a stack killed with SIGKILL
 * (no chance to clean up) is cleaned up by the next start of the same instance.
 */
export class PidRegistry {
  private readonly file: string;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, 'children.json');
  }

  record(children: readonly SupervisedChild[]): void {
    const pids = children.map((c) => c.pid).filter((p): p is number => typeof p === 'number');
    // By name as well, for operators and fault tests (`kill -9` the gateway, say).
    const byName = Object.fromEntries(children.filter((c) => c.pid !== undefined).map((c) => [c.spec.name, c.pid]));
    writeFileSync(this.file, JSON.stringify({ supervisor: process.pid, pids, byName }));
  }

  /** Kills leftovers of a previous run of this instance; returns how many groups were found. */
  async killLeftovers(): Promise<number> {
    if (!existsSync(this.file)) return 0;
    let found = 0;
    try {
      const { pids } = JSON.parse(readFileSync(this.file, 'utf8')) as { pids: number[] };
      for (const pid of pids) {
        if (isAlive(pid)) {
          found++;
          signalGroup(pid, 'SIGKILL');
        }
      }
    } catch {
      // unreadable registry: nothing we can do with it
    }
    writeFileSync(this.file, JSON.stringify({ supervisor: process.pid, pids: [] }));
    if (found > 0) await new Promise((r) => setTimeout(r, 500));
    return found;
  }

  clear(): void {
    writeFileSync(this.file, JSON.stringify({ supervisor: null, pids: [] }));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `probe` until it resolves, the child exits, or the timeout passes. */
export async function waitUntilReady(
  child: SupervisedChild,
  probe: () => Promise<unknown>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.state === 'exited') {
      throw new Error(`${child.spec.name} exited during start-up; last lines of ${child.logPath}:\n${child.tail()}`);
    }
    try {
      await probe();
      // The answer must come from this child: one that already died cannot have given it.
      await new Promise((r) => setTimeout(r, 100));
      if ((child.state as ChildState) === 'exited') continue;
      child.markRunning();
      return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${child.spec.name} not ready after ${timeoutMs} ms (${lastError}); last lines of ${child.logPath}:\n${child.tail()}`,
  );
}
