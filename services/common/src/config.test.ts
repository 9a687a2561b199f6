import { readFileSync } from 'node:fs';
import { CONFIG_DOCS, renderConfigDocs } from '../../../scripts/config-docs';
import { ConfigError, ENV_SCHEMA, loadConfig } from './config';

const SECRETS = {
  DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/db',
  JWT_SECRET_KEY: 'j'.repeat(32),
  SIP_JWT_SECRET: 's'.repeat(32),
  SIP_SHARED_SECRET: 'h'.repeat(32),
  PROXY_SHARED_SECRET: 'p'.repeat(32),
};

describe('loadConfig', () => {
  test('defaults → the seed ports, rtpengine, loopback', () => {
    const c = loadConfig(SECRETS, '/repo');
    expect(c.sip.port).toBe(5060);
    expect(c.api.port).toBe(8080);
    expect(c.relay.kind).toBe('rtpengine');
    expect(c.sip.proxyAddress).toBe('127.0.0.1');
    expect(c.stateDir).toBe('/repo/.local/dev');
    expect(Object.isFrozen(c.sip.lockout)).toBe(true);
  });

  test('addressing defaults → every control port on loopback, only 127.0.0.1 may use Kamailio RPC', () => {
    const c = loadConfig(SECRETS, '/repo');
    expect(c.kamailio).toMatchObject({
      rpcHost: '127.0.0.1',
      evapiHost: '127.0.0.1',
      controlListenAddress: '127.0.0.1',
      rpcAllowedCidrs: ['127.0.0.1/32'],
    });
    expect(c.relay).toMatchObject({ rtpengineNgHost: '127.0.0.1', rtpengineNgListenAddress: '127.0.0.1' });
    expect(c.gateway.httpHost).toBe('127.0.0.1');
  });

  test('pods apart → clients use the Service names, Kamailio binds all and serves the pod network', () => {
    const c = loadConfig({
      ...SECRETS,
      KAMAILIO_RPC_HOST: 'sab-kamailio',
      KAMAILIO_EVAPI_HOST: 'sab-kamailio',
      KAMAILIO_CONTROL_LISTEN_ADDRESS: '0.0.0.0',
      KAMAILIO_RPC_ALLOWED_CIDRS: '10.1.0.0/16, 127.0.0.1/32,fd00::/8',
      RTPENGINE_NG_HOST: 'sab-rtpengine',
      RTPENGINE_NG_LISTEN_ADDRESS: '10.0.0.4',
      GATEWAY_HTTP_HOST: '0.0.0.0',
    });
    expect(c.kamailio).toMatchObject({
      rpcHost: 'sab-kamailio',
      evapiHost: 'sab-kamailio',
      controlListenAddress: '0.0.0.0',
      rpcAllowedCidrs: ['10.1.0.0/16', '127.0.0.1/32', 'fd00::/8'],
    });
    expect(c.relay).toMatchObject({ rtpengineNgHost: 'sab-rtpengine', rtpengineNgListenAddress: '10.0.0.4' });
    expect(c.gateway.httpHost).toBe('0.0.0.0');
  });

  test('a bad RPC CIDR, or a host name where Kamailio, rtpengine or the gateway bind → ConfigError', () => {
    for (const cidrs of ['10.0.0.0', '10.0.0.0/33', '300.1.1.1/8', '10.0.0.0/8,', '"10.0.0.0/8"', 'fd00::/129']) {
      expect(() => loadConfig({ ...SECRETS, KAMAILIO_RPC_ALLOWED_CIDRS: cidrs })).toThrow(ConfigError);
    }
    for (const key of ['KAMAILIO_CONTROL_LISTEN_ADDRESS', 'RTPENGINE_NG_LISTEN_ADDRESS', 'GATEWAY_HTTP_HOST']) {
      expect(() => loadConfig({ ...SECRETS, [key]: 'kamailio.local' })).toThrow(/must be an IP address|must match/);
      expect(() => loadConfig({ ...SECRETS, [key]: '1.2.3' })).toThrow(`${key} must be an IP address`);
    }
  });

  test('strings from the environment are coerced and validated', () => {
    const c = loadConfig({
      ...SECRETS,
      SIP_PROXY_PORT: '5070',
      MEDIA_RELAY: 'rtpproxy',
      API_ALLOWED_CIDRS: '10.0.0.0/8, 127.0.0.1/32',
    });
    expect(c.sip.port).toBe(5070);
    expect(c.relay.kind).toBe('rtpproxy');
    expect(c.api.allowedCidrs).toEqual(['10.0.0.0/8', '127.0.0.1/32']);
  });

  test('a missing secret → ConfigError naming it', () => {
    const { SIP_JWT_SECRET: _omitted, ...rest } = SECRETS;
    expect(() => loadConfig(rest)).toThrow(/SIP_JWT_SECRET/);
  });

  test('a short secret, a bad port, an unknown relay → one error naming each', () => {
    let error: unknown;
    try {
      loadConfig({ ...SECRETS, JWT_SECRET_KEY: 'short', SIP_PROXY_PORT: '70000', MEDIA_RELAY: 'asterisk' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/JWT_SECRET_KEY/);
    expect((error as Error).message).toMatch(/SIP_PROXY_PORT/);
    expect((error as Error).message).toMatch(/MEDIA_RELAY/);
  });

  test('an RTP port range upside down → ConfigError', () => {
    expect(() => loadConfig({ ...SECRETS, RTP_PORT_MIN: '20000', RTP_PORT_MAX: '10000' })).toThrow(/RTP_PORT_MIN/);
  });

  test('no TLS files configured → the self-signed pair under STATE_DIR/tls, on port 5061, trunks verified', () => {
    const c = loadConfig({ ...SECRETS, STATE_DIR: '/var/lib/sipai' });
    expect(c.sip.tls).toEqual({
      port: 5061,
      certFile: '/var/lib/sipai/tls/sip-cert.pem',
      keyFile: '/var/lib/sipai/tls/sip-key.pem',
      selfSigned: true,
      caFile: '/etc/ssl/certs/ca-certificates.crt',
      verifyTrunks: true,
    });
  });

  test('both TLS files given → used as they are; trunk verification can be turned off', () => {
    const c = loadConfig({
      ...SECRETS,
      SIP_TLS_CERT_FILE: '/etc/sipai/fullchain.pem',
      SIP_TLS_KEY_FILE: '/etc/sipai/key.pem',
      SIP_TLS_VERIFY_TRUNKS: 'false',
    });
    expect(c.sip.tls).toMatchObject({
      certFile: '/etc/sipai/fullchain.pem',
      keyFile: '/etc/sipai/key.pem',
      selfSigned: false,
      verifyTrunks: false,
    });
  });

  test('a TLS certificate without its key, or the TLS port on the SIP port → ConfigError', () => {
    expect(() => loadConfig({ ...SECRETS, SIP_TLS_CERT_FILE: '/etc/sipai/fullchain.pem' })).toThrow(
      /SIP_TLS_CERT_FILE and SIP_TLS_KEY_FILE go together/,
    );
    expect(() => loadConfig({ ...SECRETS, SIP_TLS_KEY_FILE: '/etc/sipai/key.pem' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...SECRETS, SIP_TLS_PORT: '5060' })).toThrow(/SIP_TLS_PORT must differ/);
  });

  test('docs/configuration.md matches the schema (regenerate with node dist/scripts/config-docs.js)', () => {
    expect(readFileSync(CONFIG_DOCS, 'utf8')).toBe(renderConfigDocs());
  });

  test('every variable is documented: a description, and a default unless it is required', () => {
    const required: readonly string[] = ENV_SCHEMA.required;
    for (const [name, spec] of Object.entries(ENV_SCHEMA.properties)) {
      const s = spec as { description?: string; default?: unknown };
      expect({ name, described: (s.description ?? '').length > 0 }).toEqual({ name, described: true });
      expect({ name, defaulted: s.default !== undefined || required.includes(name) }).toEqual({
        name,
        defaulted: true,
      });
    }
  });

  test('every variable has a row in docs/configuration.md', () => {
    const doc = readFileSync(CONFIG_DOCS, 'utf8');
    for (const name of Object.keys(ENV_SCHEMA.properties)) expect(doc).toContain(`| \`${name}\` |`);
  });

  test('tuning defaults → the values the gateway and the AI stream used as literals', () => {
    const c = loadConfig(SECRETS);
    expect(c.gateway).toMatchObject({
      dbPoolSize: 5,
      sipCallHeadroom: 50,
      jitter: { minDelayMs: 20, initialDelayMs: 40, maxDelayMs: 200 },
      rtpReceiveBufferBytes: 256 * 1024,
      lastWordsMs: 5000,
      recordsRetryMs: 600_000,
      recordsDrainMs: 5000,
      replicaStopTimeoutMs: 15_000,
    });
    expect(c.ai).toMatchObject({
      reconnectInitialDelayMs: 200,
      reconnectMaxDelayMs: 2000,
      connectTimeoutMs: 5000,
      closeTimeoutMs: 1000,
      heartbeatMs: 5000,
      queueMaxMs: 2000,
    });
    expect(c.api.dbPoolSize).toBe(10);
    expect(c.databaseConnectTimeoutMs).toBe(5000);
  });

  test('jitter floors above the ceiling, or a first reconnect delay above the longest → ConfigError', () => {
    expect(() => loadConfig({ ...SECRETS, GATEWAY_JITTER_MIN_MS: '300' })).toThrow(/GATEWAY_JITTER_MIN_MS/);
    expect(() => loadConfig({ ...SECRETS, GATEWAY_JITTER_INITIAL_MS: '10' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...SECRETS, AI_RECONNECT_INITIAL_DELAY_MS: '5000' })).toThrow(
      /AI_RECONNECT_INITIAL_DELAY_MS/,
    );
  });
});
