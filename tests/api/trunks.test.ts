import { lookup } from 'node:dns/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import winston from 'winston';
import { REPO_ROOT } from '../../scripts/stack/env';
import { LocalStack } from '../../scripts/stack/supervisor';
import { loadConfig } from '../../services/common/src/config';
import { connectDatabase } from '../../services/common/src/db/connect';
import { createMediaRelay } from '../../services/common/src/media-relay';
import { createApp } from '../../services/control-plane/src/app';
import { HttpKamailioRpc, KamailioRpcError, kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { api, type ApiResponse } from '../support/api';
import { freeUdpPort, registrarScenario, startSipp } from '../../harness/sipp';
import { stackView, type TestStack } from '../support/stack';

/**
 * The trunk API against its own stack (PostgreSQL, Kamailio, relay, control-plane):
 * trunks change Kamailio's dispatcher set 1, address group 1 and uacreg, which the
 * routing suites of the shared test stack (tests/sip/trunks.test.ts) depend on and
 * reset between tests. Own ports, own database, LOG_LEVEL=debug so the secrets check
 * reads every request's log line.
 */
const OVERRIDES = {
  STACK_INSTANCE: 'test-trunks',
  DB_NAME: 'sipai_test_trunks',
  SIP_PROXY_PORT: '17260',
  SIP_TLS_PORT: '17261',
  API_PORT: '17280',
  KAMAILIO_RPC_PORT: '17281',
  KAMAILIO_EVAPI_PORT: '17248',
  RTPENGINE_NG_PORT: '17223',
  RTPPROXY_CONTROL_PORT: '17225',
  RTP_PORT_MIN: '47000',
  RTP_PORT_MAX: '47499',
  GATEWAY_SIP_PORT: '17270',
  GATEWAY_HTTP_PORT: '17282',
  GATEWAY_RTP_PORT_MIN: '47500',
  GATEWAY_RTP_PORT_MAX: '47999',
  DEMO_AGENT_PORT: '17290',
  SMS_SIP_PORT: '17291',
  LOG_LEVEL: 'debug',
};

/** Where SIPp plays a registrar; the TEST-NET addresses below are never answered. */
const REGISTRAR_IP = '127.0.0.5';

/** The seed README's example bodies, verbatim. */
const SKYETEL = {
  trunk_id: 'skyetel_main',
  name: 'Skyetel Main Trunk',
  provider: 'skyetel',
  proxy_address: 'sip.skyetel.com',
  proxy_port: 5060,
  username: 'your_skyetel_username',
  password: 'your_skyetel_password',
  realm: 'sip.skyetel.com',
  supports_outbound: true,
  supports_inbound: true,
  transport: 'UDP',
  preferred_codecs: ['PCMU', 'PCMA'],
  max_concurrent_calls: 100,
  calls_per_second_limit: 10,
};
const DIDFORSALE = {
  trunk_id: 'didforsale_main',
  name: 'DIDForSale Wholesale Trunk',
  provider: 'didforsale',
  proxy_address: 'sip.didforsale.com',
  proxy_port: 5060,
  username: 'your_did_username',
  password: 'your_did_password',
  supports_outbound: true,
  supports_inbound: true,
  transport: 'UDP',
  preferred_codecs: ['PCMU', 'PCMA'],
};

interface Trunk {
  trunk_id: string;
  name: string;
  provider: string;
  proxy_address: string;
  proxy_port: number;
  transport: string;
  username: string | null;
  has_password: boolean;
  realm: string | null;
  allowed_ips: string[];
  allowed_ips_default: boolean;
  max_concurrent_calls: number;
  calls_per_second_limit: number;
  priority: number;
  weight: number;
  requires_registration: boolean;
  status: string;
  warning?: string;
}

interface TrunkStatus {
  trunk_id: string;
  status: string;
  dispatcher: { state: string; flags: string | null; uri: string; priority: number | null } | null;
  registration: { state: string; expires_in: number | null } | null;
  active_calls: number | null;
  cps: { last_minute_attempts: number; average: number };
  calls: { today: number; total: number; total_duration_seconds: number; last_call_at: string | null };
  last_error: { sip_code: number; sip_reason: string; call_id: string } | null;
  kamailio_error?: string;
}

interface ErrorBody {
  error: { code: string; message: string; fields?: Array<{ field: string; message: string }> };
}

interface KamailioRows {
  dispatcher: Array<Record<string, unknown>>;
  address: Array<Record<string, unknown>>;
  uacreg: Array<Record<string, unknown>>;
  trunkAuth: Array<Record<string, unknown>>;
}

let local: LocalStack;
let stack: TestStack;
let db: Client;
/** Every response body of this suite, for the check that only /credentials shows passwords. */
const bodies: Array<{ path: string; text: string }> = [];

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  role: 'operator' | 'admin' = 'operator',
): Promise<ApiResponse<T>> {
  const res = await api<T>(method, path, { role, body, stack });
  bodies.push({ path, text: JSON.stringify(res.body) });
  return res;
}

