import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../services/common/src/config';
import { renderKamailioConfig } from './kamailio';
import { certificateNames, ensureTlsCertificate, renderTlsConfig } from './tls';

const BASE_ENV = {
  DATABASE_URL: 'postgresql://unused:unused@127.0.0.1:1/unused',
  JWT_SECRET_KEY: 'tls-test-placeholder-secret-00000000000000',
  SIP_JWT_SECRET: 'tls-test-placeholder-secret-11111111111111',
  SIP_SHARED_SECRET: 'tls-test-placeholder-secret-2222222222222',
  PROXY_SHARED_SECRET: 'tls-test-placeholder-proxy-secret-33333333333',
};

describe('SIP TLS files and tls.cfg', () => {
  let dir: string;
  const configFor = (env: Record<string, string> = {}): Config => loadConfig({ ...BASE_ENV, STATE_DIR: dir, ...env });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipai-tls-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('names: a host-name domain and the proxy address → DNS and IP entries, 0.0.0.0 left out, no duplicates', () => {
    const names = certificateNames(
      configFor({ SIP_DOMAIN: 'sip.example.com', SIP_LISTEN_ADDRESS: '0.0.0.0', SIP_PROXY_ADDRESS: '203.0.113.5' }),
    );
    expect(names).toEqual({
      commonName: 'sip.example.com',
      subjectAltNames: ['DNS:sip.example.com', 'IP:203.0.113.5'],
    });
    expect(certificateNames(configFor()).subjectAltNames).toEqual(['IP:127.0.0.1']);
  });

  test('first start → a self-signed certificate covering the domain and a key of mode 0600; the second start keeps them', () => {
    const config = configFor({ SIP_DOMAIN: 'sip.example.com' });
    expect(ensureTlsCertificate(config)).toBe('generated');
    const cert = new X509Certificate(readFileSync(config.sip.tls.certFile));
    expect(cert.subject).toContain('CN=sip.example.com');
    expect(cert.subjectAltName).toContain('DNS:sip.example.com');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(config.sip.tls.keyFile)))).toBe(true);
    expect(statSync(config.sip.tls.keyFile).mode & 0o777).toBe(0o600);
    const before = readFileSync(config.sip.tls.certFile, 'utf8');
    expect(ensureTlsCertificate(config)).toBe('existing');
    expect(readFileSync(config.sip.tls.certFile, 'utf8')).toBe(before);
  }, 30_000);

  test('operator files that cannot be read → an error naming the variable', () => {
    const cert = join(dir, 'cert.pem');
    writeFileSync(cert, 'x');
    expect(() =>
      ensureTlsCertificate(configFor({ SIP_TLS_CERT_FILE: cert, SIP_TLS_KEY_FILE: join(dir, 'missing.pem') })),
    ).toThrow(/SIP_TLS_KEY_FILE: cannot read/);
  });

  test('tls.cfg: our certificate for the server side, trunk chains verified against the CA bundle by default', () => {
    const text = renderTlsConfig(
      configFor({ SIP_TLS_CERT_FILE: '/etc/sipai/fullchain.pem', SIP_TLS_KEY_FILE: '/etc/sipai/key.pem' }),
    );
    const server = text.slice(text.indexOf('[server:default]'), text.indexOf('[client:default]'));
    const client = text.slice(text.indexOf('[client:default]'));
    expect(server).toMatch(/^certificate = \/etc\/sipai\/fullchain\.pem$/m);
    expect(server).toMatch(/^private_key = \/etc\/sipai\/key\.pem$/m);
    expect(server).toMatch(/^require_certificate = no$/m);
    expect(client).toMatch(/^verify_certificate = yes$/m);
    expect(client).toMatch(/^require_certificate = yes$/m);
    expect(client).toMatch(/^ca_list = \/etc\/ssl\/certs\/ca-certificates\.crt$/m);
    expect(text).toMatch(/^method = TLSv1\.2\+$/m);
  });

  test('tls.cfg: SIP_TLS_VERIFY_TRUNKS=false → trunk certificates are not verified', () => {
    const client = renderTlsConfig(configFor({ SIP_TLS_VERIFY_TRUNKS: 'false' })).split('[client:default]')[1] ?? '';
    expect(client).toMatch(/^verify_certificate = no$/m);
    expect(client).toMatch(/^require_certificate = no$/m);
  });

  test('tls.cfg: a path that would break its syntax → an error', () => {
    expect(() =>
      renderTlsConfig(configFor({ SIP_TLS_CERT_FILE: '/etc/a#b.pem', SIP_TLS_KEY_FILE: '/etc/k.pem' })),
    ).toThrow(/SIP_TLS_CERT_FILE/);
  });

  test('kamailio.cfg listens on TLS at SIP_TLS_PORT and loads the rendered tls.cfg', () => {
    const files = renderKamailioConfig(configFor({ SIP_TLS_PORT: '25061' }));
    const text = files.find((f) => f.name === 'kamailio.cfg')?.content;
    expect(text).toMatch(/^enable_tls=yes$/m);
    expect(text).toMatch(/^listen=tls:127\.0\.0\.1:25061$/m);
    expect(text).toContain(`modparam("tls", "config", "${dir}/kamailio/tls.cfg")`);
  });
});
