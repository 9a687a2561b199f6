import { checkRoute, kamailioRouteValue } from './route-target';

const DID = '+14155550100';

describe('checkRoute', () => {
  test('sip_user with a username → that user, no AI fields', () => {
    expect(checkRoute({ route_type: 'sip_user', target: 'alice' }, DID)).toEqual({
      ok: true,
      route: { route_type: 'sip_user', target: 'alice', ai_dialect: null, ai_agent_url: null, ai_options: null },
    });
  });

  test('ai without details → dialect olib, default agent, empty options', () => {
    expect(checkRoute({ route_type: 'ai' }, DID)).toEqual({
      ok: true,
      route: { route_type: 'ai', target: null, ai_dialect: 'olib', ai_agent_url: null, ai_options: {} },
    });
  });

  test('ai with dialect, agent URL and options → kept as given', () => {
    const result = checkRoute(
      { route_type: 'ai', ai_dialect: 'twilio', ai_agent_url: 'wss://agent.example/ws', ai_options: { voice: 'x' } },
      DID,
    );
    expect(result).toMatchObject({
      ok: true,
      route: { ai_dialect: 'twilio', ai_agent_url: 'wss://agent.example/ws', ai_options: { voice: 'x' } },
    });
  });

  test('forward target in typed form → normalised E.164', () => {
    expect(checkRoute({ route_type: 'forward', target: '+44 20 7946 0958' }, DID)).toMatchObject({
      ok: true,
      route: { target: '+442079460958' },
    });
  });

  test.each([
    [{ route_type: 'sip_user' as const }, 'target', /required for route_type sip_user/],
    [{ route_type: 'sip_user' as const, target: 'no spaces allowed' }, 'target', /SIP username/],
    [{ route_type: 'queue' as const, target: '../etc' }, 'target', /queue name/],
    [{ route_type: 'ivr' as const, target: null }, 'target', /required for route_type ivr/],
    [{ route_type: 'forward' as const, target: '+0987654321' }, 'target', /country calling code/],
    [{ route_type: 'forward' as const, target: DID }, 'target', /loop/],
    [{ route_type: 'ai' as const, target: 'alice' }, 'target', /must be absent/],
    [
      { route_type: 'queue' as const, target: 'support', ai_dialect: 'olib' as const },
      'ai_dialect',
      /only allowed with route_type ai/,
    ],
  ])('%j → 400 on %s', (fields, field, message) => {
    const result = checkRoute(fields, DID);
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.fields).toContainEqual({ field, message: expect.stringMatching(message) });
  });
});

describe('kamailioRouteValue (what htable did holds, as the view did_htable computes it)', () => {
  test.each([
    [{ route_type: 'sip_user' as const, target: 'alice' }, 'sip_user|alice'],
    [{ route_type: 'queue' as const, target: 'support' }, 'queue|support'],
    [{ route_type: 'ivr' as const, target: 'main-menu' }, 'ivr|main-menu'],
    [{ route_type: 'forward' as const, target: '+442079460958' }, 'forward|442079460958'],
    [{ route_type: 'ai' as const, target: null }, 'ai|14155550100'],
  ])('%j → %s', (route, value) => {
    expect(kamailioRouteValue(DID, route)).toBe(value);
  });
});