function rpc(): HttpKamailioRpc {
  return kamailioRpcFromConfig(stack.config);
}

async function kamailioRows(trunkId: string): Promise<KamailioRows> {
  const q = async (sql: string): Promise<Array<Record<string, unknown>>> =>
    (await db.query(sql, [trunkId])).rows as Array<Record<string, unknown>>;
  return {
    dispatcher: await q(
      'SELECT setid, destination, flags, priority, attrs, description FROM dispatcher WHERE description = $1',
    ),
    address: await q('SELECT grp, ip_addr, mask, port, tag FROM address WHERE tag = $1 ORDER BY ip_addr'),
    uacreg: await q(
      'SELECT l_uuid, l_username, l_domain, r_username, r_domain, realm, auth_username, auth_password, auth_proxy, expires, flags, reg_delay FROM uacreg WHERE l_uuid = $1',
    ),
    trunkAuth: await q(
      "SELECT key_name, key_type, value_type, key_value, expires FROM trunk_auth_htable WHERE key_name LIKE $1 || ':%' ORDER BY key_name",
    ),
  };
}

/** Set-1 destinations Kamailio has loaded, by the trunk named in their attrs. */
async function loadedDestinations(): Promise<Map<string, { uri: string; priority: number }>> {
  let reply: {
    RECORDS: Array<{
      SET: {
        ID: number;
        TARGETS?: Array<{ DEST: { URI: string; PRIORITY: number; ATTRS?: { BODY?: string | null } } }>;
      };
    }>;
  };
  try {
    reply = await rpc().call('dispatcher.list');
  } catch (err) {
    if (err instanceof KamailioRpcError && /no destination sets/i.test(err.message)) return new Map();
    throw err;
  }
  const out = new Map<string, { uri: string; priority: number }>();
  for (const record of reply.RECORDS) {
    if (record.SET.ID !== 1) continue;
    for (const { DEST } of record.SET.TARGETS ?? []) {
      const trunk = /(?:^|;)trunk=([^;]+)/.exec(DEST.ATTRS?.BODY ?? '')?.[1];
      if (trunk) out.set(trunk, { uri: DEST.URI, priority: DEST.PRIORITY });
    }
  }
  return out;
}

/** Address-group-1 entries Kamailio has loaded (single addresses and subnets), as "ip/mask tag". */
async function loadedAddresses(): Promise<string[]> {
  const hosts =
    await rpc().call<Array<{ group: number; item: { ip: string; tag: string } }>>('permissions.addressDump');
  const subnets =
    await rpc().call<Array<{ group: number; item: { ip: string; mask: number; tag: string } }>>(
      'permissions.subnetDump',
    );
  return [
    ...(hosts ?? []).filter((h) => h.group === 1).map((h) => `${h.item.ip} ${h.item.tag}`),
    ...(subnets ?? []).filter((s) => s.group === 1).map((s) => `${s.item.ip}/${s.item.mask} ${s.item.tag}`),
  ];
}

async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 25_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    last = await read();
  }
  return last;
}

beforeAll(async () => {
  local = new LocalStack({ instance: 'test', freshDatabase: true, overrides: OVERRIDES });
  await local.start();
  stack = stackView(local.env);
  db = new Client({ connectionString: stack.env['DATABASE_URL'] });
  await db.connect();
}, 120_000);

afterAll(async () => {
  await db?.end();
  await local?.stop();
});

