import { checkRoute, kamailioRouteValue } from './route-target';

const DID = '+14155550100';
const NO_FORWARD = { forward_timeout_seconds: null, forward_fallback: null };

describe('checkRoute', () => {
  test('sip_user with a username → that user, no AI fields', () => {
    expect(checkRoute({ route_type: 'sip_user', target: 'alice' }, DID)).toEqual({
      ok: true,
      route: {
        route_type: 'sip_user',
        target: 'alice',
        ai_dialect: null,
        ai_agent_url: null,
        ai_options: null,
        ...NO_FORWARD,
      },
    });
  });

  test('ai without details → dialect olib, default agent, empty options', () => {
    expect(checkRoute({ route_type: 'ai' }, DID)).toEqual({
      ok: true,
      route: { route_type: 'ai', target: null, ai_dialect: 'olib', ai_agent_url: null, ai_options: {}, ...NO_FORWARD },
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

  test('forward target in typed form → normalised E.164, rings 30 s, no fallback, no AI settings', () => {
    expect(checkRoute({ route_type: 'forward', target: '+44 20 7946 0958' }, DID)).toEqual({
      ok: true,
      route: {
        route_type: 'forward',
        target: '+442079460958',
        ai_dialect: null,
        ai_agent_url: null,
        ai_options: null,
        forward_timeout_seconds: 30,
        forward_fallback: 'none',
      },
    });
  });

  test('forward to a username with fallback ai → AI settings default like route_type ai', () => {
    expect(
      checkRoute({ route_type: 'forward', target: 'bob', forward_timeout_seconds: 12, forward_fallback: 'ai' }, DID),
    ).toEqual({
      ok: true,
      route: {
        route_type: 'forward',
        target: 'bob',
        ai_dialect: 'olib',
        ai_agent_url: null,
        ai_options: {},
        forward_timeout_seconds: 12,
        forward_fallback: 'ai',
      },
    });
  });

  test('forward with fallback ai and its own AI settings → kept', () => {
    const result = checkRoute(
      {
        route_type: 'forward',
        target: '+442079460958',
        forward_fallback: 'ai',
        ai_dialect: 'twilio',
        ai_agent_url: 'wss://agent.example/ws',
        ai_options: { mode: 'echo' },
      },
      DID,
    );
    expect(result).toMatchObject({
      ok: true,
      route: { ai_dialect: 'twilio', ai_agent_url: 'wss://agent.example/ws', ai_options: { mode: 'echo' } },
    });
  });

  test.each([
    [{ route_type: 'sip_user' as const }, 'target', /required for route_type sip_user/],
    [{ route_type: 'sip_user' as const, target: 'no spaces allowed' }, 'target', /SIP username/],
    [{ route_type: 'queue' as const, target: '../etc' }, 'target', /queue name/],
    [{ route_type: 'ivr' as const, target: null }, 'target', /required for route_type ivr/],
    [{ route_type: 'forward' as const, target: '+0987654321' }, 'target', /country calling code/],
    [{ route_type: 'forward' as const, target: DID }, 'target', /loop/],
    [{ route_type: 'forward' as const, target: 'no spaces allowed' }, 'target', /E\.164 number .* or a SIP username/],
    [
      { route_type: 'sip_user' as const, target: 'alice', forward_fallback: 'ai' as const },
      'forward_fallback',
      /forward/,
    ],
    [
      { route_type: 'ai' as const, forward_timeout_seconds: 20 },
      'forward_timeout_seconds',
      /only allowed with route_type forward/,
    ],
    [{ route_type: 'ai' as const, target: 'alice' }, 'target', /must be absent/],
    [
      { route_type: 'queue' as const, target: 'support', ai_dialect: 'olib' as const },
      'ai_dialect',
      /only allowed with route_type ai or forward/,
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
    [
      {
        route_type: 'forward' as const,
        target: '+442079460958',
        forward_timeout_seconds: 30,
        forward_fallback: 'none' as const,
      },
      'forward|+442079460958|30|none',
    ],
    [
      { route_type: 'forward' as const, target: 'bob', forward_timeout_seconds: 8, forward_fallback: 'ai' as const },
      'forward|bob|8|ai',
    ],
    [{ route_type: 'ai' as const, target: null }, 'ai|14155550100'],
  ])('%j → %s', (route, value) => {
    expect(kamailioRouteValue(DID, { ...NO_FORWARD, ...route })).toBe(value);
  });
});
