import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KamailioControl, uacRegistrationState } from './control';
import { KamailioRpcError, type KamailioRpc } from '../../../common/src/kamailio/rpc';

/**
 * The routing side of KamailioControl (dispatcher, permissions, uac registrations,
 * dialog profile `trunk`, htables) over replies captured from Kamailio 5.6.3 with
 * dispatcher probing a SIPp UAS (127.0.0.2, answering OPTIONS) and a dead address
 * (127.0.0.4), and uac registering to a SIPp registrar with digest (127.0.0.3).
 */
interface Capture {
  method: string;
  params: Array<string | number>;
  reply: { result?: unknown; error?: { code: number; message: string } };
}

function capture(name: string): Capture {
  return JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as Capture;
}

function as(c: Capture, params: Array<string | number>): Capture {
  return { ...c, params };
}

class ReplayRpc implements KamailioRpc {
  readonly calls: string[] = [];
  constructor(private readonly captures: Capture[]) {}

  async call<T>(method: string, ...params: Array<string | number>): Promise<T> {
    this.calls.push([method, ...params].join(' '));
    const c = this.captures.find((x) => x.method === method && JSON.stringify(x.params) === JSON.stringify(params));
    if (!c) throw new Error(`no capture for ${method} ${JSON.stringify(params)}`);
    if (c.reply.error) throw new KamailioRpcError(method, c.reply.error.code, c.reply.error.message);
    return c.reply.result as T;
  }
}

const policy = { maxFailures: 5, lockSeconds: 900, sourceBanSeconds: 3600, floodBanSeconds: 300 };
const control = (...captures: Capture[]): { kamailio: KamailioControl; rpc: ReplayRpc } => {
  const rpc = new ReplayRpc(captures);
  return { kamailio: new KamailioControl(rpc, policy), rpc };
};

describe('dispatcher', () => {
  test('dispatcher.list → each destination with its state: AP = active and probed, IP = unreachable', async () => {
    const { kamailio } = control(capture('dispatcher-list'));
    expect(await kamailio.dispatcherList()).toEqual([
      {
        setid: 1,
        uri: 'sip:127.0.0.4:26070;transport=udp',
        flags: 'IP',
        state: 'inactive',
        probing: true,
        priority: 991,
        attrs: 'trunk=dead;weight=1;maxcalls=5;cps=2',
      },
      {
        setid: 1,
        uri: 'sip:127.0.0.2:26070;transport=udp',
        flags: 'AP',
        state: 'active',
        probing: true,
        priority: 901,
        attrs: 'trunk=alpha;weight=1;maxcalls=100;cps=10',
      },
    ]);
  });

  test('dispatcher.list with no sets loaded (500 "No Destination Sets") → []', async () => {
    const { kamailio } = control(capture('dispatcher-list-empty'));
    expect(await kamailio.dispatcherList()).toEqual([]);
  });

  test('dispatcher.reload answered → resolves; "Reload Failed" (a host did not resolve) → KamailioRpcError', async () => {
    await expect(control(capture('dispatcher-reload')).kamailio.reloadDispatcher()).resolves.toBeUndefined();
    await expect(control(capture('dispatcher-reload-skipped')).kamailio.reloadDispatcher()).rejects.toThrow(
      'dispatcher.reload: 500 Reload Failed',
    );
  });

  test('permissions.addressReload answered → resolves', async () => {
    await expect(control(capture('permissions-address-reload')).kamailio.reloadAddresses()).resolves.toBeUndefined();
  });
});

