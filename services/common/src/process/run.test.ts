import { runProcess, type ProcessHost, type ProcessSpec, type StopSignal } from './run';

class BadConfig extends Error {}

/** A process host that records what runProcess does to it. */
function fakeHost() {
  const signals = new Map<StopSignal, () => void>();
  let uncaught: ((err: unknown, origin: string) => void) | undefined;
  const seen = { exitCode: undefined as number | undefined, exits: [] as (number | undefined)[], stderr: '' };
  const host: ProcessHost = {
    onSignal: (signal, listener) => void signals.set(signal, listener),
    onUncaught: (listener) => void (uncaught = listener),
    setExitCode: (code) => void (seen.exitCode = code),
    exit: (code) => void seen.exits.push(code),
    writeStderr: (text) => void (seen.stderr += text),
  };
  return {
    host,
    seen,
    signal: (s: StopSignal) => signals.get(s)?.(),
    throwUncaught: (err: unknown) => uncaught?.(err, 'uncaughtException'),
  };
}

function recorder() {
  const events: string[] = [];
  const logger = {
    info: (message: string, meta?: object) =>
      void events.push(`info ${message}${meta ? ' ' + JSON.stringify(meta) : ''}`),
    error: (message: string, meta?: object) =>
      void events.push(`error ${message}${meta ? ' ' + JSON.stringify(meta) : ''}`),
  };
  return { events, logger };
}

function spec(
  logger: ReturnType<typeof recorder>['logger'],
  start: ProcessSpec<{ ok: true }, typeof logger>['start'],
  extra: Partial<ProcessSpec<{ ok: true }, typeof logger>> = {},
): ProcessSpec<{ ok: true }, typeof logger> {
  return {
    name: 'svc',
    configure: () => ({ ok: true }),
    configError: BadConfig,
    logger: () => logger,
    start,
    ...extra,
  };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('runProcess', () => {
  test('SIGTERM → every part closed in reverse order of construction, between "stopping" and "stopped"', async () => {
    const { events, logger } = recorder();
    const fake = fakeHost();
    const run = runProcess(
      spec(logger, async (_config, log, scope) => {
        await flush();
        for (const part of ['database', 'store', 'server']) {
          scope.defer(async () => {
            await flush();
            events.push(`close ${part}`);
          });
        }
        log.info('svc listening');
      }),
      fake.host,
    );
    await run.started;
    fake.signal('SIGTERM');
    await run.stop('again');
    expect(events).toEqual([
      'info svc listening',
      'info svc stopping {"reason":"SIGTERM"}',
      'close server',
      'close store',
      'close database',
      'info svc stopped',
    ]);
    expect(fake.seen.exitCode).toBeUndefined();
    expect(fake.seen.exits).toEqual([]);
  });

  test('stop twice (SIGTERM then SIGINT) → each part closed once', async () => {
    const { logger } = recorder();
    const fake = fakeHost();
    const close = jest.fn();
    const run = runProcess(
      spec(logger, (_c, _l, scope) => {
        scope.defer(close);
        return Promise.resolve();
      }),
      fake.host,
    );
    await run.started;
    fake.signal('SIGTERM');
    fake.signal('SIGINT');
    await run.stop('third');
    expect(close).toHaveBeenCalledTimes(1);
  });

  test('start-up fails → logged, what was built is closed through the same stop, exit code 1', async () => {
    const { events, logger } = recorder();
    const fake = fakeHost();
    const run = runProcess(
      spec(logger, (_c, _l, scope) => {
        scope.defer(() => events.push('close database'));
        return Promise.reject(new Error('EADDRINUSE'));
      }),
      fake.host,
    );
    await run.started;
    expect(events).toEqual([
      'error svc failed to start {"message":"EADDRINUSE"}',
      'info svc stopping {"reason":"start-up failed"}',
      'close database',
      'info svc stopped',
    ]);
    expect(fake.seen.exitCode).toBe(1);
  });

  test('a closing step fails → logged, exit code 1, the earlier parts still closed', async () => {
    const { events, logger } = recorder();
    const fake = fakeHost();
    const run = runProcess(
      spec(logger, (_c, _l, scope) => {
        scope.defer(() => events.push('close database'));
        scope.defer(() => Promise.reject(new Error('socket stuck')));
        return Promise.resolve();
      }),
      fake.host,
    );
    await run.started;
    await run.stop('SIGTERM');
    expect(events).toContain('error shutdown failed {"message":"socket stuck"}');
    expect(events.slice(-2)).toEqual(['close database', 'info svc stopped']);
    expect(fake.seen.exitCode).toBe(1);
  });

  test('a bad configuration → its message on stderr, exit code 2, nothing started', async () => {
    const { logger } = recorder();
    const fake = fakeHost();
    const start = jest.fn(() => Promise.resolve());
    const run = runProcess(
      spec(logger, start, {
        configure: () => {
          throw new BadConfig('invalid configuration: PORT must be <= 65535');
        },
      }),
      fake.host,
    );
    await run.started;
    expect(fake.seen.stderr).toBe('svc: invalid configuration: PORT must be <= 65535\n');
    expect(fake.seen.exitCode).toBe(2);
    expect(start).not.toHaveBeenCalled();
  });

  test('configure throws something else → stderr, exit 1 at once', async () => {
    const { logger } = recorder();
    const fake = fakeHost();
    const run = runProcess(
      spec(logger, () => Promise.resolve(), {
        configure: () => {
          throw new TypeError('bug');
        },
      }),
      fake.host,
    );
    await run.started;
    expect(fake.seen.stderr).toBe('svc: bug\n');
    expect(fake.seen.exits).toEqual([1]);
  });

  test('exitWhenStopped → exits after "stopped" with the exit code set so far', async () => {
    const { events, logger } = recorder();
    const fake = fakeHost();
    const run = runProcess(
      spec(logger, () => Promise.resolve(), { exitWhenStopped: true }),
      fake.host,
    );
    await run.started;
    await run.stop('SIGTERM');
    expect(events.at(-1)).toBe('info svc stopped');
    expect(fake.seen.exits).toEqual([undefined]);
  });

  test('a part built after the stop began (signal during start-up) → closed at once', async () => {
    const { logger } = recorder();
    const fake = fakeHost();
    const late = jest.fn();
    let release: () => void = () => undefined;
    const run = runProcess(
      spec(logger, async (_c, _l, scope) => {
        await new Promise<void>((resolve) => (release = resolve));
        scope.defer(late);
      }),
      fake.host,
    );
    await flush();
    fake.signal('SIGINT');
    release();
    await run.started;
    expect(late).toHaveBeenCalledTimes(1);
  });

  test('an uncaught error → logged on stderr and through the logger, exit 1', async () => {
    const { events, logger } = recorder();
    const fake = fakeHost();
    const run = runProcess(
      spec(logger, () => Promise.resolve()),
      fake.host,
    );
    await run.started;
    fake.throwUncaught(new Error('boom'));
    expect(fake.seen.stderr).toMatch(/^svc: uncaught error \(uncaughtException\): Error: boom/);
    expect(events).toContain('error uncaught error {"origin":"uncaughtException","message":"boom"}');
    expect(fake.seen.exits).toEqual([1]);
  });
});
