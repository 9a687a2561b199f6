import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KamailioControl, KamailioReplyError } from './control';
import { KamailioRpcError, KamailioUnavailableError, type KamailioRpc } from './rpc';

/** A JSON-RPC exchange captured from Kamailio 5.6.3 (see fixtures/). */
interface Capture {
  method: string;
  params: Array<string | number>;
  reply: { result?: unknown; error?: { code: number; message: string } };
}

function capture(name: string): Capture {
  return JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as Capture;
}

/**
 * Replays captured replies: answers a call with the capture whose method and params
 * match (params may be overridden per test), exactly as HttpKamailioRpc would.
 */
class ReplayRpc implements KamailioRpc {
  readonly calls: string[] = [];
  private readonly captures: Capture[];

  constructor(...captures: Capture[]) {
    this.captures = captures;
  }

  async call<T>(method: string, ...params: Array<string | number>): Promise<T> {
    this.calls.push([method, ...params].join(' '));
    const c = this.captures.find((x) => x.method === method && JSON.stringify(x.params) === JSON.stringify(params));
    if (!c) throw new Error(`no capture for ${method} ${JSON.stringify(params)}`);
    if (c.reply.error) throw new KamailioRpcError(method, c.reply.error.code, c.reply.error.message);
    return c.reply.result as T;
  }
}

function as(c: Capture, params: Array<string | number>): Capture {
  return { ...c, params };
}

const policy = { maxFailures: 5, lockSeconds: 900 };
const fixedNow = new Date('2026-11-25T08:35:00.000Z');

