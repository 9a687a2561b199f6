import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../services/common/src/config';
import { isRelayAvailable, relayLaunch, RelayNotInstalledError, RTPENGINE_TEMPLATE } from './relay';

const BASE_ENV = {
  STATE_DIR: '/tmp/sipai-launch-test',
  DATABASE_URL: 'postgresql://unused:unused@127.0.0.1:1/unused',
  JWT_SECRET_KEY: 'relay-test-placeholder-secret-0000000000',
  SIP_JWT_SECRET: 'relay-test-placeholder-secret-1111111111',
  SIP_SHARED_SECRET: 'relay-test-placeholder-secret-2222222222',
  PROXY_SHARED_SECRET: 'relay-test-placeholder-secret-3333333333',
  RELAY_ADDRESS: '192.0.2.10',
  RTPENGINE_NG_PORT: '32223',
  RTPPROXY_CONTROL_PORT: '32225',
  RTP_PORT_MIN: '46000',
  RTP_PORT_MAX: '46999',
};
const configFor = (env: Record<string, string>): Config => loadConfig({ ...BASE_ENV, ...env });

describe('relayLaunch / isRelayAvailable', () => {
  let binDir: string;

  beforeAll(() => {
    // Stand-in binaries so the launch spec does not depend on what this machine has installed.
    binDir = mkdtempSync(join(tmpdir(), 'sipai-relay-bin-'));
    for (const name of ['rtpengine', 'rtpproxy']) {
      writeFileSync(join(binDir, name), '#!/bin/sh\nexit 0\n');
      chmodSync(join(binDir, name), 0o755);
    }
  });

  afterAll(() => {
    rmSync(binDir, { recursive: true, force: true });
  });

  it('rtpengine: foreground, stderr logging, its own rendered config under STATE_DIR', () => {
    const launch = relayLaunch(configFor({ MEDIA_RELAY: 'rtpengine' }), { searchPath: binDir });
    const configFile = '/tmp/sipai-launch-test/rtpengine/rtpengine.conf';
    expect(launch.command).toBe(join(binDir, 'rtpengine'));
    expect(launch.args).toEqual([`--config-file=${configFile}`, '--foreground', '--log-stderr']);
    expect(launch.pidFile).toBe('/tmp/sipai-launch-test/rtpengine.pid');
    expect(launch.files).toHaveLength(1);
    expect(launch.files[0]?.path).toBe(configFile);
    expect(launch.files[0]?.mode).toBe(0o644);
  });

  it('rtpengine config: userspace only, relay address, loopback NG, port range, pid file, log level', () => {
    const content =
      relayLaunch(configFor({ MEDIA_RELAY: 'rtpengine', LOG_LEVEL: 'warn' }), { searchPath: binDir }).files[0]
        ?.content ?? '';
    const settings = content
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.trim());
    expect(settings).toEqual([
      '[rtpengine]',
      'table = -1',
      'interface = 192.0.2.10',
      'listen-ng = 127.0.0.1:32223',
      'port-min = 46000',
      'port-max = 46999',
      'pidfile = /tmp/sipai-launch-test/rtpengine.pid',
      'log-level = 4',
      'timeout = 60',
      'silent-timeout = 3600',
    ]);
  });

  it('RTPENGINE_NG_LISTEN_ADDRESS → listen-ng on that address (an IPv6 one in brackets)', () => {
    const listenNg = (address: string): string | undefined =>
      /^listen-ng = (.*)$/m.exec(
        relayLaunch(configFor({ RTPENGINE_NG_LISTEN_ADDRESS: address }), { searchPath: binDir }).files[0]?.content ??
          '',
      )?.[1];
    expect(listenNg('127.0.0.3')).toBe('127.0.0.3:32223');
    expect(listenNg('0.0.0.0')).toBe('0.0.0.0:32223');
    expect(listenNg('fd00::4')).toBe('[fd00::4]:32223');
  });

  it('the shipped template has no placeholder the renderer does not fill', () => {
    expect(readFileSync(RTPENGINE_TEMPLATE, 'utf8')).toContain('{{INTERFACE}}');
    const content = relayLaunch(configFor({}), { searchPath: binDir }).files[0]?.content ?? '';
    expect(content).not.toMatch(/\{\{|\}\}/);
  });

  it('an unknown placeholder in the template is an error naming rtpengine.conf', () => {
    expect(() => relayLaunch(configFor({}), { searchPath: binDir, template: 'x = {{NOPE}}' })).toThrow(
      'rtpproxy/rtpengine.conf: no value for {{NOPE}}',
    );
  });

  it('rtpproxy: foreground, loopback UDP control socket, listen address, port range, log level, pid file', () => {
    const launch = relayLaunch(configFor({ MEDIA_RELAY: 'rtpproxy', LOG_LEVEL: 'debug' }), {
      searchPath: binDir,
      root: false,
    });
    expect(launch.command).toBe(join(binDir, 'rtpproxy'));
    expect(launch.args).toEqual([
      '-f',
      '-s',
      'udp:127.0.0.1:32225',
      '-l',
      '192.0.2.10',
      '-m',
      '46000',
      '-M',
      '46999',
      '-d',
      'DBUG:LOG_LOCAL0',
      '-p',
      '/tmp/sipai-launch-test/rtpproxy.pid',
    ]);
    expect(launch.files).toEqual([]);
  });

  it('rtpproxy as root gets -F (it refuses a network control socket as root otherwise); IPv6 uses -6', () => {
    const launch = relayLaunch(configFor({ MEDIA_RELAY: 'rtpproxy', RELAY_ADDRESS: '2001:db8::10' }), {
      searchPath: binDir,
      root: true,
    });
    expect(launch.args.slice(0, 2)).toEqual(['-f', '-F']);
    expect(launch.args).toEqual(expect.arrayContaining(['-6', '2001:db8::10']));
    expect(launch.args).not.toContain('-l');
  });

  it('a missing binary is a clear error, with what to do about it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sipai-empty-'));
    try {
      expect(() => relayLaunch(configFor({ MEDIA_RELAY: 'rtpproxy' }), { searchPath: empty })).toThrow(
        RelayNotInstalledError,
      );
      expect(() => relayLaunch(configFor({ MEDIA_RELAY: 'rtpproxy' }), { searchPath: empty })).toThrow(
        /rtpproxy not found on PATH: RTPProxy is not packaged in Debian bookworm/,
      );
      expect(() => relayLaunch(configFor({ MEDIA_RELAY: 'rtpengine' }), { searchPath: empty })).toThrow(
        /apt-get install rtpengine-daemon/,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('isRelayAvailable looks for an executable file on the search path', () => {
    expect(isRelayAvailable('rtpengine', binDir)).toBe(true);
    expect(isRelayAvailable('rtpproxy', `/nonexistent:${binDir}`)).toBe(true);
    expect(isRelayAvailable('rtpproxy', '/nonexistent')).toBe(false);
    chmodSync(join(binDir, 'rtpproxy'), 0o644);
    expect(isRelayAvailable('rtpproxy', binDir)).toBe(false);
    chmodSync(join(binDir, 'rtpproxy'), 0o755);
  });

  it('a RELAY_ADDRESS that could break the config file is refused', () => {
    expect(() => relayLaunch(configFor({ RELAY_ADDRESS: '127.0.0.1;evil' }), { searchPath: binDir })).toThrow(
      /RELAY_ADDRESS/,
    );
  });
});
