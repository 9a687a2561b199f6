/**
 * One process's life, the same for every service: read the configuration, build and
 * start, stop on SIGTERM / SIGINT, exit.
 *
 *   configure ──► start ──► running ──► stopping ──► stopped
 *       │           │                       ▲
 *       │           └── throws ─────────────┘  (exit code 1, through the same stop)
 *       └── a configuration error: message on stderr, exit code 2, nothing built
 *
 * Each part registers how to close it (`scope.defer`) as soon as it is built; stopping
 * closes them in reverse order of registration, whichever way the stop came (a signal,
 * a failed start-up), once. A closing step that fails is logged, sets exit code 1 and
 * does not keep the later ones from running. An uncaught error or unhandled rejection
 * is logged and ends the process with exit code 1, as Node would.
 */

/** What runProcess logs through: the process's root logger. */
export interface ProcessLogger {
  info(message: string, meta?: object): unknown;
  error(message: string, meta?: object): unknown;
}

/** Handed to `start`: registers how to close what was just built. */
export interface ProcessScope {
  /** `close` runs at stop, before everything registered earlier. */
  defer(close: () => unknown): void;
}

export interface ProcessSpec<C, L extends ProcessLogger> {
  /** The service's name, as it prefixes stderr lines and its start/stop log lines. */
  readonly name: string;
  /** Reads and validates the configuration (once). */
  readonly configure: () => C;
  /** What `configure` throws for a bad configuration: exit code 2 instead of 1. */
  readonly configError: abstract new (...args: never[]) => Error;
  readonly logger: (config: C) => L;
  /** Builds, wires and starts everything, registering each part's close as it goes. */
  readonly start: (config: C, logger: L, scope: ProcessScope) => Promise<void>;
  /**
   * Exit as soon as stopped instead of waiting for the event loop to drain: a cluster
   * replica's IPC channel to its primary would keep it alive.
   */
  readonly exitWhenStopped?: boolean;
}

/** The parts of `process` runProcess touches; a test passes its own. */
export interface ProcessHost {
  onSignal(signal: StopSignal, listener: () => void): void;
  onUncaught(listener: (err: unknown, origin: string) => void): void;
  setExitCode(code: number): void;
  exit(code?: number): void;
  writeStderr(text: string): void;
}

export type StopSignal = 'SIGTERM' | 'SIGINT';
const STOP_SIGNALS: readonly StopSignal[] = ['SIGTERM', 'SIGINT'];

/** The real process. A second signal of the same kind gets Node's default (terminate): `once`. */
export const NODE_PROCESS: ProcessHost = {
  onSignal: (signal, listener) => void process.once(signal, listener),
  onUncaught: (listener) => void process.on('uncaughtException', listener),
  setExitCode: (code) => void (process.exitCode = code),
  exit: (code) => process.exit(code),
  writeStderr: (text) => void process.stderr.write(text),
};

export interface RunningProcess {
  /** Stops (idempotent): every registered close, last registered first. */
  stop(reason: string): Promise<void>;
  /** Resolves once start-up has succeeded or failed (and, if it failed, the stop is done). */
  readonly started: Promise<void>;
}

/** Runs a service's composition root: see the module comment for the life it gets. */
export function runProcess<C, L extends ProcessLogger>(
  spec: ProcessSpec<C, L>,
  host: ProcessHost = NODE_PROCESS,
): RunningProcess {
  const closers: (() => unknown)[] = [];
  let logger: L | undefined;
  let stopping: Promise<void> | undefined;

  const fatal = (err: unknown): void => {
    host.writeStderr(`${spec.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    host.exit(1);
  };

  const closeNow = async (close: () => unknown): Promise<void> => {
    try {
      await close();
    } catch (err) {
      logger?.error('shutdown failed', { message: (err as Error).message });
      host.setExitCode(1);
    }
  };

  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      const log = logger;
      if (!log) return;
      log.info(`${spec.name} stopping`, { reason });
      for (const close of closers.splice(0).reverse()) await closeNow(close);
      log.info(`${spec.name} stopped`);
      if (spec.exitWhenStopped) host.exit();
    })());

  host.onUncaught((err, origin) => {
    const error = err instanceof Error ? err : new Error(String(err));
    // Written to stderr first and synchronously: the logger's stream may not flush before exit.
    host.writeStderr(`${spec.name}: uncaught error (${origin}): ${error.stack ?? error.message}\n`);
    logger?.error('uncaught error', { origin, message: error.message });
    host.exit(1);
  });

  const started = (async () => {
    let config: C;
    try {
      config = spec.configure();
    } catch (err) {
      if (!(err instanceof spec.configError)) throw err;
      host.writeStderr(`${spec.name}: ${err.message}\n`);
      host.setExitCode(2);
      return;
    }
    const log = spec.logger(config);
    logger = log;
    for (const signal of STOP_SIGNALS) host.onSignal(signal, () => void stop(signal));
    try {
      await spec.start(config, log, {
        defer: (close) => {
          // Built after the stop began (a signal during start-up): closed at once, not leaked.
          if (stopping) void closeNow(close);
          else closers.push(close);
        },
      });
    } catch (err) {
      log.error(`${spec.name} failed to start`, { message: (err as Error).message });
      host.setExitCode(1);
      await stop('start-up failed');
    }
  })().catch(fatal);

  return { stop, started };
}
