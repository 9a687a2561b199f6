import { Client } from 'pg';
import { HttpKamailioRpc, KamailioRpcError, kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { api, createUser, type ApiResponse } from '../support/api';
import { testStack } from '../support/stack';

/**
 * Numbers (DIDs) and the blocklist against the test stack's control-plane, PostgreSQL
 * and Kamailio: each change must be in the views Kamailio loads (did_htable,
 * blocked_htable) and, after the reload the API asks for, in Kamailio's htables.
 * Numbers come from Ofcom's drama range (+44 20 7946 0xxx) with a per-run offset, so
 * other suites' numbers never meet these.
 */

interface NumberBody {
  number: string;
  route_type: string;
  target: string | null;
  ai_dialect: string | null;
  ai_agent_url: string | null;
  ai_options: Record<string, unknown> | null;
  forward_timeout_seconds: number | null;
  forward_fallback: string | null;
  trunk_id: string | null;
  recording_enabled: boolean;
  enabled: boolean;
  description: string | null;
  kamailio_route: string | null;
  created_at: string;
  updated_at: string;
  warning?: string;
}

interface BlockedBody {
  number: string;
  reason: string | null;
  blocked_at: string;
  blocked_calls: number | null;
  already_blocked?: boolean;
  warning?: string;
}

interface ErrorBody {
  error: { code: string; message: string; fields?: Array<{ field: string; message: string }> };
}

const offset = Math.floor(Math.random() * 900);
let serial = 0;
/** A fresh UK drama-range number, e.g. +442079460123. */
function nextNumber(): string {
  serial++;
  return `+44207946${String((offset + serial) % 1000).padStart(4, '0')}`;
}

const op = <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> =>
  api<T>(method, path, { role: 'operator', body });

function rpc(): HttpKamailioRpc {
  return kamailioRpcFromConfig(testStack().config);
}

/** The value Kamailio's htable holds for a key, or null when it holds none. */
async function htableValue(table: string, key: string): Promise<string | number | null> {
  try {
    const reply = await rpc().call<{ item: { value: string | number } }>('htable.get', table, key);
    return reply.item.value;
  } catch (err) {
    if (err instanceof KamailioRpcError && /doesn't exist|not found/i.test(err.message)) return null;
    throw err;
  }
}

async function viewRow(
  view: 'did_htable' | 'blocked_htable',
  key: string,
): Promise<Record<string, unknown> | undefined> {
  const client = new Client({ connectionString: testStack().env['DATABASE_URL'] });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT key_name, key_type, value_type, key_value, expires FROM ${view} WHERE key_name = $1`,
      [key],
    );
    return rows[0] as Record<string, unknown> | undefined;
  } finally {
    await client.end();
  }
}

async function fresh(number: string): Promise<string> {
  await op('DELETE', `/api/numbers/${encodeURIComponent(number)}`);
  return number;
}

describe("numbers: routes of DIDs, in Kamailio's htable did", () => {
  test('sip_user route → 201 with the route Kamailio holds; did_htable and htable did agree', async () => {
    const bob = await createUser();
    const number = await fresh(nextNumber());
    const res = await op<NumberBody>('POST', '/api/numbers/', {
      number,
      route_type: 'sip_user',
      target: bob.username,
      description: 'Main line',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      number,
      route_type: 'sip_user',
      target: bob.username,
      ai_dialect: null,
      ai_agent_url: null,
      ai_options: null,
      trunk_id: null,
      recording_enabled: false,
      enabled: true,
      description: 'Main line',
      kamailio_route: `sip_user|${bob.username}`,
    });
    expect(res.body.warning).toBeUndefined();
    const digits = number.slice(1);
    expect(await viewRow('did_htable', digits)).toEqual({
      key_name: digits,
      key_type: 0,
      value_type: 0,
      key_value: `sip_user|${bob.username}`,
      expires: 0,
    });
    expect(await htableValue('did', digits)).toBe(`sip_user|${bob.username}`);
  });

  test('typed form "+44 20 7946 0xxx" → stored and keyed in E.164; GET by +, %2B and bare digits', async () => {
    const number = await fresh(nextNumber());
    const typed = `+44 20 7946 ${number.slice(-4)}`;
    const res = await op<NumberBody>('POST', '/api/numbers/', {
      number: typed,
      route_type: 'queue',
      target: 'support',
    });
    expect(res.status).toBe(201);
    expect(res.body.number).toBe(number);
    for (const path of [number, encodeURIComponent(number), number.slice(1)]) {
      const got = await op<NumberBody>('GET', `/api/numbers/${path}`);
      expect([path, got.status, got.body.number]).toEqual([path, 200, number]);
    }
  });

  test('ai route → dialect olib by default, ai|<DID digits> in Kamailio; twilio dialect, wss agent URL and options kept', async () => {
    const plain = await fresh(nextNumber());
    const a = await op<NumberBody>('POST', '/api/numbers/', { number: plain, route_type: 'ai' });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      route_type: 'ai',
      target: null,
      ai_dialect: 'olib',
      ai_agent_url: null,
      ai_options: {},
      kamailio_route: `ai|${plain.slice(1)}`,
    });
    expect(await htableValue('did', plain.slice(1))).toBe(`ai|${plain.slice(1)}`);

    const custom = await fresh(nextNumber());
    const b = await op<NumberBody>('POST', '/api/numbers/', {
      number: custom,
      route_type: 'ai',
      ai_dialect: 'twilio',
      ai_agent_url: 'wss://agent.example.com/media',
      ai_options: { greeting: 'Hello', voice: 'alloy' },
      recording_enabled: true,
    });
    expect(b.status).toBe(201);
    expect(b.body).toMatchObject({
      ai_dialect: 'twilio',
      ai_agent_url: 'wss://agent.example.com/media',
      ai_options: { greeting: 'Hello', voice: 'alloy' },
      recording_enabled: true,
    });
  });

  test('ivr and forward routes → ivr|<name>, forward|<E.164>|<seconds>|<fallback>', async () => {
    const ivr = await fresh(nextNumber());
    expect(
      (await op<NumberBody>('POST', '/api/numbers/', { number: ivr, route_type: 'ivr', target: 'main-menu' })).body
        .kamailio_route,
    ).toBe('ivr|main-menu');
    const forward = await fresh(nextNumber());
    const res = await op<NumberBody>('POST', '/api/numbers/', {
      number: forward,
      route_type: 'forward',
      target: '+1 (415) 555-0123',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      target: '+14155550123',
      forward_timeout_seconds: 30,
      forward_fallback: 'none',
      ai_dialect: null,
      kamailio_route: 'forward|+14155550123|30|none',
    });
    expect(await htableValue('did', forward.slice(1))).toBe('forward|+14155550123|30|none');
  });

  test('forward to a SIP user with an AI fallback → its ring time and AI settings stored, forward|<user>|<s>|ai in Kamailio', async () => {
    const bob = await createUser();
    const number = await fresh(nextNumber());
    const res = await op<NumberBody>('POST', '/api/numbers/', {
      number,
      route_type: 'forward',
      target: bob.username,
      forward_timeout_seconds: 12,
      forward_fallback: 'ai',
      ai_options: { greeting: 'Bob is busy' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      target: bob.username,
      forward_timeout_seconds: 12,
      forward_fallback: 'ai',
      ai_dialect: 'olib',
      ai_agent_url: null,
      ai_options: { greeting: 'Bob is busy' },
      kamailio_route: `forward|${bob.username}|12|ai`,
    });
    expect(await htableValue('did', number.slice(1))).toBe(`forward|${bob.username}|12|ai`);

    // The fallback off: the AI settings stay for next time; the ring time is kept.
    const off = await op<NumberBody>('PUT', `/api/numbers/${number.slice(1)}`, { forward_fallback: 'none' });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({
      forward_fallback: 'none',
      forward_timeout_seconds: 12,
      ai_options: { greeting: 'Bob is busy' },
    });
    expect(await htableValue('did', number.slice(1))).toBe(`forward|${bob.username}|12|none`);

    // Another route type drops the forward fields.
    const ai = await op<NumberBody>('PUT', `/api/numbers/${number.slice(1)}`, { route_type: 'ai' });
    expect(ai.body).toMatchObject({ route_type: 'ai', forward_timeout_seconds: null, forward_fallback: null });
  });

  test('+0987654321 (not E.164: no country code starts with 0) → 400 naming the field "number"', async () => {
    const res = await op<ErrorBody>('POST', '/api/numbers/', { number: '+0987654321', route_type: 'ai' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_VALIDATION');
    expect(res.body.error.fields?.[0]).toEqual({
      field: 'number',
      message: expect.stringMatching(/country calling code/),
    });
    expect(res.body.error.message).toMatch(/^request body is invalid: number /);
  });

  test.each([
    [{ route_type: 'sip_user' }, 'target', /required for route_type sip_user/],
    [{ route_type: 'sip_user', target: 'nobody-by-this-name' }, 'target', /names no SIP user/],
    [{ route_type: 'forward', target: '0987654321' }, 'target', /neither an E\.164 number .* nor a SIP user/],
    [{ route_type: 'forward', target: '+0987654321' }, 'target', /country calling code/],
    [
      { route_type: 'forward', target: '+14155550123', forward_timeout_seconds: 4 },
      'forward_timeout_seconds',
      /must be >= 5/,
    ],
    [
      { route_type: 'forward', target: '+14155550123', forward_timeout_seconds: 121 },
      'forward_timeout_seconds',
      /must be <= 120/,
    ],
    [
      { route_type: 'forward', target: '+14155550123', forward_fallback: 'voicemail' },
      'forward_fallback',
      /allowed values/,
    ],
    [{ route_type: 'ai', forward_fallback: 'ai' }, 'forward_fallback', /only allowed with route_type forward/],
    [
      { route_type: 'queue', target: 'support', ai_dialect: 'twilio' },
      'ai_dialect',
      /only allowed with route_type ai or forward/,
    ],
    [{ route_type: 'ai', ai_agent_url: 'http://agent.example.com/' }, 'ai_agent_url', /must match pattern/],
    [{ route_type: 'ai', trunk_id: 'no_such_trunk_here' }, 'trunk_id', /names no trunk/],
    [{ route_type: 'voicemail' }, 'route_type', /must be equal to one of the allowed values/],
  ])('%j → 400 naming %s', async (fields, field, message) => {
    const res = await op<ErrorBody>('POST', '/api/numbers/', { number: nextNumber(), ...fields });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toContainEqual({ field, message: expect.stringMatching(message) });
  });

  test('the same number twice → 409 ERR_NUMBER_EXISTS', async () => {
    const number = await fresh(nextNumber());
    expect((await op('POST', '/api/numbers/', { number, route_type: 'ai' })).status).toBe(201);
    const again = await op<ErrorBody>('POST', '/api/numbers/', { number, route_type: 'ivr', target: 'x' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ERR_NUMBER_EXISTS');
  });

  test('PUT a new route_type → the whole route replaced, Kamailio routes it the new way; disable → gone from htable did', async () => {
    const number = await fresh(nextNumber());
    await op('POST', '/api/numbers/', { number, route_type: 'ai', ai_dialect: 'binary' });
    const changed = await op<NumberBody>('PUT', `/api/numbers/${number.slice(1)}`, {
      route_type: 'queue',
      target: 'sales',
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      route_type: 'queue',
      target: 'sales',
      ai_dialect: null,
      ai_options: null,
      kamailio_route: 'queue|sales',
    });
    expect(await htableValue('did', number.slice(1))).toBe('queue|sales');

    const description = await op<NumberBody>('PUT', `/api/numbers/${number.slice(1)}`, { description: 'Sales queue' });
    expect(description.body).toMatchObject({ route_type: 'queue', target: 'sales', description: 'Sales queue' });

    const disabled = await op<NumberBody>('PUT', `/api/numbers/${number.slice(1)}`, { enabled: false });
    expect(disabled.body).toMatchObject({ enabled: false, kamailio_route: null });
    expect(await viewRow('did_htable', number.slice(1))).toBeUndefined();
    expect(await htableValue('did', number.slice(1))).toBeNull();
  });

  test('PUT a route_type without its target → 400; the number keeps its route', async () => {
    const number = await fresh(nextNumber());
    await op('POST', '/api/numbers/', { number, route_type: 'ivr', target: 'main' });
    const res = await op<ErrorBody>('PUT', `/api/numbers/${number.slice(1)}`, { route_type: 'forward' });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toContainEqual({ field: 'target', message: 'is required for route_type forward' });
    expect((await op<NumberBody>('GET', `/api/numbers/${number.slice(1)}`)).body.kamailio_route).toBe('ivr|main');
  });

  test('hold_music: a bare .wav name is kept, PUT changes or clears it; a path, a hidden file or another type → 400', async () => {
    const number = await fresh(nextNumber());
    const created = await op<NumberBody & { hold_music: string | null }>('POST', '/api/numbers/', {
      number,
      route_type: 'ai',
      hold_music: 'Jazz_loop-1.wav',
    });
    expect(created.status).toBe(201);
    expect(created.body.hold_music).toBe('Jazz_loop-1.wav');
    const path = `/api/numbers/${number.slice(1)}`;
    for (const hostile of [
      '../../etc/passwd.wav',
      '..%2Fx.wav',
      'dir/x.wav',
      '/abs.wav',
      '.hidden.wav',
      'x.mp3',
      'x.wav\n',
    ]) {
      const res = await op<ErrorBody>('PUT', path, { hold_music: hostile });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('ERR_VALIDATION');
      expect(res.body.error.fields?.[0]?.field).toBe('hold_music');
    }
    expect((await op<{ hold_music: string | null }>('GET', path)).body.hold_music).toBe('Jazz_loop-1.wav');
    expect((await op<{ hold_music: string | null }>('PUT', path, { hold_music: null })).body.hold_music).toBeNull();
  });

  test('DELETE → 200, then 404 ERR_NUMBER_NOT_FOUND; Kamailio no longer knows the DID', async () => {
    const number = await fresh(nextNumber());
    await op('POST', '/api/numbers/', { number, route_type: 'ivr', target: 'main' });
    const deleted = await op('DELETE', `/api/numbers/${encodeURIComponent(number)}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ number, deleted: true });
    expect(await htableValue('did', number.slice(1))).toBeNull();
    const again = await op<ErrorBody>('GET', `/api/numbers/${encodeURIComponent(number)}`);
    expect([again.status, again.body.error.code]).toEqual([404, 'ERR_NUMBER_NOT_FOUND']);
  });

  test('list filters by route_type and by digits; pages', async () => {
    const numbers = [await fresh(nextNumber()), await fresh(nextNumber()), await fresh(nextNumber())];
    for (const number of numbers) await op('POST', '/api/numbers/', { number, route_type: 'ivr', target: 'listing' });
    const byDigits = await op<{ items: NumberBody[]; total: number }>(
      'GET',
      `/api/numbers/?search=${numbers[1]?.slice(-7)}`,
    );
    expect(byDigits.body.items.map((n) => n.number)).toEqual([numbers[1]]);
    const ivrs = await op<{ items: NumberBody[]; total: number; per_page: number }>(
      'GET',
      '/api/numbers/?route_type=ivr&per_page=2&page=1',
    );
    expect(ivrs.body.per_page).toBe(2);
    expect(ivrs.body.items.length).toBeLessThanOrEqual(2);
    expect(ivrs.body.total).toBeGreaterThanOrEqual(3);
    expect(ivrs.body.items.every((n) => n.route_type === 'ivr')).toBe(true);
  });
});

