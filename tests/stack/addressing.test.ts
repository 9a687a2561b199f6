import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { BlockList, connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT } from '../../scripts/stack/env';
import { DEMO_NUMBER } from '../../scripts/stack/supervisor';
import { kamailioRpcFromConfig, kamailioRpcUrl } from '../../services/common/src/kamailio/rpc';
import { freeSipPort } from '../../services/common/src/net/ports';
import { RtpPeer } from '../../harness/rtp-peer';
import { startSipp, uacMediaScenario, waitForAnswer } from '../../harness/sipp';
import { api, createUser } from '../support/api';
import { waitFor } from '../support/calls';
import { expectSippSuccess, proxy } from '../support/sip';
import { testStack } from '../support/stack';

/**
 * Kamailio's JSON-RPC and evapi, and the clients of them, on the addresses the
 * configuration names (pods apart in Kubernetes). Run it against a stack whose control
 * ports are away from 127.0.0.1 to prove the clients follow the configuration:
 *
 *   KAMAILIO_CONTROL_LISTEN_ADDRESS=127.0.0.3 KAMAILIO_RPC_HOST=127.0.0.3 KAMAILIO_EVAPI_HOST=127.0.0.3 \
 *     TEST_STACK_SLOT=<n> node node_modules/jest/bin/jest.js --runInBand tests/stack/addressing.test.ts
 *
 * With the defaults (everything on 127.0.0.1) the same checks run; the one about the
 * bind address then says so and checks the loopback bind.
 */
const stack = testStack();
const c = stack.config;
/** A source outside the default KAMAILIO_RPC_ALLOWED_CIDRS (127.0.0.1/32): the whole 127/8 is local on Linux. */
const OUTSIDER = '127.0.0.7';
const KAMAILIO_LOG = join(c.stateDir, 'logs', 'kamailio.log');

function allowedByConfig(address: string): boolean {
  const list = new BlockList();
  for (const cidr of c.kamailio.rpcAllowedCidrs) {
    const [net = '', prefix = ''] = cidr.split('/');
    list.addSubnet(net, Number(prefix), isIPv6(net) ? 'ipv6' : 'ipv4');
  }
  return list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
}

/** What Kamailio logs from now on: read it with `since()`. */
function logFromHere(): { since: () => string } {
  const start = statSync(KAMAILIO_LOG).size;
  return {
    since: () => {
      const fd = openSync(KAMAILIO_LOG, 'r');
      try {
        return readFileSync(fd, 'utf8').slice(start);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** One JSON-RPC POST from `localAddress`; status and body. */
function rpcFrom(localAddress: string, method: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(kamailioRpcUrl(c));
    const req = request(
      {
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(url.port),
        path: url.pathname,
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json' },
        timeout: 3000,
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('JSON-RPC request timed out')));
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', method, id: 1 }));
  });
}

/** 'connected', or the error code of the failed connect. */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2000, () => socket.destroy(new Error('timeout')));
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('Kamailio control on configured addresses: who may reach it, and clients that follow the configuration', () => {
  test(`JSON-RPC from ${OUTSIDER}, outside KAMAILIO_RPC_ALLOWED_CIDRS → 403, and Kamailio logs the refusal`, async () => {
    expect(allowedByConfig(OUTSIDER)).toBe(false);
    const log = logFromHere();
    const refused = await rpcFrom(OUTSIDER, 'core.version');
    expect(refused).toEqual({ status: 403, body: 'JSON-RPC is not served to this source\n' });
    await waitFor(
      'the refusal in the Kamailio log',
      async () => (log.since().includes(`JSON-RPC refused: source ${OUTSIDER} is not in`) ? true : undefined),
      5000,
    );
    // The same request from an allowed source (127.0.0.1) is answered.
    const answered = await rpcFrom('127.0.0.1', 'core.version');
    expect(answered.status).toBe(200);
    expect(answered.body).toMatch(/"result":\s*"kamailio 5\.6/);
  });

  test(`evapi from ${OUTSIDER} → closed by Kamailio and logged; the control-plane's own stream stays connected`, async () => {
    const log = logFromHere();
    const socket: Socket = connect({ host: c.kamailio.evapiHost, port: c.kamailio.evapiPort, localAddress: OUTSIDER });
    const closed = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve('still open after 5 s');
      }, 5000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve('closed');
      });
      socket.on('error', () => undefined);
    });
    expect(closed).toBe('closed');
    await waitFor(
      'the evapi refusal in the Kamailio log',
      async () => (log.since().includes(`evapi refused: source ${OUTSIDER} is not in`) ? true : undefined),
      5000,
    );
    const status = await api<{ components: { kamailio: { status: string; events_connected: boolean } } }>(
      'GET',
      '/api/config/status',
      { role: 'operator' },
    );
    expect(status.body.components.kamailio).toMatchObject({ status: 'ok', events_connected: true });
  });

  test('JSON-RPC and evapi listen on KAMAILIO_CONTROL_LISTEN_ADDRESS, and nowhere else on loopback', async () => {
    const { controlListenAddress: bound, rpcPort, evapiPort } = c.kamailio;
    expect(await connectOutcome(bound, rpcPort)).toBe('connected');
    expect(await connectOutcome(bound, evapiPort)).toBe('connected');
    if (bound === '127.0.0.1') {
      process.stdout.write(
        'addressing: KAMAILIO_CONTROL_LISTEN_ADDRESS is the default 127.0.0.1, so this run checks the loopback bind only; ' +
          'run with KAMAILIO_CONTROL_LISTEN_ADDRESS=127.0.0.3 KAMAILIO_RPC_HOST=127.0.0.3 KAMAILIO_EVAPI_HOST=127.0.0.3 to check a bind elsewhere\n',
      );
      return;
    }
    expect(await connectOutcome('127.0.0.1', rpcPort)).toBe('ECONNREFUSED');
    expect(await connectOutcome('127.0.0.1', evapiPort)).toBe('ECONNREFUSED');
    // The clients use the configured hosts: the stack's services came up through them.
    expect(c.kamailio.rpcHost).toBe(bound);
    expect(c.kamailio.evapiHost).toBe(bound);
  });

  test('a call to the demo number is answered by the AI, and the API lists its dialog', async () => {
    const caller = await createUser();
    const rtp = await RtpPeer.open();
    const sipp = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs: 4000 }),
      remote: proxy(stack),
      keys: { user: caller.username, callee: DEMO_NUMBER.slice(1), domain: c.sip.domain, rtp_port: rtp.port },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 25,
    });
    try {
      await waitForAnswer(sipp);
      const dialog = await waitFor('the call in GET /api/dialogs', async () => {
        const res = await api<{ items: Array<{ call_id: string; state: string }> }>('GET', '/api/dialogs', {
          role: 'operator',
        });
        return res.body.items.find((d) => d.call_id.includes(`-${sipp.pid}@`));
      });
      expect(dialog.state).toBeTruthy();
      expectSippSuccess(await sipp.done, 'the demo call');
    } finally {
      sipp.kill();
      await sipp.done.catch(() => undefined);
      rtp.close();
    }
  }, 40_000);
});