describe("trunks: the seed's example bodies", () => {
  test('Skyetel body → 201 as sent, defaults filled in, password stored but not shown, host-name allowlist warning', async () => {
    const res = await call<Trunk>('POST', '/api/trunks/', SKYETEL);
    expect(res.status).toBe(201);
    const { password: _password, ...shown } = SKYETEL;
    expect(res.body).toMatchObject({
      ...shown,
      has_password: true,
      allowed_ips: [],
      allowed_ips_default: true,
      priority: 100,
      weight: 1,
      requires_registration: false,
      status: 'active',
    });
    expect(res.body).not.toHaveProperty('password');
    expect(res.body.warning).toMatch(/proxy_address sip\.skyetel\.com is a host name.*allowed_ips/);
    expect((await db.query('SELECT password FROM trunks WHERE trunk_id = $1', ['skyetel_main'])).rows).toEqual([
      { password: 'your_skyetel_password' },
    ]);
  });

  test('Skyetel → dispatcher set 1 row (priority 1001 - 100, attrs trunk;weight;maxcalls;cps), no allowlist, trunk_auth entries', async () => {
    expect(await kamailioRows('skyetel_main')).toEqual({
      dispatcher: [
        {
          setid: 1,
          destination: 'sip:sip.skyetel.com:5060;transport=udp',
          flags: 0,
          priority: 901,
          attrs: 'trunk=skyetel_main;weight=1;maxcalls=100;cps=10',
          description: 'skyetel_main',
        },
      ],
      address: [],
      uacreg: [],
      trunkAuth: [
        { key_name: 'skyetel_main:pass', key_type: 0, value_type: 0, key_value: 'your_skyetel_password', expires: 0 },
        { key_name: 'skyetel_main:realm', key_type: 0, value_type: 0, key_value: 'sip.skyetel.com', expires: 0 },
        { key_name: 'skyetel_main:user', key_type: 0, value_type: 0, key_value: 'your_skyetel_username', expires: 0 },
      ],
    });
    // Kamailio holds the credentials for uac_auth after the htable reload.
    const item = await rpc().call<{ item: { value: string } }>('htable.get', 'trunk_auth', 'skyetel_main:user');
    expect(item.item.value).toBe('your_skyetel_username');
  });

  test('DIDForSale body → 201 with the documented defaults (100 calls, 10 cps, realm falls back to the proxy for uac_auth)', async () => {
    const res = await call<Trunk>('POST', '/api/trunks/', DIDFORSALE);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      trunk_id: 'didforsale_main',
      realm: null,
      max_concurrent_calls: 100,
      calls_per_second_limit: 10,
      status: 'active',
    });
    const rows = await kamailioRows('didforsale_main');
    expect(rows.dispatcher[0]?.['attrs']).toBe('trunk=didforsale_main;weight=1;maxcalls=100;cps=10');
    expect(rows.trunkAuth).toContainEqual(
      expect.objectContaining({ key_name: 'didforsale_main:realm', key_value: 'sip.didforsale.com' }),
    );
  });

  test("the seed's list call (?provider=skyetel&status=active&page=1&per_page=10) → just skyetel_main", async () => {
    const res = await call<{ items: Trunk[]; total: number; page: number; per_page: number }>(
      'GET',
      '/api/trunks/?provider=skyetel&status=active&page=1&per_page=10',
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ total: 1, page: 1, per_page: 10 });
    expect(res.body.items.map((t) => t.trunk_id)).toEqual(['skyetel_main']);
  });

  test("the seed's update body {max_concurrent_calls: 200, calls_per_second_limit: 20} → 200, attrs rewritten, the rest unchanged", async () => {
    const res = await call<Trunk>('PUT', '/api/trunks/skyetel_main', {
      max_concurrent_calls: 200,
      calls_per_second_limit: 20,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      max_concurrent_calls: 200,
      calls_per_second_limit: 20,
      name: 'Skyetel Main Trunk',
      has_password: true,
    });
    expect((await kamailioRows('skyetel_main')).dispatcher[0]?.['attrs']).toBe(
      'trunk=skyetel_main;weight=1;maxcalls=200;cps=20',
    );
  });

  test('the same trunk_id again → 409 ERR_TRUNK_EXISTS naming trunk_id', async () => {
    const res = await call<ErrorBody>('POST', '/api/trunks/', SKYETEL);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      code: 'ERR_TRUNK_EXISTS',
      fields: [{ field: 'trunk_id', message: 'already exists' }],
    });
  });

  test('GET …/credentials → the password, realm and where to register; no-store', async () => {
    const res = await call<Record<string, unknown>>('GET', '/api/trunks/skyetel_main/credentials');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toEqual({
      trunk_id: 'skyetel_main',
      username: 'your_skyetel_username',
      auth_username: 'your_skyetel_username',
      password: 'your_skyetel_password',
      realm: 'sip.skyetel.com',
      proxy_address: 'sip.skyetel.com',
      proxy_port: 5060,
      transport: 'UDP',
      registrar: 'sip:sip.skyetel.com:5060',
      sip_uri: 'sip:your_skyetel_username@sip.skyetel.com',
      requires_registration: false,
    });
  });
});

