import { createLogger } from '../../../common/src/logger';
import type { Reload } from './kamailio-rows';
import { KamailioReconciler, reloadsFor, type KamailioState } from './kamailio-reconciler';

const state = (over: Partial<KamailioState['tables']> = {}, regs: Array<[string, string]> = []): KamailioState => ({
  tables: { dispatcher: 'd1', address: 'a1', did: 'n1', blocked: 'b1', trunk_auth: 't1', ...over },
  registrations: new Map(regs),
});

describe('trunk sync reconciliation', () => {
  test('nothing synced yet (a new leader) → every table reloaded, registrations left alone', () => {
    expect(reloadsFor(undefined, state({}, [['t1', 'x']]))).toEqual([
      { kind: 'dispatcher' },
      { kind: 'address' },
      { kind: 'htable', table: 'did' },
      { kind: 'htable', table: 'blocked' },
      { kind: 'htable', table: 'trunk_auth' },
    ]);
  });

  test('only what changed is reloaded; a registration added, changed or removed is refreshed', () => {
    const before = state({}, [
      ['keep', 'k'],
      ['change', 'c1'],
      ['gone', 'g'],
    ]);
    const after = state({ address: 'a2' }, [
      ['keep', 'k'],
      ['change', 'c2'],
      ['new', 'n'],
    ]);
    expect(reloadsFor(before, after)).toEqual([
      { kind: 'address' },
      { kind: 'registration', l_uuid: 'change' },
      { kind: 'registration', l_uuid: 'gone' },
      { kind: 'registration', l_uuid: 'new' },
    ]);
    expect(reloadsFor(after, after)).toEqual([]);
  });

  test('a pass Kamailio refused part of → the next pass reloads everything again', async () => {
    const applied: Reload[][] = [];
    let fail = true;
    const reconciler = new KamailioReconciler({
      state: { read: () => Promise.resolve(state()) },
      apply: (reloads) => {
        applied.push([...reloads]);
        const failures = fail ? [{ rpc: 'dispatcher.reload', problem: 'down' }] : [];
        fail = false;
        return Promise.resolve({ failures });
      },
      intervalMs: 1000,
      logger: createLogger('test', 'error'),
    });
    await reconciler.reconcile();
    await reconciler.reconcile();
    await reconciler.reconcile();
    expect(applied.map((a) => a.length)).toEqual([5, 5]);
  });
});
