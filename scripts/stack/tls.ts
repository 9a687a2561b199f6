import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import type { Config } from '../../services/common/src/config';

/**
 * SIP over TLS for the local stack: the self-signed certificate generated on first
 * start (when SIP_TLS_CERT_FILE/SIP_TLS_KEY_FILE are not set) and Kamailio's tls.cfg.
 */

/** The names a self-signed certificate must cover: the SIP domain and the addresses phones are told to use. */
export function certificateNames(config: Config): { commonName: string; subjectAltNames: string[] } {
  const names = [config.sip.domain, config.sip.proxyAddress, config.sip.listenAddress];
  const san: string[] = [];
  for (const name of names) {
    // 0.0.0.0 is where Kamailio binds, never what a phone connects to.
    if (name === '0.0.0.0' || name === '::') continue;
    const entry = isIP(name) === 0 ? `DNS:${name}` : `IP:${name}`;
    if (!san.includes(entry)) san.push(entry);
  }
  return { commonName: config.sip.domain, subjectAltNames: san };
}

/** `openssl req` arguments for a self-signed RSA certificate covering {@link certificateNames}. */
export function selfSignedArgs(config: Config): string[] {
  const { commonName, subjectAltNames } = certificateNames(config);
  return [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '825',
    '-subj',
    `/O=sip-ai-bridge (self-signed)/CN=${commonName.replace(/[/\\]/g, '')}`,
    '-addext',
    `subjectAltName=${subjectAltNames.join(',')}`,
    '-addext',
    'extendedKeyUsage=serverAuth,clientAuth',
    '-keyout',
    config.sip.tls.keyFile,
    '-out',
    config.sip.tls.certFile,
  ];
}

/**
 * Makes sure Kamailio has a certificate and key to present: operator-provided files
 * must be readable; the default self-signed pair is generated once (key mode 0600)
 * and kept, so phones that pinned it keep trusting it. Returns what happened.
 */
export function ensureTlsCertificate(config: Config): 'generated' | 'existing' {
  const { certFile, keyFile, selfSigned } = config.sip.tls;
  if (!selfSigned) {
    for (const [name, file] of [
      ['SIP_TLS_CERT_FILE', certFile],
      ['SIP_TLS_KEY_FILE', keyFile],
    ] as const) {
      try {
        accessSync(file, constants.R_OK);
      } catch {
        throw new Error(`${name}: cannot read ${file}`);
      }
    }
    return 'existing';
  }
  if (existsSync(certFile) && existsSync(keyFile)) return 'existing';
  mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
  const run = spawnSync('openssl', selfSignedArgs(config), { encoding: 'utf8', timeout: 30_000 });
  if (run.error || run.status !== 0) {
    const why = run.error ? run.error.message : run.stderr.trim();
    throw new Error(
      `generating the self-signed SIP TLS certificate with openssl failed (apt-get install openssl, or set SIP_TLS_CERT_FILE and SIP_TLS_KEY_FILE): ${why}`,
    );
  }
  chmodSync(keyFile, 0o600);
  return 'generated';
}

/**
 * Kamailio's tls.cfg (the tls module's `config`): phones connect without client
 * certificates; towards trunks Kamailio is the client and verifies the provider's
 * chain against SIP_TLS_CA_FILE unless SIP_TLS_VERIFY_TRUNKS=false. TLS 1.2 or newer
 * both ways (RFC 8996 deprecates 1.0 and 1.1).
 */
export function renderTlsConfig(config: Config): string {
  const { certFile, keyFile, caFile, verifyTrunks } = config.sip.tls;
  for (const [name, value] of [
    ['SIP_TLS_CERT_FILE', certFile],
    ['SIP_TLS_KEY_FILE', keyFile],
    ['SIP_TLS_CA_FILE', caFile],
  ] as const) {
    if (/[\n\r#[\]=]/.test(value))
      throw new Error(`${name}: a path for tls.cfg cannot contain newlines, '#', '[', ']' or '='`);
  }
  const verify = verifyTrunks ? 'yes' : 'no';
  return [
    '# Rendered by scripts/stack/kamailio.ts from SIP_TLS_* (docs/configuration.md). Do not edit.',
    '',
    '# Phones and providers connecting to us: our certificate, no client certificate asked.',
    '[server:default]',
    'method = TLSv1.2+',
    'verify_certificate = no',
    'require_certificate = no',
    `certificate = ${certFile}`,
    `private_key = ${keyFile}`,
    '',
    '# Us connecting to trunks (transport=tls): the provider must present a chain to a trusted CA.',
    '[client:default]',
    'method = TLSv1.2+',
    `verify_certificate = ${verify}`,
    `require_certificate = ${verify}`,
    `ca_list = ${caFile}`,
    '',
  ].join('\n');
}
