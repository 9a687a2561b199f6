import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import winston from 'winston';
import { KamailioRpcError, KamailioUnavailableError } from '../../../common/src/kamailio/rpc';
import { KamailioSync, reloadWarning, type ReloadTarget } from './kamailio-sync';

/** The error a captured Kamailio 5.6.3 reply carries (../kamailio/fixtures). */
function capturedError(name: string): KamailioRpcError {
  const capture = JSON.parse(readFileSync(join(__dirname, '..', 'kamailio', 'fixtures', `${name}.json`), 'utf8')) as {
    method: string;
    reply: { error: { code: number; message: string } };
  };
  return new KamailioRpcError(capture.method, capture.reply.error.code, capture.reply.error.message);
}

const silent = winston.createLogger({ silent: true });

interface Deferred {
  resolve(): void;
  reject(err: unknown): void;
}

/** Records each RPC; each call waits until the test settles it (or fails per `script`). */
class FakeKamailio implements ReloadTarget {
  readonly calls: string[] = [];
  readonly pending: Deferred[] = [];
  script: Array<() => Promise<void>> = [];

  private next(name: string): Promise<void> {
    this.calls.push(name);
    const scripted = this.script.shift();
    if (scripted) return scripted();
    return new Promise<void>((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  reloadDispatcher(): Promise<void> {
    return this.next('dispatcher.reload');
  }
  reloadAddresses(): Promise<void> {
    return this.next('permissions.addressReload');
  }
  reloadHtable(table: string): Promise<void> {
    return this.next(`htable.reload ${table}`);
  }
  refreshRegistration(lUuid: string): Promise<void> {
    return this.next(`uac.reg_refresh ${lUuid}`);
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('KamailioSync', () => {
  test('each reload of a change runs once, in parallel; no failures → no warning', async () => {
    const kamailio = new FakeKamailio();
    kamailio.script = [async () => undefined, async () => undefined, async () => undefined];
    const sync = new KamailioSync(kamailio, silent);
    const outcome = await sync.apply([
      { kind: 'dispatcher' },
      { kind: 'address' },
      { kind: 'htable', table: 'trunk_auth' },
    ]);
    expect(kamailio.calls).toEqual(['dispatcher.reload', 'permissions.addressReload', 'htable.reload trunk_auth']);
    expect(outcome.failures).toEqual([]);
    expect(reloadWarning(outcome)).toBeUndefined();
  });

  test('"ongoing reload" (captured) → retried after the delay until it goes through', async () => {
    const kamailio = new FakeKamailio();
    const ongoing = capturedError('dispatcher-reload-ongoing');
    kamailio.script = [() => Promise.reject(ongoing), () => Promise.reject(ongoing), async () => undefined];
    const sleeps: number[] = [];
    const sync = new KamailioSync(kamailio, silent, { retryDelayMs: 250, sleep: async (ms) => void sleeps.push(ms) });
    const outcome = await sync.apply([{ kind: 'dispatcher' }]);
    expect(kamailio.calls).toEqual(['dispatcher.reload', 'dispatcher.reload', 'dispatcher.reload']);
    expect(sleeps).toEqual([250, 250]);
    expect(outcome.failures).toEqual([]);
  });

  test('permissions "ongoing reload" past the attempt limit → a failure naming the RPC', async () => {
    const kamailio = new FakeKamailio();
    const ongoing = capturedError('permissions-address-reload-ongoing');
    kamailio.script = [() => Promise.reject(ongoing), () => Promise.reject(ongoing)];
    const sync = new KamailioSync(kamailio, silent, { attempts: 2, sleep: async () => undefined });
    const outcome = await sync.apply([{ kind: 'address' }]);
    expect(outcome.failures).toEqual([
      { rpc: 'permissions.addressReload', problem: 'permissions.addressReload: 500 ongoing reload' },
    ]);
  });

  test('requests while a reload runs → wait for one more run that starts after it, shared by all of them', async () => {
    const kamailio = new FakeKamailio();
    const sync = new KamailioSync(kamailio, silent);
    const first = sync.apply([{ kind: 'dispatcher' }]);
    await flush();
    const second = sync.apply([{ kind: 'dispatcher' }]);
    const third = sync.apply([{ kind: 'dispatcher' }]);
    await flush();
    expect(kamailio.calls).toEqual(['dispatcher.reload']);
    kamailio.pending.shift()?.resolve();
    await first;
    await flush();
    expect(kamailio.calls).toEqual(['dispatcher.reload', 'dispatcher.reload']);
    kamailio.pending.shift()?.resolve();
    expect((await second).failures).toEqual([]);
    expect((await third).failures).toEqual([]);
    expect(kamailio.calls).toHaveLength(2);
  });

  test('a failed run does not fail the run queued behind it', async () => {
    const kamailio = new FakeKamailio();
    const sync = new KamailioSync(kamailio, silent);
    const first = sync.apply([{ kind: 'htable', table: 'did' }]);
    await flush();
    const second = sync.apply([{ kind: 'htable', table: 'did' }]);
    kamailio.pending.shift()?.reject(capturedError('htable-reload-missing'));
    expect((await first).failures).toEqual([
      { rpc: 'htable.reload did', problem: 'htable.reload: 500 No such htable' },
    ]);
    await flush();
    kamailio.pending.shift()?.resolve();
    expect((await second).failures).toEqual([]);
  });

  test('different tables and registrations do not wait for each other', async () => {
    const kamailio = new FakeKamailio();
    const sync = new KamailioSync(kamailio, silent);
    void sync.apply([{ kind: 'registration', l_uuid: 'a' }]);
    void sync.apply([
      { kind: 'registration', l_uuid: 'b' },
      { kind: 'htable', table: 'did' },
    ]);
    await flush();
    expect(kamailio.calls).toEqual(['uac.reg_refresh a', 'uac.reg_refresh b', 'htable.reload did']);
    for (const p of kamailio.pending) p.resolve();
  });

  test('Kamailio down → warning that the change stands and is read at restart', async () => {
    const kamailio = new FakeKamailio();
    kamailio.script = [() => Promise.reject(new KamailioUnavailableError('dispatcher.reload', 'ECONNREFUSED'))];
    const outcome = await new KamailioSync(kamailio, silent).apply([{ kind: 'dispatcher' }]);
    expect(reloadWarning(outcome)).toBe(
      'saved, but Kamailio did not take all of it (dispatcher.reload: Kamailio did not answer (ECONNREFUSED)); it reads these tables again when it restarts',
    );
  });

  test('dispatcher "Reload Failed" (captured: a destination host did not resolve) → warning says a destination was skipped', async () => {
    const kamailio = new FakeKamailio();
    kamailio.script = [() => Promise.reject(capturedError('dispatcher-reload-skipped'))];
    const outcome = await new KamailioSync(kamailio, silent).apply([{ kind: 'dispatcher' }]);
    expect(reloadWarning(outcome)).toMatch(
      /skipped at least one trunk destination \(a proxy host name that does not resolve\?\)/,
    );
  });

  test('a programming error is not turned into a warning', async () => {
    const kamailio = new FakeKamailio();
    kamailio.script = [() => Promise.reject(new TypeError('bug'))];
    await expect(new KamailioSync(kamailio, silent).apply([{ kind: 'address' }])).rejects.toThrow('bug');
  });
});