describe('KamailioControl over captured Kamailio 5.6 replies', () => {
  test('lockState: failures and lock set → locked with count, lock time and expiry', async () => {
    const lock = capture('htable-get-lockout');
    const rpc = new ReplayRpc(capture('htable-get-authfail'), lock);
    const state = await new KamailioControl(rpc, policy).lockState('alice');
    const lockedAt = (lock.reply.result as { item: { value: number } }).item.value;
    expect(state).toEqual({
      locked: true,
      failed_attempts: 3,
      max_failures: 5,
      locked_at: new Date(lockedAt * 1000).toISOString(),
      locked_until: new Date((lockedAt + 900) * 1000).toISOString(),
    });
  });

  test('lockState: keys absent (htable.get error 500 "doesn\'t exist") → unlocked, 0 attempts', async () => {
    const missing = capture('htable-get-missing');
    const rpc = new ReplayRpc(as(missing, ['authfail', 'bob']), as(missing, ['lockout', 'bob']));
    expect(await new KamailioControl(rpc, policy).lockState('bob')).toEqual({
      locked: false,
      failed_attempts: 0,
      max_failures: 5,
      locked_at: null,
      locked_until: null,
    });
  });

  test('lockStates of several users → two htable.dump calls, one state each', async () => {
    const rpc = new ReplayRpc(capture('htable-dump-authfail'), as(capture('htable-dump-empty'), ['lockout']));
    const states = await new KamailioControl(rpc, policy).lockStates(['alice', 'dave', 'zed']);
    expect(rpc.calls).toEqual(['htable.dump authfail', 'htable.dump lockout']);
    expect(states.get('alice')).toMatchObject({ locked: false, failed_attempts: 3 });
    expect(states.get('dave')).toMatchObject({ locked: false, failed_attempts: 2 });
    expect(states.get('zed')).toMatchObject({ locked: false, failed_attempts: 0 });
  });

  test('unlock: deletes lockout and authfail; "Key not found" (404) is fine', async () => {
    const missing = capture('htable-delete-missing');
    const rpc = new ReplayRpc(as(capture('htable-delete'), ['lockout', 'carol']), as(missing, ['authfail', 'carol']));
    await new KamailioControl(rpc, policy).unlock('carol');
    expect(rpc.calls).toEqual(['htable.delete lockout carol', 'htable.delete authfail carol']);
  });

  test('activeCalls: dlg.profile_get_size caller <user> → the count', async () => {
    const rpc = new ReplayRpc(capture('dlg-profile-size'));
    expect(await new KamailioControl(rpc, policy).activeCalls('alice')).toBe(1);
  });

  test('registrations: ul.lookup → contacts with expiry, user agent, "[not set]" as null', async () => {
    const rpc = new ReplayRpc(capture('ul-lookup'));
    const contacts = await new KamailioControl(rpc, policy, () => fixedNow).registrations('alice');
    expect(contacts).toHaveLength(2);
    expect(contacts[0]).toEqual({
      contact: 'sip:alice@127.0.0.1:35070;transport=udp',
      state: 'active',
      expires_in: 3599,
      expires_at: new Date(fixedNow.getTime() + 3599_000).toISOString(),
      user_agent: 'fixture-phone/1.0',
      received: null,
      socket: 'udp:127.0.0.1:25060',
      instance: '<urn:uuid:00000000-0000-0000-0000-000000000070>',
      call_id: 'alice-35070@test',
      last_modified: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(contacts[1]).toMatchObject({ expires_in: 599, contact: 'sip:alice@127.0.0.1:35071;transport=udp' });
  });

  test('registrations: "AOR not found" (error 500) → []', async () => {
    const rpc = new ReplayRpc(capture('ul-lookup-missing'));
    expect(await new KamailioControl(rpc, policy).registrations('bob')).toEqual([]);
  });

  test('registrations: a permanent contact → state permanent, no expiry', async () => {
    const lookup = capture('ul-lookup');
    const result = lookup.reply.result as { Contacts: Array<{ Contact: Record<string, unknown> }> };
    const first = result.Contacts[0] as { Contact: Record<string, unknown> };
    const permanent = { ...lookup, reply: { result: { ...result, Contacts: [{ Contact: { ...first.Contact, Expires: 'permanent' } }] } } };
    const [contact] = await new KamailioControl(new ReplayRpc(permanent), policy).registrations('alice');
    expect(contact).toMatchObject({ state: 'permanent', expires_in: null, expires_at: null });
  });

  test('dropRegistrations: ul.rm → done, also when there was nothing', async () => {
    const rpc = new ReplayRpc(capture('ul-rm'));
    await expect(new KamailioControl(rpc, policy).dropRegistrations('alice')).resolves.toBeUndefined();
    expect(rpc.calls).toEqual(['ul.rm location alice']);
  });

  test('stats: stats.fetch all → numbers keyed group.name', async () => {
    const stats = await new KamailioControl(new ReplayRpc(capture('stats-fetch')), policy).stats();
    expect(stats.get('usrloc.registered_users')).toBe(2);
    expect(stats.get('usrloc.location_contacts')).toBe(3);
    expect(stats.get('dialog.active_dialogs')).toBe(0);
    expect(stats.get('tmx.active_transactions')).toBe(0);
    expect(stats.get('core.rcv_requests')).toBeGreaterThan(0);
  });

  test('info: core.version and core.uptime → version string and seconds', async () => {
    const info = await new KamailioControl(new ReplayRpc(capture('core-version'), capture('core-uptime')), policy).info();
    expect(info.version).toBe('kamailio 5.6.3 (x86_64/linux)');
    expect(info.uptime_seconds).toBeGreaterThanOrEqual(0);
  });

  test('a reply of the wrong shape → KamailioReplyError naming the method', async () => {
    const bogus: Capture = { method: 'ul.lookup', params: ['location', 'alice'], reply: { result: { AoR: 'alice', Contacts: 'none' } } };
    await expect(new KamailioControl(new ReplayRpc(bogus), policy).registrations('alice')).rejects.toThrow(KamailioReplyError);
  });

  test('other RPC errors (no such htable) → propagate', async () => {
    const wrong: Capture = { method: 'htable.get', params: ['authfail', 'x'], reply: { error: { code: 500, message: 'No such htable' } } };
    const ok = as(capture('htable-get-missing'), ['lockout', 'x']);
    await expect(new KamailioControl(new ReplayRpc(wrong, ok), policy).lockState('x')).rejects.toThrow(KamailioRpcError);
  });

  test('Kamailio down → KamailioUnavailableError propagates', async () => {
    const down: KamailioRpc = {
      call: (method) => Promise.reject(new KamailioUnavailableError(method, 'ECONNREFUSED')),
    };
    await expect(new KamailioControl(down, policy).activeCalls('alice')).rejects.toThrow(KamailioUnavailableError);
  });
});