describe('trunks: Kamailio follows every change without a restart', () => {
  test('outbound trunks at IP addresses → loaded by dispatcher in priority order; allowlists loaded by permissions', async () => {
    const low = await call<Trunk>('POST', '/api/trunks/', {
      trunk_id: 'net_low',
      name: 'Low',
      provider: 'testnet',
      proxy_address: '192.0.2.10',
      priority: 500,
    });
    const high = await call<Trunk>('POST', '/api/trunks/', {
      trunk_id: 'net_high',
      name: 'High',
      provider: 'testnet',
      proxy_address: '192.0.2.20',
      proxy_port: 5080,
      transport: 'TCP',
      priority: 5,
      weight: 40,
      allowed_ips: ['198.51.100.7/24', '192.0.2.20'],
    });
    expect([low.status, high.status]).toEqual([201, 201]);
    expect(low.body).toMatchObject({ allowed_ips: ['192.0.2.10'], allowed_ips_default: true });
    expect(high.body).toMatchObject({ allowed_ips: ['198.51.100.0/24', '192.0.2.20'], allowed_ips_default: false });

    const loaded = await loadedDestinations();
    expect(loaded.get('net_high')).toEqual({ uri: 'sip:192.0.2.20:5080;transport=tcp', priority: 996 });
    expect(loaded.get('net_low')).toEqual({ uri: 'sip:192.0.2.10:5060;transport=udp', priority: 501 });
    expect((await kamailioRows('net_high')).address).toEqual([
      { grp: 1, ip_addr: '192.0.2.20', mask: 32, port: 0, tag: 'net_high' },
      { grp: 1, ip_addr: '198.51.100.0', mask: 24, port: 0, tag: 'net_high' },
    ]);
    expect(await loadedAddresses()).toEqual(
      expect.arrayContaining(['192.0.2.10 net_low', '192.0.2.20 net_high', '198.51.100.0/24 net_high']),
    );
  });

  test('deactivate → destination, allowlist and registration rows gone, and gone from Kamailio; activate → all back', async () => {
    const port = await freeUdpPort(REGISTRAR_IP);
    const registrar = await startSipp({
      scenario: registrarScenario({ user: 'drain_user', password: 'drain-Pa55word', realm: 'drain.example' }),
      remote: '',
      serverMode: true,
      localIp: REGISTRAR_IP,
      localPort: port,
      // Registrations and dispatcher's OPTIONS probes are one SIPp call each.
      calls: 200,
      limit: 200,
      timeoutSeconds: 90,
    });
    try {
      const created = await call<Trunk>('POST', '/api/trunks/', {
        trunk_id: 'drain_me',
        name: 'Drain me',
        provider: 'testnet',
        proxy_address: REGISTRAR_IP,
        proxy_port: port,
        username: 'drain_user',
        password: 'drain-Pa55word',
        requires_registration: true,
        allowed_ips: ['203.0.113.0/28'],
      });
      expect(created.status).toBe(201);
      const before = await kamailioRows('drain_me');
      expect([before.dispatcher.length, before.address.length, before.uacreg.length]).toEqual([1, 1, 1]);
      expect(before.uacreg[0]).toEqual({
        l_uuid: 'drain_me',
        l_username: 'drain_user',
        l_domain: REGISTRAR_IP,
        r_username: 'drain_user',
        r_domain: REGISTRAR_IP,
        realm: '',
        auth_username: 'drain_user',
        auth_password: 'drain-Pa55word',
        auth_proxy: `sip:${REGISTRAR_IP}:${port}`,
        expires: 300,
        flags: 0,
        reg_delay: 0,
      });
      expect((await loadedDestinations()).has('drain_me')).toBe(true);
      expect(await loadedAddresses()).toContain('203.0.113.0/28 drain_me');
      await eventually(
        'registration of drain_me',
        async () => (await call<TrunkStatus>('GET', '/api/trunks/drain_me/status')).body.registration?.state,
        (s) => s === 'registered',
      );

      const drained = await call<Trunk>('POST', '/api/trunks/drain_me/deactivate');
      expect(drained.status).toBe(200);
      expect(drained.body.status).toBe('inactive');
      const after = await kamailioRows('drain_me');
      expect([after.dispatcher, after.address, after.uacreg]).toEqual([[], [], []]);
      expect(after.trunkAuth).toHaveLength(3);
      expect((await loadedDestinations()).has('drain_me')).toBe(false);
      expect(await loadedAddresses()).not.toContain('203.0.113.0/28 drain_me');
      await expect(rpc().call('uac.reg_info', 'l_uuid', 'drain_me')).rejects.toThrow(/404 Record not found/);
      const inactive = await call<TrunkStatus>('GET', '/api/trunks/drain_me/status');
      expect(inactive.body).toMatchObject({ status: 'inactive', dispatcher: null, registration: null });

      const again = await call<Trunk>('POST', '/api/trunks/drain_me/activate');
      expect(again.body.status).toBe('active');
      expect(await kamailioRows('drain_me')).toEqual(before);
      expect((await loadedDestinations()).has('drain_me')).toBe(true);
      expect(await loadedAddresses()).toContain('203.0.113.0/28 drain_me');
      await eventually(
        'registration of drain_me after activation',
        async () => (await call<TrunkStatus>('GET', '/api/trunks/drain_me/status')).body.registration?.state,
        (s) => s === 'registered',
      );
    } finally {
      registrar.kill();
      await registrar.done;
    }
  }, 90_000);

  test('DELETE → its rows gone from every Kamailio table; numbers that named it keep working with trunk_id null', async () => {
    await call('POST', '/api/trunks/', {
      trunk_id: 'short_lived',
      name: 'S',
      provider: 'testnet',
      proxy_address: '192.0.2.30',
      username: 'u1',
      password: 'p1-secret',
    });
    const number = await call<{ trunk_id: string | null }>('POST', '/api/numbers/', {
      number: '+442079460999',
      route_type: 'ivr',
      target: 'main',
      trunk_id: 'short_lived',
    });
    expect(number.body.trunk_id).toBe('short_lived');
    const deleted = await call('DELETE', '/api/trunks/short_lived');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ trunk_id: 'short_lived', deleted: true, numbers_detached: 1 });
    expect(await kamailioRows('short_lived')).toEqual({ dispatcher: [], address: [], uacreg: [], trunkAuth: [] });
    expect((await loadedDestinations()).has('short_lived')).toBe(false);
    await expect(rpc().call('htable.get', 'trunk_auth', 'short_lived:user')).rejects.toThrow(/doesn't exist/);
    expect((await call<{ trunk_id: string | null }>('GET', '/api/numbers/442079460999')).body.trunk_id).toBeNull();
    expect((await call<ErrorBody>('GET', '/api/trunks/short_lived')).status).toBe(404);
  });

  test('turning outbound off → no destination; turning inbound off → no allowlist; both back on → both back', async () => {
    await call('POST', '/api/trunks/', {
      trunk_id: 'toggle',
      name: 'T',
      provider: 'testnet',
      proxy_address: '192.0.2.40',
    });
    await call('PUT', '/api/trunks/toggle', { supports_outbound: false });
    expect(await kamailioRows('toggle')).toMatchObject({ dispatcher: [], address: [{ ip_addr: '192.0.2.40' }] });
    expect((await loadedDestinations()).has('toggle')).toBe(false);
    await call('PUT', '/api/trunks/toggle', { supports_inbound: false, supports_outbound: true });
    expect(await kamailioRows('toggle')).toMatchObject({
      dispatcher: [{ destination: 'sip:192.0.2.40:5060;transport=udp' }],
      address: [],
    });
    expect(await loadedAddresses()).not.toContain('192.0.2.40 toggle');
    expect((await loadedDestinations()).has('toggle')).toBe(true);
  });

  test('transport TLS without a port → 5061; a transport change moves a default port along', async () => {
    const tls = await call<Trunk>('POST', '/api/trunks/', {
      trunk_id: 'tls_trunk',
      name: 'TLS',
      provider: 'testnet',
      proxy_address: '192.0.2.50',
      transport: 'TLS',
    });
    expect(tls.body.proxy_port).toBe(5061);
    const udp = await call<Trunk>('PUT', '/api/trunks/tls_trunk', { transport: 'UDP' });
    expect(udp.body.proxy_port).toBe(5060);
    expect((await kamailioRows('tls_trunk')).dispatcher[0]?.['destination']).toBe('sip:192.0.2.50:5060;transport=udp');
  });
});

