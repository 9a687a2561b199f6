import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../services/common/src/config';
import { KAMAILIO_NAMES } from '../../services/common/src/kamailio/names';
import { readKamailioTemplates, renderKamailioConfig, writeKamailioConfig } from './kamailio';

const BASE_ENV = {
  DATABASE_URL: 'postgresql://unused:unused@127.0.0.1:1/unused',
  JWT_SECRET_KEY: 'kamailio-test-placeholder-secret-0000000000',
  SIP_JWT_SECRET: 'kamailio-test-placeholder-secret-1111111111',
  SIP_SHARED_SECRET: 'kamailio-test-placeholder-secret-222222222',
  PROXY_SHARED_SECRET: 'kamailio-test-placeholder-proxy-secret-3333333',
};

/** The config's statements: comment lines (not `#!` directives) left out. */
function statements(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*#(?!!)/.test(line))
    .join('\n');
}

function allMatches(text: string, re: RegExp): string[] {
  return [...text.matchAll(re)].map((m) => m[1] as string);
}

const templates = readKamailioTemplates();
const templateCode = Object.values(templates).map(statements).join('\n');
const placeholder = /^\{\{([A-Z0-9_]+)\}\}$/;

describe('Kamailio configuration: parts and shared names', () => {
  let dir: string;
  let config: Config;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipai-kamailio-'));
    config = loadConfig({ ...BASE_ENV, STATE_DIR: dir });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('rendered → every template and tls.cfg, for the directory given, no placeholder left', () => {
    const out = join(dir, 'elsewhere');
    const files = renderKamailioConfig(config, out);
    expect(files.map((f) => f.name).sort()).toEqual([...Object.keys(templates), 'tls.cfg'].sort());
    for (const file of files) {
      expect(file.path).toBe(join(out, file.name));
      expect(file.content).not.toMatch(/\{\{|\}\}/);
    }
  });

  test('a host-name domain with a wildcard listen address (a container) → alias="<domain>", rendered', () => {
    const c = loadConfig({ ...BASE_ENV, STATE_DIR: dir, SIP_DOMAIN: 'sip.example.com', SIP_LISTEN_ADDRESS: '0.0.0.0' });
    const main = renderKamailioConfig(c, dir).find((f) => f.name === 'kamailio.cfg')?.content ?? '';
    expect(main).toMatch(/^alias="sip\.example\.com"$/m);
  });

  test('a quote in a configured value → refused', () => {
    const c = loadConfig({ ...BASE_ENV, STATE_DIR: dir, SIP_DOMAIN: 'evil"domain' });
    expect(() => renderKamailioConfig(c, dir)).toThrow(/SIP_DOMAIN contains a quote/);
  });

  test('defaults → JSON-RPC and evapi on loopback, served to 127.0.0.1/32 only, rtpengine on loopback', () => {
    const code = renderKamailioConfig(config, dir)
      .map((f) => statements(f.content))
      .join('\n');
    expect(code).toMatch(/^listen=tcp:127\.0\.0\.1:5081$/m);
    expect(code).toContain('modparam("evapi", "bind_addr", "127.0.0.1:8448")');
    expect(code).toContain('modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:22223")');
    expect(allMatches(code, /is_in_subnet\("([^"]+)", "([^"]+)"\)/g)).toEqual(['$si', '$evapi(srcaddr)']);
    expect(allMatches(code, /is_in_subnet\("[^"]+", "([^"]+)"\)/g)).toEqual(['127.0.0.1/32', '127.0.0.1/32']);
  });

  test('pods apart → bind addresses, the RPC CIDR list and the rtpengine host rendered; refusals logged', () => {
    const c = loadConfig({
      ...BASE_ENV,
      STATE_DIR: dir,
      KAMAILIO_CONTROL_LISTEN_ADDRESS: '10.1.2.3',
      KAMAILIO_RPC_ALLOWED_CIDRS: '10.1.0.0/16, 127.0.0.1/32',
      RTPENGINE_NG_HOST: 'sab-rtpengine',
    });
    const files = renderKamailioConfig(c, dir);
    const code = files.map((f) => statements(f.content)).join('\n');
    expect(code).toMatch(/^listen=tcp:10\.1\.2\.3:5081$/m);
    expect(code).toContain('modparam("evapi", "bind_addr", "10.1.2.3:8448")');
    expect(code).toContain('modparam("rtpengine", "rtpengine_sock", "udp:sab-rtpengine:22223")');
    expect(code).not.toMatch(/127\.0\.0\.1:(5081|8448|22223)/);
    const rpc = statements(files.find((f) => f.name === 'rpc.cfg')?.content ?? '');
    // Each refusal: a log line, then the 403 (RPC) or the closed connection (evapi).
    expect(rpc).toMatch(
      /if \(!is_in_subnet\("\$si", "10\.1\.0\.0\/16,127\.0\.0\.1\/32"\)\) \{\s*xlog\("L_WARN", "JSON-RPC refused[^\n]*\n\s*xhttp_reply\("403"/,
    );
    expect(rpc).toMatch(
      /if \(!is_in_subnet\("\$evapi\(srcaddr\)", "10\.1\.0\.0\/16,127\.0\.0\.1\/32"\)\) \{\s*xlog\("L_WARN", "evapi refused[^\n]*\n\s*evapi_close\(\)/,
    );
  });

  test('an IPv6 control address → in brackets in listen= and evapi bind_addr; kamailio -c accepts it', () => {
    const c = loadConfig({
      ...BASE_ENV,
      STATE_DIR: dir,
      KAMAILIO_CONTROL_LISTEN_ADDRESS: '::1',
      KAMAILIO_RPC_ALLOWED_CIDRS: '::1/128,10.0.0.0/8',
    });
    const main = writeKamailioConfig(c, join(dir, 'kamailio'));
    const code = readFileSync(main, 'utf8');
    expect(code).toMatch(/^listen=tcp:\[::1\]:5081$/m);
    expect(code).toContain('modparam("evapi", "bind_addr", "[::1]:8448")');
    const check = spawnSync('kamailio', ['-c', '-f', main], { encoding: 'utf8', cwd: dir });
    expect({ status: check.status, stderr: check.status === 0 ? '' : check.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('kamailio.cfg includes each route file once, by its path in the output directory', () => {
    const out = join(dir, 'elsewhere');
    const main = renderKamailioConfig(config, out).find((f) => f.name === 'kamailio.cfg')?.content ?? '';
    const included = allMatches(main, /^include_file "([^"]+)"$/gm);
    const parts = Object.keys(templates).filter((name) => name !== 'kamailio.cfg');
    expect(included.sort()).toEqual(parts.map((name) => join(out, name)).sort());
  });

  test('each shared name → used by the templates and rendered into the config', () => {
    const rendered = renderKamailioConfig(config)
      .map((f) => statements(f.content))
      .join('\n');
    for (const [name, value] of Object.entries(KAMAILIO_NAMES)) {
      expect({ name, used: templateCode.includes(`{{${name}}}`) }).toEqual({ name, used: true });
      expect({ name, rendered: rendered.includes(String(value)) }).toEqual({ name, rendered: true });
    }
  });

  test('htables → every one defined and used through a shared name', () => {
    const used = [
      ...allMatches(templateCode, /\$sht(?:inc|ex)?\(([^=]+)=>/g),
      ...allMatches(templateCode, /modparam\("htable", "htable", "([^=]+)=>/g),
    ];
    expect(used.length).toBeGreaterThan(0);
    for (const table of used) expect(table).toMatch(/^\{\{HTABLE_[A-Z_]+\}\}$/);
  });

  test('dialog profiles, usrloc table → shared names', () => {
    const profiles = allMatches(templateCode, /(?:set_dlg_profile|unset_dlg_profile|get_profile_size)\("([^"]+)"/g);
    expect(profiles.length).toBeGreaterThan(0);
    for (const p of profiles) expect(p).toMatch(/^\{\{DIALOG_PROFILE_[A-Z]+\}\}$/);
    const declared = allMatches(templateCode, /"profiles_with_value", "([^"]+)"/g).flatMap((v) => v.split(';'));
    for (const p of declared) expect(p).toMatch(/^\{\{DIALOG_PROFILE_[A-Z]+\}\}$/);
    for (const table of allMatches(templateCode, /\b(?:save|lookup)\("([^"]+)"/g))
      expect(table).toBe('{{USRLOC_TABLE}}');
  });

  test('dispatcher sets and the trunks address group → defines of shared names', () => {
    const args = [
      ...allMatches(templateCode, /\bds_(?:is_from_list|select_dst|select_domain)\(([A-Z_0-9]+)/g),
      ...allMatches(templateCode, /\ballow_source_address\(([^)]+)\)/g),
    ];
    expect(args.length).toBeGreaterThan(0);
    const defines = new Map(
      allMatches(templateCode, /^#!define ((?:DS|ADDR)_[A-Z]+ \S+)$/gm).map((d) => d.split(' ') as [string, string]),
    );
    for (const arg of args) expect(defines.get(arg)).toMatch(placeholder);
  });

  test('X-Bridge-* and X-Route headers → only through shared names', () => {
    expect(templateCode).not.toMatch(/X-Bridge|X-Route/i);
    // Standard headers (P-Asserted-Identity) are written as they are.
    const headers = [
      ...allMatches(templateCode, /append_hf\("([^:"]+):/g),
      ...allMatches(templateCode, /\$hdr\(([^)]+)\)/g),
    ].filter((h) => /^\{\{|^X-/i.test(h));
    expect(headers.length).toBeGreaterThan(0);
    for (const h of headers) expect(h).toMatch(/^\{\{HEADER_[A-Z_]+\}\}$/);
  });

  test('written to a directory → kamailio -c accepts it', () => {
    const main = writeKamailioConfig(config, join(dir, 'kamailio'));
    expect(readFileSync(main, 'utf8')).toMatch(/^#!KAMAILIO/);
    const check = spawnSync('kamailio', ['-c', '-f', main], { encoding: 'utf8', cwd: dir });
    expect({ status: check.status, stderr: check.status === 0 ? '' : check.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
