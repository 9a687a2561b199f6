import { GatewayLease, type LeaseStore, type SweepResult } from './lease';

/** Leases in memory with a settable clock, closing "calls" the way PgLeaseStore does. */
class FakeStore implements LeaseStore {
  now = 0;
  readonly leases = new Map<string, { instance: string; expires: number }>();
  readonly activeCalls = new Map<string, number>();
  failRenew = false;

  renew(gateway: string, instance: string, ttlMs: number): Promise<void> {
    if (this.failRenew) return Promise.reject(new Error('connection refused'));
    this.leases.set(gateway, { instance, expires: this.now + ttlMs });
    return Promise.resolve();
  }

  release(gateway: string, instance: string): Promise<void> {
    if (this.leases.get(gateway)?.instance === instance) this.leases.delete(gateway);
    return Promise.resolve();
  }

  sweep(): Promise<SweepResult> {
    const gateways = [...this.leases].filter(([, l]) => l.expires < this.now).map(([g]) => g);
    let calls = 0;
    for (const g of gateways) {
      calls += this.activeCalls.get(g) ?? 0;
      this.activeCalls.delete(g);
      this.leases.delete(g);
    }
    return Promise.resolve({ gateways, calls });
  }
}

const quiet = { warn: jest.fn() };

describe('GatewayLease', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** The store's clock and the timers move together, 100 ms at a time. */
  const advance = async (store: FakeStore, ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 100) {
      store.now += 100;
      await jest.advanceTimersByTimeAsync(100);
    }
  };

  test('a running gateway keeps its lease; one that stops renewing (killed) is swept by another within 4/3 of the lease, its calls closed once', async () => {
    const store = new FakeStore();
    const lost: SweepResult[] = [];
    const a = new GatewayLease({ gateway: 'a', store, ttlMs: 3000, logger: quiet, onLost: (r) => void lost.push(r) });
    // b's process: after `killed`, nothing it would do reaches the database (a SIGKILL runs nothing).
    let killed = false;
    const bStore: LeaseStore = {
      renew: (...args) => (killed ? Promise.resolve() : store.renew(...args)),
      release: (...args) => (killed ? Promise.resolve() : store.release(...args)),
      sweep: () => (killed ? Promise.resolve({ gateways: [], calls: 0 }) : store.sweep()),
    };
    const b = new GatewayLease({ gateway: 'b', store: bStore, ttlMs: 3000, logger: quiet, onLost: () => undefined });
    await a.start();
    await b.start();
    store.activeCalls.set('b', 2);
    await advance(store, 10_000);
    expect(store.leases.has('a')).toBe(true);
    expect(store.leases.has('b')).toBe(true);
    expect(lost).toEqual([]);

    killed = true;
    let waited = 0;
    while (lost.length === 0 && waited < 10_000) {
      await advance(store, 100);
      waited += 100;
    }
    expect(lost).toEqual([{ gateways: ['b'], calls: 2 }]);
    expect(waited).toBeLessThanOrEqual(4000);
    await advance(store, 5000);
    expect(lost).toHaveLength(1);
    await a.stop();
    await b.stop();
  });

  test('a clean stop gives the lease up (nothing for the others to close); a failed renewal is logged, not thrown', async () => {
    const store = new FakeStore();
    const logger = { warn: jest.fn() };
    const a = new GatewayLease({ gateway: 'a', store, ttlMs: 3000, logger, onLost: () => undefined });
    await a.start();
    store.failRenew = true;
    await advance(store, 1000);
    expect(logger.warn).toHaveBeenCalledWith('gateway lease not renewed', { error: 'connection refused' });
    store.failRenew = false;
    await advance(store, 1000);
    await a.stop();
    expect(store.leases.size).toBe(0);
  });

  test('the database unreachable at start → start rejects (the gateway does not become ready)', async () => {
    const store = new FakeStore();
    store.failRenew = true;
    const a = new GatewayLease({ gateway: 'a', store, ttlMs: 3000, logger: quiet, onLost: () => undefined });
    await expect(a.start()).rejects.toThrow('connection refused');
  });
});
