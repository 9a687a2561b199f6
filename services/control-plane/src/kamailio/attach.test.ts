import { KamailioAttach } from './attach';

interface Line {
  readonly level: 'info' | 'warn';
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

function recorder(): { lines: Line[]; logger: { info: Recorder; warn: Recorder } } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']): Recorder =>
    (message, fields) =>
      lines.push({ level, message, fields });
  return { lines, logger: { info: at('info'), warn: at('warn') } };
}
type Recorder = (message: string, fields: Record<string, unknown>) => void;

/** A fake Kamailio RPC step: refuses `failures` times (like a Kamailio not up yet), then answers. */
function kamailioUpAfter(failures: number): { attempt: () => Promise<void>; calls: () => number } {
  let calls = 0;
  return {
    attempt: () => {
      calls += 1;
      return calls <= failures
        ? Promise.reject(new Error('dispatcher.reload: Kamailio did not answer (ECONNREFUSED)'))
        : Promise.resolve();
    },
    calls: () => calls,
  };
}

describe('KamailioAttach', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('Kamailio down at start → retried with doubling backoff, a log line each, /health status says why', async () => {
    const { lines, logger } = recorder();
    const fake = kamailioUpAfter(3);
    const attach = new KamailioAttach({ what: 'joining the SMS set', attempt: fake.attempt, logger });
    expect(attach.status()).toEqual({
      status: 'error',
      error: 'waiting for Kamailio: joining the SMS set: not tried yet',
    });
    attach.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(fake.calls()).toBe(1);
    expect(attach.status()).toEqual({
      status: 'error',
      error:
        'waiting for Kamailio: joining the SMS set: 1 attempts failed, last: dispatcher.reload: Kamailio did not answer (ECONNREFUSED)',
    });
    await jest.advanceTimersByTimeAsync(499);
    expect(fake.calls()).toBe(1);
    await jest.advanceTimersByTimeAsync(1); // 500 ms
    expect(fake.calls()).toBe(2);
    await jest.advanceTimersByTimeAsync(1000); // then 1 s
    expect(fake.calls()).toBe(3);
    expect(attach.ready).toBe(false);
    await jest.advanceTimersByTimeAsync(2000); // then 2 s: Kamailio answers
    expect(fake.calls()).toBe(4);
    await expect(attach.done).resolves.toBeUndefined();
    expect(attach.ready).toBe(true);
    expect(attach.status()).toEqual({ status: 'ok' });
    expect(lines.map((l) => [l.level, l.message, l.fields])).toEqual([
      ...[500, 1000, 2000].map((delay, i) => [
        'warn',
        'Kamailio not answering yet: joining the SMS set failed; retrying',
        {
          attempt: i + 1,
          retry_in_ms: delay,
          error: 'dispatcher.reload: Kamailio did not answer (ECONNREFUSED)',
        },
      ]),
      ['info', 'Kamailio answered: joining the SMS set done', { attempts: 4 }],
    ]);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(fake.calls()).toBe(4);
  });

  test('backoff → capped at maxDelayMs', async () => {
    const { lines, logger } = recorder();
    const fake = kamailioUpAfter(Infinity);
    const attach = new KamailioAttach({
      what: 'x',
      attempt: fake.attempt,
      logger,
      initialDelayMs: 100,
      maxDelayMs: 300,
    });
    attach.start();
    await jest.advanceTimersByTimeAsync(2000);
    expect(lines.map((l) => l.fields['retry_in_ms'])).toEqual([100, 200, 300, 300, 300, 300, 300, 300]);
    await attach.close();
  });

  test('Kamailio up at start → done at once, no log line', async () => {
    const { lines, logger } = recorder();
    const attach = new KamailioAttach({ what: 'x', attempt: kamailioUpAfter(0).attempt, logger });
    attach.start();
    await attach.done;
    expect(attach.status()).toEqual({ status: 'ok' });
    expect(lines).toEqual([]);
  });

  test('close() while waiting → no more attempts; idempotent', async () => {
    const { logger } = recorder();
    const fake = kamailioUpAfter(Infinity);
    const attach = new KamailioAttach({ what: 'x', attempt: fake.attempt, logger });
    attach.start();
    await jest.advanceTimersByTimeAsync(0);
    await attach.close();
    await attach.close();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(fake.calls()).toBe(1);
    expect(attach.currentState).toBe('closed');
    expect(jest.getTimerCount()).toBe(0);
  });

  test('close() during an attempt that then succeeds → waits for it, stays closed', async () => {
    const { logger } = recorder();
    let answer!: () => void;
    const attach = new KamailioAttach({
      what: 'x',
      attempt: () => new Promise<void>((resolve) => (answer = resolve)),
      logger,
    });
    attach.start();
    const closing = attach.close();
    answer();
    await closing;
    expect(attach.currentState).toBe('closed');
    expect(attach.ready).toBe(false);
  });
});