describe('trunks: status and summary', () => {
  test('status → dispatcher state from dispatcher.list, active calls from the trunk profile, figures from acc / acc_cdrs', async () => {
    await call('POST', '/api/trunks/', {
      trunk_id: 'figures',
      name: 'F',
      provider: 'testnet',
      proxy_address: '192.0.2.60',
    });
    // What Kamailio's acc writes for calls through the trunk (kamailio.cfg fills trunk_id).
    await db.query(
      `INSERT INTO acc_cdrs (start_time, end_time, duration, callid, src_user, dst_user, trunk_id) VALUES
         (localtimestamp - interval '30 seconds', localtimestamp, 30, 'cdr-1', 'alice', '14155550123', 'figures'),
         (localtimestamp - interval '2 days', localtimestamp - interval '2 days' + interval '12.5 seconds', 12.5, 'cdr-2', 'alice', '14155550124', 'figures')`,
    );
    await db.query(
      `INSERT INTO acc (method, callid, sip_code, sip_reason, time, trunk_id) VALUES
         ('INVITE', 'acc-1', '200', 'OK', localtimestamp - interval '20 seconds', 'figures'),
         ('INVITE', 'acc-2', '503', 'Service Unavailable', localtimestamp - interval '10 seconds', 'figures'),
         ('INVITE', 'acc-3', '486', 'Busy Here', localtimestamp - interval '3 minutes', 'figures')`,
    );
    const res = await call<TrunkStatus>('GET', '/api/trunks/figures/status');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      trunk_id: 'figures',
      status: 'active',
      dispatcher: { uri: 'sip:192.0.2.60:5060;transport=udp', priority: 901 },
      registration: null,
      active_calls: 0,
      cps: { last_minute_attempts: 2, average: 0.033 },
      calls: { today: expect.any(Number), total: 2, total_duration_seconds: 42.5 },
      last_error: { sip_code: 503, sip_reason: 'Service Unavailable', call_id: 'acc-2' },
    });
    // Midnight may fall inside the last 30 s; the two-day-old CDR is never today.
    expect([1, 0]).toContain(res.body.calls.today);
    expect(['active', 'trying', 'inactive']).toContain(res.body.dispatcher?.state);
    expect(res.body.kamailio_error).toBeUndefined();
  });

  test('a trunk whose host name does not resolve → dispatcher state not_loaded, and the API said so when it was saved', async () => {
    const res = await call<TrunkStatus>('GET', '/api/trunks/skyetel_main/status');
    const resolvable = await lookup('sip.skyetel.com').then(
      () => true,
      () => false,
    );
    if (resolvable) {
      expect(res.body.dispatcher?.state).not.toBe('not_loaded');
    } else {
      expect(res.body.dispatcher).toEqual({
        state: 'not_loaded',
        flags: null,
        probing: false,
        uri: 'sip:sip.skyetel.com:5060;transport=udp',
        priority: 901,
      });
      const saved = await call<Trunk>('PUT', '/api/trunks/skyetel_main', { weight: 2 });
      expect(saved.body.warning).toMatch(
        /dispatcher\.reload: Kamailio did not load sip:sip\.skyetel\.com:5060;transport=udp \(does the host name resolve\?\)/,
      );
      // Other trunks' changes are not blamed for it.
      expect((await call<Trunk>('PUT', '/api/trunks/net_low', { weight: 2 })).body.warning).toBeUndefined();
    }
  });

  test('summary → trunks by status and provider, active calls, calls today', async () => {
    await call('POST', '/api/trunks/', {
      trunk_id: 'parked',
      name: 'P',
      provider: 'testnet',
      proxy_address: '192.0.2.70',
      status: 'inactive',
    });
    const list = await call<{ items: Trunk[]; total: number }>('GET', '/api/trunks/?per_page=200');
    const res = await call<Record<string, unknown>>('GET', '/api/trunks/stats/summary');
    expect(res.status).toBe(200);
    const active = list.body.items.filter((t) => t.status === 'active');
    const byProvider: Record<string, number> = {};
    for (const t of list.body.items) byProvider[t.provider] = (byProvider[t.provider] ?? 0) + 1;
    expect(res.body).toEqual({
      total: list.body.total,
      by_status: { active: active.length, inactive: list.body.total - active.length },
      by_provider: byProvider,
      outbound_active: active.filter((t) => (t as unknown as { supports_outbound: boolean }).supports_outbound).length,
      inbound_active: active.filter((t) => (t as unknown as { supports_inbound: boolean }).supports_inbound).length,
      registrations: { required: active.filter((t) => t.requires_registration).length, registered: expect.any(Number) },
      active_calls: 0,
      calls_today: expect.any(Number),
    });
    expect(res.body['by_status']).toMatchObject({ inactive: expect.any(Number) });
    expect((res.body['by_status'] as { inactive: number }).inactive).toBeGreaterThanOrEqual(1);
  });
});

