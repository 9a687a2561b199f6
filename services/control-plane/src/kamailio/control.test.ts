import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KamailioControl, KamailioReplyError } from './control';
import { KamailioRpcError, KamailioUnavailableError, type KamailioRpc } from '../../../common/src/kamailio/rpc';

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

const policy = { maxFailures: 5, lockSeconds: 900, sourceBanSeconds: 3600, floodBanSeconds: 300 };
const fixedNow = new Date('2026-11-25T08:35:00.000Z');

describe('KamailioControl over captured Kamailio 5.6 replies', () => {
  /** An htable.dump reply shaped like the captured one, with these items. */
  function dump(table: string, items: Record<string, number | string>): Capture {
    const base = capture('htable-dump-authfail');
    const result = Object.entries(items).map(([name, value], entry) => ({
      entry,
      size: 1,
      slot: [{ name, value, type: typeof value === 'number' ? 'int' : 'str' }],
    }));
    return { ...base, params: [table], reply: { ...base.reply, result } };
  }

  test('lockState: failures from two sources, one source locked, no account-wide lock → per-source lock listed', async () => {
    const rpc = new ReplayRpc(
      dump('authfail', { 'alice@127.0.0.5': 2, 'alice@127.0.0.7': 1, 'bob@127.0.0.5': 4 }),
      dump('pairlock', { 'alice@127.0.0.9': 1795595683 }),
      dump('lockout', {}),
    );
    const state = await new KamailioControl(rpc, policy).lockState('alice');
    expect(state).toEqual({
      locked: false,
      failed_attempts: 3,
      max_failures: 5,
      locked_at: null,
      locked_until: null,
      locked_sources: [
        {
          source: '127.0.0.9',
          locked_at: new Date(1795595683 * 1000).toISOString(),
          locked_until: new Date((1795595683 + 900) * 1000).toISOString(),
        },
      ],
    });
  });

  test('lockStates of several users → three htable.dump calls, one state each; account-wide lock with its expiry', async () => {
    const rpc = new ReplayRpc(
      capture('htable-dump-authfail'),
      as(capture('htable-dump-empty'), ['pairlock']),
      dump('lockout', { dave: 1795595683 }),
    );
    const states = await new KamailioControl(rpc, policy).lockStates(['alice', 'dave', 'zed']);
    expect(rpc.calls).toEqual(['htable.dump authfail', 'htable.dump pairlock', 'htable.dump lockout']);
    // The captured keys are bare usernames (before keys named the source): not counted.
    expect(states.get('alice')).toMatchObject({ locked: false, failed_attempts: 0, locked_sources: [] });
    expect(states.get('dave')).toMatchObject({
      locked: true,
      locked_until: new Date((1795595683 + 900) * 1000).toISOString(),
    });
    expect(states.get('zed')).toMatchObject({ locked: false, failed_attempts: 0 });
  });

  test('securityLocks: account-wide locks, source locks of accounts and bans with reason and expiry per reason', async () => {
    const rpc = new ReplayRpc(
      dump('pairlock', { 'alice@127.0.0.5': 1795595000 }),
      dump('lockout', { carol: 1795595100 }),
      dump('ipban', { '127.0.0.5': 'brute_force:1795595200', '127.0.0.9': 'flood:1795595300', '127.0.0.11': 1 }),
    );
    const locks = await new KamailioControl(rpc, policy).securityLocks();
    const iso = (s: number): string => new Date(s * 1000).toISOString();
    expect(locks).toEqual({
      accounts: [{ username: 'carol', locked_at: iso(1795595100), locked_until: iso(1795595100 + 900) }],
      account_sources: [
        { username: 'alice', source: '127.0.0.5', locked_at: iso(1795595000), locked_until: iso(1795595000 + 900) },
      ],
      sources: [
        { source: '127.0.0.11', reason: 'unknown', banned_at: null, banned_until: null },
        {
          source: '127.0.0.5',
          reason: 'brute_force',
          banned_at: iso(1795595200),
          banned_until: iso(1795595200 + 3600),
        },
        { source: '127.0.0.9', reason: 'flood', banned_at: iso(1795595300), banned_until: iso(1795595300 + 300) },
      ],
    });
  });

  test('unlock: deletes the account-wide lock and every source lock and count of that account only; "Key not found" (404) is fine', async () => {
    const missing = capture('htable-delete-missing');
    const deleted = capture('htable-delete');
    const rpc = new ReplayRpc(
      dump('authfail', { 'carol@127.0.0.5': 2, 'carola@127.0.0.5': 1 }),
      dump('pairlock', { 'carol@127.0.0.9': 1795595683 }),
      as(deleted, ['lockout', 'carol']),
      as(missing, ['acctsrc', 'carol']),
      as(missing, ['pairlock', 'carol@127.0.0.5']),
      as(deleted, ['authfail', 'carol@127.0.0.5']),
      as(deleted, ['pairlock', 'carol@127.0.0.9']),
      as(missing, ['authfail', 'carol@127.0.0.9']),
    );
    await new KamailioControl(rpc, policy).unlock('carol');
    expect(rpc.calls.filter((c) => c.startsWith('htable.delete'))).toEqual([
      'htable.delete lockout carol',
      'htable.delete acctsrc carol',
      'htable.delete pairlock carol@127.0.0.5',
      'htable.delete authfail carol@127.0.0.5',
      'htable.delete pairlock carol@127.0.0.9',
      'htable.delete authfail carol@127.0.0.9',
    ]);
  });

  test('clearBan: true when the source was banned, its counts deleted as well', async () => {
    const missing = capture('htable-delete-missing');
    const rpc = new ReplayRpc(
      as(capture('htable-delete'), ['ipban', '127.0.0.5']),
      as(missing, ['srcfail', '127.0.0.5']),
      as(missing, ['srcacct', '127.0.0.5']),
    );
    expect(await new KamailioControl(rpc, policy).clearBan('127.0.0.5')).toBe(true);
    expect(rpc.calls).toEqual([
      'htable.delete ipban 127.0.0.5',
      'htable.delete srcfail 127.0.0.5',
      'htable.delete srcacct 127.0.0.5',
    ]);
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
    const permanent = {
      ...lookup,
      reply: { result: { ...result, Contacts: [{ Contact: { ...first.Contact, Expires: 'permanent' } }] } },
    };
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
    const info = await new KamailioControl(
      new ReplayRpc(capture('core-version'), capture('core-uptime')),
      policy,
    ).info();
    expect(info.version).toBe('kamailio 5.6.3 (x86_64/linux)');
    expect(info.uptime_seconds).toBeGreaterThanOrEqual(0);
  });

  test('a reply of the wrong shape → KamailioReplyError naming the method', async () => {
    const bogus: Capture = {
      method: 'ul.lookup',
      params: ['location', 'alice'],
      reply: { result: { AoR: 'alice', Contacts: 'none' } },
    };
    await expect(new KamailioControl(new ReplayRpc(bogus), policy).registrations('alice')).rejects.toThrow(
      KamailioReplyError,
    );
  });

  test('other RPC errors (no such htable) → propagate', async () => {
    const wrong: Capture = {
      method: 'htable.dump',
      params: ['authfail'],
      reply: { error: { code: 500, message: 'No such htable' } },
    };
    const empty = capture('htable-dump-empty');
    const rpc = new ReplayRpc(wrong, as(empty, ['pairlock']), as(empty, ['lockout']));
    await expect(new KamailioControl(rpc, policy).lockState('x')).rejects.toThrow(KamailioRpcError);
  });

  test('Kamailio down → KamailioUnavailableError propagates', async () => {
    const down: KamailioRpc = {
      call: (method) => Promise.reject(new KamailioUnavailableError(method, 'ECONNREFUSED')),
    };
    await expect(new KamailioControl(down, policy).activeCalls('alice')).rejects.toThrow(KamailioUnavailableError);
  });
});
