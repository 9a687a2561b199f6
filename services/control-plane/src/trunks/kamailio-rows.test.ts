import {
  describeReload,
  dispatcherAttrs,
  dispatcherDestination,
  dispatcherPriority,
  effectiveAllowedIps,
  isHostOrIp,
  kamailioRows,
  NO_ROWS,
  parseAllowedIp,
  parseDispatcherAttrs,
  registrarUri,
  reloadsBetween,
  type TrunkRouting,
} from './kamailio-rows';

/** The seed's Skyetel body as stored (defaults applied), pointed at a local UAS. */
const skyetel: TrunkRouting = {
  trunk_id: 'skyetel_main',
  proxy_address: '127.0.0.2',
  proxy_port: 5060,
  transport: 'UDP',
  username: 'your_skyetel_username',
  password: 'your_skyetel_password',
  realm: 'sip.skyetel.com',
  supports_inbound: true,
  supports_outbound: true,
  max_concurrent_calls: 100,
  calls_per_second_limit: 10,
  allowed_ips: null,
  priority: 100,
  weight: 1,
  requires_registration: false,
  status: 'active',
};

describe('dispatcher destination of a trunk', () => {
  test('attrs → exactly "trunk=<id>;weight=<w>;maxcalls=<n>;cps=<n>"', () => {
    expect(dispatcherAttrs(skyetel)).toBe('trunk=skyetel_main;weight=1;maxcalls=100;cps=10');
  });

  test('attrs read back as kamailio.cfg reads them ({param.value,key})', () => {
    expect(
      parseDispatcherAttrs(
        dispatcherAttrs({ ...skyetel, weight: 30, max_concurrent_calls: 5, calls_per_second_limit: 2 }),
      ),
    ).toEqual({
      trunk: 'skyetel_main',
      weight: '30',
      maxcalls: '5',
      cps: '2',
    });
  });

  test.each([
    [1, 1000],
    [100, 901],
    [1000, 1],
  ])('API priority %i (lower first) → dispatcher priority %i (algorithm 8: higher first)', (api, column) => {
    expect(dispatcherPriority(api)).toBe(column);
  });

  test.each([
    [
      { proxy_address: 'sip.skyetel.com', proxy_port: 5060, transport: 'UDP' as const },
      'sip:sip.skyetel.com:5060;transport=udp',
    ],
    [{ proxy_address: '127.0.0.3', proxy_port: 5070, transport: 'TCP' as const }, 'sip:127.0.0.3:5070;transport=tcp'],
    [
      { proxy_address: '2001:db8::5', proxy_port: 5061, transport: 'TLS' as const },
      'sip:[2001:db8::5]:5061;transport=tls',
    ],
  ])('%j → %s', (trunk, uri) => {
    expect(dispatcherDestination(trunk)).toBe(uri);
  });

  test('registrar URI: UDP without a transport parameter, TCP/TLS with one', () => {
    expect(registrarUri(skyetel)).toBe('sip:127.0.0.2:5060');
    expect(registrarUri({ ...skyetel, transport: 'TLS', proxy_port: 5061 })).toBe('sip:127.0.0.2:5061;transport=tls');
  });
});

describe('allowed source addresses', () => {
  test.each([
    ['203.0.113.7', { ip: '203.0.113.7', mask: 32, text: '203.0.113.7' }],
    ['203.0.113.7/32', { ip: '203.0.113.7', mask: 32, text: '203.0.113.7' }],
    ['10.1.2.3/8', { ip: '10.0.0.0', mask: 8, text: '10.0.0.0/8' }],
    ['2001:DB8::1', { ip: '2001:db8::1', mask: 128, text: '2001:db8::1' }],
    ['2001:db8:1:2::/48', { ip: '2001:db8:1::', mask: 48, text: '2001:db8:1::/48' }],
  ])('%s → network form %j', (entry, expected) => {
    expect(parseAllowedIp(entry)).toEqual({ ok: true, ...expected });
  });

  test.each(['10.1', '10.0.0.0/33', '2001:db8::/129', 'sip.skyetel.com', '1.2.3.4/8/9', '1.2.3.4/x', ''])(
    '%j → not an address',
    (entry) => {
      expect(parseAllowedIp(entry)).toEqual({ ok: false });
    },
  );

  test('no allowed_ips and an IP-literal proxy → the proxy itself', () => {
    expect(effectiveAllowedIps({ allowed_ips: null, proxy_address: '127.0.0.2' })).toEqual(['127.0.0.2']);
  });

  test('no allowed_ips and a host-name proxy → none (the API warns)', () => {
    expect(effectiveAllowedIps({ allowed_ips: null, proxy_address: 'sip.skyetel.com' })).toEqual([]);
  });

  test('given allowed_ips → exactly those, even an empty list', () => {
    expect(effectiveAllowedIps({ allowed_ips: ['198.51.100.0/24'], proxy_address: '127.0.0.2' })).toEqual([
      '198.51.100.0/24',
    ]);
    expect(effectiveAllowedIps({ allowed_ips: [], proxy_address: '127.0.0.2' })).toEqual([]);
  });
});