describe('trunks: validation, errors and access', () => {
  test.each([
    [{ trunk_id: 'Upper_Case' }, 'trunk_id', /must match pattern/],
    [{ proxy_address: 'not a host!' }, 'proxy_address', /host name or an IP address/],
    [{ allowed_ips: ['192.0.2.1', 'example.com'] }, 'allowed_ips[1]', /address or CIDR/],
    [{ username: 'only_user' }, 'password', /required when username is set/],
    [{ requires_registration: true }, 'requires_registration', /needs username and password/],
    [{ transport: 'SCTP' }, 'transport', /allowed values/],
    [{ priority: 0 }, 'priority', /must be >= 1/],
    [{ preferred_codecs: ['PCMU', 'PCMU'] }, 'preferred_codecs', /duplicate items/],
    [{ proxy_port: 70000 }, 'proxy_port', /must be <= 65535/],
  ])('%j → 400 naming %s; nothing stored', async (change, field, message) => {
    const body = { trunk_id: 'invalid_one', name: 'I', provider: 'testnet', proxy_address: '192.0.2.99', ...change };
    const res = await call<ErrorBody>('POST', '/api/trunks/', body);
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toContainEqual({ field, message: expect.stringMatching(message) });
    expect((await db.query("SELECT 1 FROM trunks WHERE trunk_id IN ('invalid_one', 'Upper_Case')")).rowCount).toBe(0);
  });

  test('PUT clearing the password of a registering trunk → 400; clearing both credentials of a plain trunk → fine', async () => {
    await call('POST', '/api/trunks/', {
      trunk_id: 'creds',
      name: 'C',
      provider: 'testnet',
      proxy_address: '192.0.2.80',
      username: 'cu',
      password: 'cp-secret',
      requires_registration: true,
      status: 'inactive',
    });
    const bad = await call<ErrorBody>('PUT', '/api/trunks/creds', { password: null });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields?.map((f) => f.field)).toEqual(['password', 'requires_registration']);
    const ok = await call<Trunk>('PUT', '/api/trunks/creds', {
      requires_registration: false,
      username: null,
      password: null,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ username: null, has_password: false });
    expect((await kamailioRows('creds')).trunkAuth).toEqual([]);
  });

  test.each([
    ['GET', '/api/trunks/nope'],
    ['PUT', '/api/trunks/nope'],
    ['DELETE', '/api/trunks/nope'],
    ['GET', '/api/trunks/nope/status'],
    ['POST', '/api/trunks/nope/activate'],
    ['POST', '/api/trunks/nope/deactivate'],
    ['GET', '/api/trunks/nope/credentials'],
  ])('%s %s → 404 ERR_TRUNK_NOT_FOUND', async (method, path) => {
    const res = await call<ErrorBody>(method, path, method === 'PUT' ? { name: 'x' } : undefined);
    expect([res.status, res.body.error.code]).toEqual([404, 'ERR_TRUNK_NOT_FOUND']);
  });

  test('operator and admin tokens may both use the trunk API; no token → 401', async () => {
    expect((await call('GET', '/api/trunks/skyetel_main', undefined, 'operator')).status).toBe(200);
    expect((await call('GET', '/api/trunks/skyetel_main/credentials', undefined, 'admin')).status).toBe(200);
    expect((await api('GET', '/api/trunks/', { stack })).status).toBe(401);
  });
});