/**
 * A TCP relay from `host:port` to Kamailio's JSON-RPC: "Kamailio comes up" at a
 * client's address when it starts. Its connections to Kamailio come from 127.0.0.1.
 */
async function rpcRelay(host: string, port: number): Promise<Server> {
  const target = new URL(kamailioRpcUrl(c));
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

describe('control-plane start-up while Kamailio does not answer', () => {
  const db = new Client({ connectionString: c.databaseUrl });
  beforeAll(() => db.connect());
  afterAll(() => db.end());

  test('it starts, /health is 503 with the reason and a log line per attempt, and it joins once Kamailio answers', async () => {
    // Nothing listens at 127.0.0.9: this control-plane's Kamailio is "not up yet".
    const kamailioAt = '127.0.0.9';
    const apiPort = await freeSipPort(47000, 1000);
    const smsPort = await freeSipPort(48000, 1000);
    const logPath = join(c.stateDir, 'logs', 'control-plane-kamailio-down.log');
    const out = openSync(logPath, 'w');
    let child: ChildProcess | undefined;
    let relay: Server | undefined;
    const health = async (): Promise<{ status: number; body: { kamailio?: { status: string; error?: string } } }> => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/health`).catch(() => undefined);
      if (!res) return { status: 0, body: {} };
      return { status: res.status, body: (await res.json()) as { kamailio?: { status: string; error?: string } } };
    };
    const smsRow = async (): Promise<number> =>
      (await db.query('SELECT 1 FROM dispatcher WHERE description = $1', [`sms ${c.sms.sipAddress}:${smsPort}`]))
        .rowCount ?? 0;
    try {
      child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'services', 'control-plane', 'src', 'main.js')], {
        env: {
          ...stack.env,
          KAMAILIO_RPC_HOST: kamailioAt,
          API_PORT: String(apiPort),
          SMS_SIP_PORT: String(smsPort),
          SMS_WORKER: 'false',
        },
        stdio: ['ignore', out, out],
      });
      const waiting = await waitFor(
        'a 503 saying why',
        async () => {
          const h = await health();
          return h.status === 503 && /\d+ attempts failed/.test(h.body.kamailio?.error ?? '') ? h : undefined;
        },
        20_000,
      );
      expect(waiting.body.kamailio).toEqual({
        status: 'error',
        error: expect.stringMatching(
          /^waiting for Kamailio: joining the SMS set: \d+ attempts failed, last: dispatcher\.reload: Kamailio did not answer/,
        ) as unknown,
      });
      expect(readFileSync(logPath, 'utf8')).toMatch(/Kamailio not answering yet: joining the SMS set failed; retrying/);
      expect(await smsRow()).toBe(1); // its row is written; Kamailio has not reloaded it

      relay = await rpcRelay(kamailioAt, c.kamailio.rpcPort);
      const started = Date.now();
      const ready = await waitFor(
        '/health 200 once Kamailio answers',
        async () => {
          const h = await health();
          return h.status === 200 ? h : undefined;
        },
        30_000,
      );
      process.stdout.write(
        `addressing: control-plane ready ${((Date.now() - started) / 1000).toFixed(1)} s after Kamailio answered\n`,
      );
      expect(ready.body.kamailio).toEqual({ status: 'ok' });
      expect(readFileSync(logPath, 'utf8')).toMatch(/Kamailio answered: joining the SMS set done/);
      // Kamailio loaded the new member (dispatcher.reload went through the relay).
      const rpc = kamailioRpcFromConfig(c);
      try {
        const list = JSON.stringify(await rpc.call('dispatcher.list'));
        expect(list).toContain(`:${smsPort}`);
      } finally {
        await rpc.close();
      }
    } finally {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child!.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      closeSync(out);
      // A stop that could not leave the set (killed) leaves its row: remove it, reload.
      if ((await smsRow()) > 0) {
        await db.query('DELETE FROM dispatcher WHERE description = $1', [`sms ${c.sms.sipAddress}:${smsPort}`]);
        const rpc = kamailioRpcFromConfig(c);
        await rpc.call('dispatcher.reload').catch(() => undefined);
        await rpc.close();
      }
      await new Promise((resolve) => (relay ? relay.close(resolve) : resolve(undefined)));
    }
    expect(await smsRow()).toBe(0);
  }, 90_000);
});