describe('blocked numbers, as the seed: POST /api/numbers/block, DELETE /api/numbers/block/{number}, GET /api/numbers/blocked', () => {
  test('the seed body {"number": "+1234567890", "reason": "Spam caller"} → 201; in blocked_htable and Kamailio\'s htable blocked at once', async () => {
    await op('DELETE', '/api/numbers/block/1234567890');
    const res = await op<BlockedBody>('POST', '/api/numbers/block', { number: '+1234567890', reason: 'Spam caller' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      number: '+1234567890',
      reason: 'Spam caller',
      blocked_calls: 0,
      already_blocked: false,
    });
    expect(res.body.warning).toBeUndefined();
    expect(await viewRow('blocked_htable', '1234567890')).toEqual({
      key_name: '1234567890',
      key_type: 0,
      value_type: 1,
      key_value: '1',
      expires: 0,
    });
    expect(await htableValue('blocked', '1234567890')).toBe(1);

    const listed = await op<{ items: BlockedBody[] }>('GET', '/api/numbers/blocked?per_page=200');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toContainEqual(
      expect.objectContaining({ number: '+1234567890', reason: 'Spam caller', blocked_calls: 0 }),
    );
  });

  test('blocking a blocked number → 200, already_blocked, reason updated', async () => {
    const number = nextNumber();
    await op('DELETE', `/api/numbers/block/${number.slice(1)}`);
    expect((await op('POST', '/api/numbers/block', { number, reason: 'first' })).status).toBe(201);
    const again = await op<BlockedBody>('POST', '/api/numbers/block', { number, reason: 'robocaller' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ number, reason: 'robocaller', already_blocked: true });
  });

  test('calls Kamailio refused (htable blockhits) → blocked_calls per number in the list', async () => {
    const number = nextNumber();
    await op('DELETE', `/api/numbers/block/${number.slice(1)}`);
    await op('POST', '/api/numbers/block', { number, reason: 'counted' });
    // What kamailio.cfg does for each refused call: $sht(blockhits=>digits) + 1.
    await rpc().call('htable.seti', 'blockhits', number.slice(1), 4);
    const listed = await op<{ items: BlockedBody[] }>('GET', '/api/numbers/blocked?per_page=200');
    expect(listed.body.items.find((b) => b.number === number)?.blocked_calls).toBe(4);
  });

  test("unblock → 200 and gone from Kamailio's htable blocked at once; unblocking again → 404 ERR_NUMBER_NOT_BLOCKED", async () => {
    const number = nextNumber();
    await op('DELETE', `/api/numbers/block/${number.slice(1)}`);
    await op('POST', '/api/numbers/block', { number, reason: 'temporary' });
    expect(await htableValue('blocked', number.slice(1))).toBe(1);
    const res = await op('DELETE', `/api/numbers/block/${encodeURIComponent(number)}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ number, unblocked: true });
    expect(await htableValue('blocked', number.slice(1))).toBeNull();
    const again = await op<ErrorBody>('DELETE', `/api/numbers/block/${encodeURIComponent(number)}`);
    expect([again.status, again.body.error.code]).toEqual([404, 'ERR_NUMBER_NOT_BLOCKED']);
  });

  test('blocking +0987654321 → 400 naming "number"; no token → 401', async () => {
    const res = await op<ErrorBody>('POST', '/api/numbers/block', { number: '+0987654321', reason: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error.fields?.[0]?.field).toBe('number');
    expect((await api('GET', '/api/numbers/blocked')).status).toBe(401);
  });

  test('operator and admin tokens may both manage the blocklist', async () => {
    const number = nextNumber();
    await op('DELETE', `/api/numbers/block/${number.slice(1)}`);
    expect((await api('POST', '/api/numbers/block', { role: 'admin', body: { number } })).status).toBe(201);
    expect((await api('DELETE', `/api/numbers/block/${number.slice(1)}`, { role: 'admin' })).status).toBe(200);
  });
});
