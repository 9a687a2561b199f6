import { DemoAgentConfigError, loadDemoAgentConfig } from './config';

const secrets = { JWT_SECRET_KEY: 'j'.repeat(32), SIP_SHARED_SECRET: 's'.repeat(32) };

describe('loadDemoAgentConfig', () => {
  test('defaults: 127.0.0.1:8090, greeting, info', () => {
    expect(loadDemoAgentConfig(secrets)).toEqual({
      host: '127.0.0.1',
      port: 8090,
      mode: 'greeting',
      secrets: { jwtSecretKey: 'j'.repeat(32), sipSharedSecret: 's'.repeat(32) },
      logLevel: 'info',
    });
  });

  test('reads DEMO_AGENT_HOST, DEMO_AGENT_PORT and DEMO_AGENT_MODE; the result is frozen', () => {
    const config = loadDemoAgentConfig({
      ...secrets,
      DEMO_AGENT_HOST: '0.0.0.0',
      DEMO_AGENT_PORT: '9000',
      DEMO_AGENT_MODE: 'dtmf-menu',
    });
    expect(config).toMatchObject({ host: '0.0.0.0', port: 9000, mode: 'dtmf-menu' });
    expect(Object.isFrozen(config) && Object.isFrozen(config.secrets)).toBe(true);
  });

  test('an unknown mode, a bad port or missing secrets → DemoAgentConfigError naming them', () => {
    expect(() => loadDemoAgentConfig({ ...secrets, DEMO_AGENT_MODE: 'karaoke' })).toThrow(/DEMO_AGENT_MODE/);
    expect(() => loadDemoAgentConfig({ ...secrets, DEMO_AGENT_PORT: '70000' })).toThrow(/DEMO_AGENT_PORT/);
    expect(() => loadDemoAgentConfig({})).toThrow(DemoAgentConfigError);
    expect(() => loadDemoAgentConfig({})).toThrow(
      /JWT_SECRET_KEY.*SIP_SHARED_SECRET|SIP_SHARED_SECRET.*JWT_SECRET_KEY/,
    );
  });
});