/** An app built in this process over the suite's stack with environment overrides; its log lines kept in memory. */
async function inProcessApp(
  overrides: Record<string, string>,
): Promise<{ url: string; stack: TestStack; logs: () => string; close: () => Promise<void> }> {
  const env = { ...local.env, ...overrides, API_PORT: '1' };
  const config = loadConfig(env, REPO_ROOT);
  const lines: string[] = [];
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }),
      }),
    ],
  });
  const database = connectDatabase(config.databaseUrl, { max: 2 });
  const relay = createMediaRelay(config.relay);
  const kamailio = kamailioRpcFromConfig(config, { timeoutMs: 1000 });
  const app = createApp({ config, logger, db: database.db, kamailio, relay });
  const url = await app.listen(0, '127.0.0.1');
  return {
    url,
    stack: { ...stackView({ ...env, API_PORT: new URL(url).port }), apiUrl: url },
    logs: () => lines.join(''),
    async close() {
      await app.close();
      await relay.close();
      await database.close();
    },
  };
}

describe('trunks: Kamailio down, and secrets', () => {
  test('Kamailio not answering → the change stands (rows written) and the response carries a warning; status says why it is partial', async () => {
    const app = await inProcessApp({ KAMAILIO_RPC_PORT: String(await freeUdpPort()) });
    try {
      const res = await api<Trunk>('POST', '/api/trunks/', {
        role: 'operator',
        stack: app.stack,
        body: { trunk_id: 'while_down', name: 'W', provider: 'testnet', proxy_address: '192.0.2.90' },
      });
      expect(res.status).toBe(201);
      expect(res.body.warning).toMatch(
        /^saved, but Kamailio did not take all of it \(.*dispatcher\.reload: Kamailio did not answer/,
      );
      expect((await kamailioRows('while_down')).dispatcher).toHaveLength(1);
      const status = await api<TrunkStatus>('GET', '/api/trunks/while_down/status', {
        role: 'operator',
        stack: app.stack,
      });
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({
        dispatcher: null,
        registration: null,
        active_calls: null,
        kamailio_error: expect.stringMatching(/did not answer/),
      });
    } finally {
      await app.close();
    }
    // The running Kamailio catches up with the next reload.
    await call('PUT', '/api/trunks/while_down', { weight: 3 });
    expect((await loadedDestinations()).has('while_down')).toBe(true);
  });

  test('only GET …/credentials returns a trunk password: not create, update, get, list, status, activation or summary responses', async () => {
    const password = 'Only-Via-Credentials-7f3a';
    const rotated = 'Rotated-Only-Via-Credentials-9c1e';
    const mine: Array<{ path: string; text: string }> = [];
    const track = async (method: string, path: string, body?: unknown): Promise<ApiResponse> => {
      const res = await call(method, path, body);
      mine.push({ path, text: JSON.stringify(res.body) });
      return res;
    };
    await track('POST', '/api/trunks/', {
      trunk_id: 'secretive',
      name: 'S',
      provider: 'testnet',
      proxy_address: '192.0.2.95',
      username: 'su',
      password,
    });
    await track('GET', '/api/trunks/secretive');
    await track('GET', '/api/trunks/?provider=testnet&per_page=200');
    await track('PUT', '/api/trunks/secretive', { password: rotated, requires_registration: true });
    await track('GET', '/api/trunks/secretive/status');
    await track('POST', '/api/trunks/secretive/deactivate');
    await track('POST', '/api/trunks/secretive/activate');
    await track('GET', '/api/trunks/stats/summary');
    await track('POST', '/api/trunks/', {
      trunk_id: 'secretive',
      name: 'dup',
      provider: 'testnet',
      proxy_address: '192.0.2.95',
      username: 'su',
      password,
    });
    await track('GET', '/api/openapi.json');
    const credentials = await track('GET', '/api/trunks/secretive/credentials');
    expect(credentials.body['password']).toBe(rotated);
    const leaking = mine.filter((b) => b.text.includes(password) || b.text.includes(rotated)).map((b) => b.path);
    expect(leaking).toEqual(['/api/trunks/secretive/credentials']);
    // Across the whole suite: every body holding a password came from a credentials endpoint.
    const everywhere = bodies.filter((b) =>
      /your_skyetel_password|your_did_password|drain-Pa55word|p1-secret|cp-secret/.test(b.text),
    );
    expect(everywhere.every((b) => b.path.endsWith('/credentials'))).toBe(true);
  });

  test("trunk passwords never reach a log line: the in-process app at debug level, and the stack's control-plane log", async () => {
    const password = 'Never-Logged-41d2';
    const app = await inProcessApp({});
    try {
      const as = { role: 'operator' as const, stack: app.stack };
      await api('POST', '/api/trunks/', {
        ...as,
        body: {
          trunk_id: 'logged',
          name: 'L',
          provider: 'testnet',
          proxy_address: '192.0.2.96',
          username: 'lu',
          password,
        },
      });
      await api('PUT', '/api/trunks/logged', {
        ...as,
        body: { password: `${password}-2`, requires_registration: true },
      });
      await api('GET', '/api/trunks/logged/credentials', as);
      await api('POST', '/api/trunks/logged/deactivate', as);
      await api('DELETE', '/api/trunks/logged', as);
      const logs = app.logs();
      expect(logs).toContain('"message":"trunk created"');
      expect(logs).toContain('"message":"trunk credentials read"');
      expect(logs).not.toContain(password);
    } finally {
      await app.close();
    }
    const logFile = join(stack.config.stateDir, 'logs', 'control-plane.log');
    expect(existsSync(logFile)).toBe(true);
    const stackLog = readFileSync(logFile, 'utf8');
    expect(stackLog).toContain('"route":"/api/trunks/{trunk_id}/credentials"');
    for (const secret of [
      'your_skyetel_password',
      'your_did_password',
      'drain-Pa55word',
      'Only-Via-Credentials-7f3a',
      'Rotated-Only-Via-Credentials-9c1e',
    ]) {
      expect([secret, stackLog.includes(secret)]).toEqual([secret, false]);
    }
  });
});
