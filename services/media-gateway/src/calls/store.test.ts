import { OrderedCallStore, type CallRecordEnd, type CallRecordStart, type CallStore } from './store';

const START: CallRecordStart = {
  callId: 'c1',
  sipCallId: 's1',
  from: 'alice',
  to: '18005550100',
  route: 'ai|default',
  aiDialect: 'olib',
  aiUrl: 'ws://x',
  codec: 'PCMU',
  gateway: 'gw',
  recordingPath: null,
};
const END: CallRecordEnd = { reason: 'caller hung up', by: 'caller', recordingBytes: null, stats: {} };

function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const quiet = { warn: () => undefined, error: () => undefined };

describe('OrderedCallStore', () => {
  test('a call that ends while its start is still being written: the end lands after the start', async () => {
    const log: string[] = [];
    let releaseStart!: () => void;
    const inner: CallStore = {
      numberSettings: () => Promise.resolve(null),
      started: () =>
        new Promise<void>(
          (r) =>
            (releaseStart = () => {
              log.push('started');
              r();
            }),
        ),
      event: (_c, type) => {
        log.push(`event ${type}`);
        return Promise.resolve();
      },
      ended: () => {
        log.push('ended');
        return Promise.resolve();
      },
    };
    const store = new OrderedCallStore(inner, { logger: quiet });
    await store.started(START);
    await store.event('c1', 'dtmf', {});
    await store.ended('c1', END);
    expect(log).toEqual([]);
    releaseStart();
    await store.drain(1000);
    expect(log).toEqual(['started', 'event dtmf', 'ended']);
    expect(store.pendingCalls).toBe(0);
  });

  test('a write that meets a restarting database is retried until it lands', async () => {
    let failures = 2;
    const written: string[] = [];
    let retries = 0;
    const inner: CallStore = {
      numberSettings: () => Promise.resolve(null),
      started: () => Promise.resolve(),
      event: () => Promise.resolve(),
      ended: () => {
        if (failures-- > 0)
          return Promise.reject(pgError('57P01', 'terminating connection due to administrator command'));
        written.push('ended');
        return Promise.resolve();
      },
    };
    const store = new OrderedCallStore(inner, { logger: quiet, firstDelayMs: 5, onRetry: () => retries++ });
    await store.ended('c1', END);
    await store.drain(2000);
    expect(written).toEqual(['ended']);
    expect(retries).toBe(2);
  });

  test('a write the database refuses for good (a constraint) is given up at once and logged', async () => {
    const errors: string[] = [];
    let attempts = 0;
    const inner: CallStore = {
      numberSettings: () => Promise.resolve(null),
      started: () => {
        attempts++;
        return Promise.reject(pgError('23505', 'duplicate key value violates unique constraint'));
      },
      event: () => Promise.resolve(),
      ended: () => Promise.resolve(),
    };
    const store = new OrderedCallStore(inner, {
      logger: { warn: () => undefined, error: (m) => errors.push(m) },
      firstDelayMs: 5,
    });
    await store.started(START);
    await store.drain(1000);
    expect(attempts).toBe(1);
    expect(errors).toEqual(['call record not written']);
  });

  test('calls do not wait for each other', async () => {
    const log: string[] = [];
    const inner: CallStore = {
      numberSettings: () => Promise.resolve(null),
      started: (r) =>
        r.callId === 'slow' ? new Promise<void>(() => undefined) : (log.push(r.callId), Promise.resolve()),
      event: () => Promise.resolve(),
      ended: () => Promise.resolve(),
    };
    const store = new OrderedCallStore(inner, { logger: quiet });
    await store.started({ ...START, callId: 'slow' });
    await store.started({ ...START, callId: 'fast' });
    await new Promise((r) => setTimeout(r, 10));
    expect(log).toEqual(['fast']);
  });
});
