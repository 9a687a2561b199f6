import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/stack/env';

/** A port free for both TCP and UDP on the loopback. */
async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    );
    await new Promise((resolve) => server.close(resolve));
    if (await udpFree(port)) return port;
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function udpFree(port: number): Promise<boolean> {
  const sock = createSocket('udp4');
  return new Promise((resolve) => {
    sock.once('error', () => resolve(false));
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

describe('npm start', () => {
  test('prints where everything listens within 60 s, serves, and SIGTERM leaves nothing running', async () => {
    // Its own instance and ports, so it never meets the test stack or a running dev stack.
    const PORTS = {
      SIP_PROXY_PORT: String(await freePort()),
      API_PORT: String(await freePort()),
      KAMAILIO_RPC_PORT: String(await freePort()),
      KAMAILIO_EVAPI_PORT: String(await freePort()),
      RTPENGINE_NG_PORT: String(await freePort()),
      RTP_PORT_MIN: '47000',
      RTP_PORT_MAX: '47999',
      GATEWAY_SIP_PORT: String(await freePort()),
      GATEWAY_HTTP_PORT: String(await freePort()),
      GATEWAY_RTP_PORT_MIN: '38000',
      GATEWAY_RTP_PORT_MAX: '38999',
      DEMO_AGENT_PORT: String(await freePort()),
      SMS_SIP_PORT: String(await freePort()),
      SIP_TLS_PORT: String(await freePort()),
      // A database (and role) of its own: a dev stack may be running from another checkout.
      DB_NAME: 'sipai_startcheck',
    };
    const started = Date.now();
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'scripts', 'start.js')], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...PORTS, STACK_INSTANCE: 'startcheck', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "Ready" line within 60 s:\n${out}`)), 60_000);
        const check = setInterval(() => {
          if (/Ready in [\d.]+ s/.test(out)) {
            clearTimeout(timer);
            clearInterval(check);
            resolve();
          }
        }, 100);
        void exited.then((code) => {
          clearTimeout(timer);
          clearInterval(check);
          reject(new Error(`npm start exited with ${code}:\n${out}`));
        });
      });
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(out).toContain(`sip:127.0.0.1:${PORTS.SIP_PROXY_PORT}`);
      expect(out).toContain(`http://127.0.0.1:${PORTS.API_PORT}`);
      expect(out).toContain(`127.0.0.1:${PORTS.KAMAILIO_RPC_PORT}`);
      expect(out).toContain(`udp:127.0.0.1:${PORTS.RTPENGINE_NG_PORT}`);
      expect(out).toContain(`sip:127.0.0.1:${PORTS.GATEWAY_SIP_PORT}`);
      expect(out).toMatch(/dial\s+18005550100/);
      const health = await fetch(`http://127.0.0.1:${PORTS.API_PORT}/health`);
      expect(health.status).toBe(200);
      expect(await tcpOpen(Number(PORTS.SIP_PROXY_PORT))).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/stopped/);
    // Kamailio (SIP, RPC), the relay and the control-plane are all gone.
    expect(await tcpOpen(Number(PORTS.SIP_PROXY_PORT))).toBe(false);
    expect(await tcpOpen(Number(PORTS.KAMAILIO_RPC_PORT))).toBe(false);
    expect(await tcpOpen(Number(PORTS.API_PORT))).toBe(false);
    expect(await udpFree(Number(PORTS.RTPENGINE_NG_PORT))).toBe(true);
    expect(await udpFree(Number(PORTS.SIP_PROXY_PORT))).toBe(true);
    expect(await udpFree(Number(PORTS.GATEWAY_SIP_PORT))).toBe(true);
    expect(await tcpOpen(Number(PORTS.DEMO_AGENT_PORT))).toBe(false);
    expect(await tcpOpen(Number(PORTS.GATEWAY_HTTP_PORT))).toBe(false);
  }, 120_000);
});