describe('uac registrations', () => {
  test('registered record (flags INIT|ONLINE) → registered with seconds left; the password goes no further', async () => {
    const captured = capture('uac-reg-info-registered');
    const { kamailio } = control(captured);
    const registration = await kamailio.registration('regtrunk');
    const secondsLeft = (captured.reply.result as { diff_expires: number }).diff_expires;
    expect(secondsLeft).toBeGreaterThan(0);
    expect(registration).toEqual({
      l_uuid: 'regtrunk',
      state: 'registered',
      flags: 20,
      expires: 300,
      expires_in: secondsLeft,
    });
    expect(JSON.stringify(registration)).not.toContain('trunk-secret-1');
  });

  test('refused by the registrar (403; INIT only, retry pending) → failed', async () => {
    const { kamailio } = control(as(capture('uac-reg-info-failed'), ['l_uuid', 'badtrunk']));
    expect(await kamailio.registration('badtrunk')).toMatchObject({ state: 'failed', flags: 16 });
  });

  test('REGISTER sent to a dead address, no answer yet (INIT|ONGOING) → registering', async () => {
    const { kamailio } = control(as(capture('uac-reg-info-ongoing'), ['l_uuid', 'deadreg']));
    expect(await kamailio.registration('deadreg')).toMatchObject({ state: 'registering', flags: 18 });
  });

  test('disabled with uac.reg_disable (DISABLED|INIT) → disabled', async () => {
    const { kamailio } = control(as(capture('uac-reg-info-disabled'), ['l_uuid', 'badtrunk']));
    expect(await kamailio.registration('badtrunk')).toMatchObject({ state: 'disabled', flags: 17 });
  });

  test('no such record (404) → undefined', async () => {
    const { kamailio } = control(capture('uac-reg-info-missing'));
    expect(await kamailio.registration('nosuch')).toBeUndefined();
  });

  test('uac.reg_dump → every record without credentials', async () => {
    const { kamailio } = control(capture('uac-reg-dump'));
    const list = await kamailio.registrationList();
    expect(list.map((r) => [r.l_uuid, r.state])).toEqual([
      ['deadreg', 'registering'],
      ['regtrunk', 'registered'],
    ]);
    expect(JSON.stringify(list)).not.toMatch(/password|trunk-secret-1/);
  });

  test.each([
    [0, 0, 'pending'],
    [4 | 16, 10, 'registered'],
    [4 | 16, 0, 'expired'],
    [2 | 16, -3, 'registering'],
    [16, 25, 'failed'],
    [1 | 4 | 16, 100, 'disabled'],
  ])('flags %i with %i s left → %s', (flags, left, state) => {
    expect(uacRegistrationState(flags, left)).toBe(state);
  });

  test('refreshRegistration with a uacreg row → uac.reg_refresh loads it', async () => {
    const { kamailio, rpc } = control(capture('uac-reg-refresh'));
    expect(await kamailio.refreshRegistration('badtrunk')).toBe('refreshed');
    expect(rpc.calls).toEqual(['uac.reg_refresh badtrunk']);
  });

  test('refreshRegistration without a row (404) → uac.reg_remove drops it from memory', async () => {
    const { kamailio, rpc } = control(as(capture('uac-reg-refresh-missing'), ['badtrunk']), capture('uac-reg-remove'));
    expect(await kamailio.refreshRegistration('badtrunk')).toBe('removed');
    expect(rpc.calls).toEqual(['uac.reg_refresh badtrunk', 'uac.reg_remove badtrunk']);
  });

  test('refreshRegistration with neither row nor record → removed, nothing thrown', async () => {
    const { kamailio } = control(
      as(capture('uac-reg-refresh-missing'), ['gone']),
      as(capture('uac-reg-remove-missing'), ['gone']),
    );
    expect(await kamailio.refreshRegistration('gone')).toBe('removed');
  });

  test('uac not loaded ("Method Not Found") → the RPC error surfaces', async () => {
    const { kamailio } = control(as({ ...capture('method-not-found'), method: 'uac.reg_refresh' }, ['x']));
    await expect(kamailio.refreshRegistration('x')).rejects.toThrow('500 Method Not Found');
  });
});

describe('dialog profile trunk and htables', () => {
  test('profile size of one trunk, and of the whole profile', async () => {
    const { kamailio } = control(capture('dlg-profile-size-trunk'), capture('dlg-profile-size-trunk-all'));
    expect(await kamailio.profileSize('trunk', 'alpha')).toBe(0);
    expect(await kamailio.profileSize('trunk')).toBe(0);
  });

  test('profile not defined in kamailio.cfg (404) → KamailioRpcError', async () => {
    const { kamailio } = control(capture('dlg-profile-missing'));
    await expect(kamailio.profileSize('trunk_nosuch', 'alpha')).rejects.toThrow('404 Profile not found');
  });

  test('htable.dump blockhits → counts by number digits', async () => {
    const { kamailio } = control(capture('htable-dump-blockhits'));
    expect(await kamailio.htableItems('blockhits')).toEqual(
      new Map([
        ['15550001111', 1],
        ['1234567890', 3],
      ]),
    );
  });

  test('htable not defined ("No such htable") → KamailioRpcError', async () => {
    const { kamailio } = control(as(capture('htable-dump-missing'), ['blockhits']));
    await expect(kamailio.htableItems('blockhits')).rejects.toThrow('No such htable');
  });

  test('htable.reload did → resolves; unknown htable → KamailioRpcError', async () => {
    await expect(control(capture('htable-reload')).kamailio.reloadHtable('did')).resolves.toBeUndefined();
    await expect(control(capture('htable-reload-missing')).kamailio.reloadHtable('nosuch')).rejects.toThrow(
      'No such htable',
    );
  });

  test('htableDeleteKey of a missing key (captured 404) → fine, answers false', async () => {
    const { kamailio } = control(as(capture('htable-delete-missing'), ['blockhits', '15550001111']));
    await expect(kamailio.htableDeleteKey('blockhits', '15550001111')).resolves.toBe(false);
  });
});