describe('kamailioRows', () => {
  test('active in- and outbound trunk → one set-1 destination, its allowlist in group 1, auth entries, no registration', () => {
    expect(kamailioRows(skyetel)).toEqual({
      dispatcher: [
        {
          setid: 1,
          destination: 'sip:127.0.0.2:5060;transport=udp',
          flags: 0,
          priority: 901,
          attrs: 'trunk=skyetel_main;weight=1;maxcalls=100;cps=10',
          description: 'skyetel_main',
        },
      ],
      address: [{ grp: 1, ip_addr: '127.0.0.2', mask: 32, port: 0, tag: 'skyetel_main' }],
      uacreg: [],
      trunkAuth: [
        { key: 'skyetel_main:user', value: 'your_skyetel_username' },
        { key: 'skyetel_main:pass', value: 'your_skyetel_password' },
        { key: 'skyetel_main:realm', value: 'sip.skyetel.com' },
      ],
    });
  });

  test('requires_registration → one uacreg row keyed by trunk_id, REGISTER through the proxy', () => {
    const rows = kamailioRows({
      ...skyetel,
      requires_registration: true,
      realm: null,
      proxy_address: '127.0.0.3',
      proxy_port: 5070,
    });
    expect(rows.uacreg).toEqual([
      {
        l_uuid: 'skyetel_main',
        l_username: 'your_skyetel_username',
        l_domain: '127.0.0.3',
        r_username: 'your_skyetel_username',
        r_domain: '127.0.0.3',
        realm: '',
        auth_username: 'your_skyetel_username',
        auth_password: 'your_skyetel_password',
        auth_proxy: 'sip:127.0.0.3:5070',
        expires: 300,
        flags: 0,
        reg_delay: 0,
      },
    ]);
    expect(rows.trunkAuth).toContainEqual({ key: 'skyetel_main:realm', value: '127.0.0.3' });
  });

  test('inactive (drained) trunk → no destination, no allowlist, no registration; credentials stay for calls in progress', () => {
    const rows = kamailioRows({ ...skyetel, status: 'inactive', requires_registration: true });
    expect(rows.dispatcher).toEqual([]);
    expect(rows.address).toEqual([]);
    expect(rows.uacreg).toEqual([]);
    expect(rows.trunkAuth).toHaveLength(3);
  });

  test('inbound-only trunk → allowlist only; outbound-only → destination only', () => {
    const inbound = kamailioRows({
      ...skyetel,
      supports_outbound: false,
      allowed_ips: ['198.51.100.0/24', '203.0.113.9'],
    });
    expect(inbound.dispatcher).toEqual([]);
    expect(inbound.address).toEqual([
      { grp: 1, ip_addr: '198.51.100.0', mask: 24, port: 0, tag: 'skyetel_main' },
      { grp: 1, ip_addr: '203.0.113.9', mask: 32, port: 0, tag: 'skyetel_main' },
    ]);
    const outbound = kamailioRows({ ...skyetel, supports_inbound: false });
    expect(outbound.dispatcher).toHaveLength(1);
    expect(outbound.address).toEqual([]);
  });

  test('IP-authenticated trunk (no username) → no trunk_auth entries and no registration', () => {
    const rows = kamailioRows({ ...skyetel, username: null, password: null, requires_registration: true });
    expect(rows.trunkAuth).toEqual([]);
    expect(rows.uacreg).toEqual([]);
  });
});

describe('reloadsBetween', () => {
  test('a new active trunk → dispatcher, address and trunk_auth reloads', () => {
    expect(reloadsBetween('skyetel_main', NO_ROWS, kamailioRows(skyetel)).map(describeReload)).toEqual([
      'dispatcher.reload',
      'permissions.addressReload',
      'htable.reload trunk_auth',
    ]);
  });

  test('a change Kamailio does not see (name, codecs) → nothing to reload', () => {
    expect(reloadsBetween('skyetel_main', kamailioRows(skyetel), kamailioRows({ ...skyetel }))).toEqual([]);
  });

  test('rows in another order are the same rows', () => {
    const two = kamailioRows({ ...skyetel, allowed_ips: ['198.51.100.0/24', '203.0.113.9'] });
    const swapped = { ...two, address: [...two.address].reverse() };
    expect(reloadsBetween('skyetel_main', two, swapped)).toEqual([]);
  });

  test('cps limit change → dispatcher only (attrs)', () => {
    expect(
      reloadsBetween('skyetel_main', kamailioRows(skyetel), kamailioRows({ ...skyetel, calls_per_second_limit: 20 })),
    ).toEqual([{ kind: 'dispatcher' }]);
  });

  test('password change on a registering trunk → its registration and trunk_auth', () => {
    const before = kamailioRows({ ...skyetel, requires_registration: true });
    const after = kamailioRows({ ...skyetel, requires_registration: true, password: 'rotated' });
    expect(reloadsBetween('skyetel_main', before, after)).toEqual([
      { kind: 'registration', l_uuid: 'skyetel_main' },
      { kind: 'htable', table: 'trunk_auth' },
    ]);
  });

  test('deactivation of a registering trunk → dispatcher, address and registration, not trunk_auth', () => {
    const before = kamailioRows({ ...skyetel, requires_registration: true });
    const after = kamailioRows({ ...skyetel, requires_registration: true, status: 'inactive' });
    expect(reloadsBetween('skyetel_main', before, after).map((r) => r.kind)).toEqual([
      'dispatcher',
      'address',
      'registration',
    ]);
  });
});

describe('isHostOrIp (proxy_address)', () => {
  test.each(['sip.skyetel.com', 'sip.didforsale.com', '127.0.0.2', '2001:db8::1', 'localhost', 'a-b.example'])(
    '%s → accepted',
    (host) => {
      expect(isHostOrIp(host)).toBe(true);
    },
  );

  test.each([
    'not a host!',
    'sip..example.com',
    '-bad.example',
    '999.1.1.1',
    '10.1',
    'sip.example.com.',
    '[2001:db8::1]',
    'sip:host',
  ])('%s → refused', (host) => {
    expect(isHostOrIp(host)).toBe(false);
  });
});
