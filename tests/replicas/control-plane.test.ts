import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import { SupervisedChild, waitUntilReady } from '../../scripts/stack/processes';
import { LocalStack } from '../../scripts/stack/supervisor';
import { api, createUser, token } from '../support/api';
import { eventually, smsProvider, stop } from '../support/sms';
import { expectSippSuccess, proxy } from '../support/sip';
import { G711A_PCAP, startSipp, uacMediaScenario, waitForAnswer, type SippRun } from '../../harness/sipp';
import { pcapRtp, RtpPeer } from '../../harness/rtp-peer';
import { stackView, type TestStack } from '../support/stack';

/**
 * Two control-plane replicas on one database, the way a Deployment with replicas: 2
 * runs them: per-trunk SMS rate limits hold for the pair, no message goes out twice,
 * trunk sync has one leader that another replica replaces when it stops or dies, and
 * a recording made by the gateway (RECORDINGS_STORAGE=postgres) downloads through
 * either replica. Its own stack (ports and database from TEST_STACK_SLOT, moved by
 * 500), because the test stops control-planes on purpose.
 */
const SLOT = Number(process.env['TEST_STACK_SLOT'] || '0');
const BASE = 20_500 + SLOT * 1000;
const RTP = 63_000 + SLOT * 360;
const OVERRIDES = {
  STACK_INSTANCE: `test-replicas${SLOT}`,
  DB_NAME: `sipai_test_replicas${SLOT}`,
  SIP_PROXY_PORT: String(BASE + 60),
  SIP_TLS_PORT: String(BASE + 61),
  API_PORT: String(BASE + 80),
  KAMAILIO_RPC_PORT: String(BASE + 81),
  KAMAILIO_EVAPI_PORT: String(BASE + 48),
  RTPENGINE_NG_PORT: String(BASE + 23),
  RTPPROXY_CONTROL_PORT: String(BASE + 25),
  GATEWAY_SIP_PORT: String(BASE + 70),
  GATEWAY_HTTP_PORT: String(BASE + 82),
  DEMO_AGENT_PORT: String(BASE + 90),
  SMS_SIP_PORT: String(BASE + 92),
  RTP_PORT_MIN: String(RTP),
  RTP_PORT_MAX: String(RTP + 179),
  GATEWAY_RTP_PORT_MIN: String(RTP + 180),
  GATEWAY_RTP_PORT_MAX: String(RTP + 359),
  RECORDINGS_STORAGE: 'postgres',
  KAMAILIO_SYNC_INTERVAL_SECONDS: '1',
  // Small claims, so both replicas' workers take part in one burst of messages.
  SMS_BATCH_SIZE: '2',
};
const SECOND_API_PORT = BASE + 84;
const SECOND_SMS_PORT = BASE + 94;

const PROVIDER = '127.0.0.7';
const RATE = 5;
const MESSAGES = 30;

describe('two control-plane replicas on one database', () => {
  let stack: LocalStack;
  let first: TestStack;
  let second: TestStack;
  let secondProcess: SupervisedChild | undefined;
  let secondRecordings: string;
  let db: Client;

  /** Starts (again) the second replica: its own API and SMS ports, an empty recordings directory. */
  const startSecond = async (): Promise<void> => {
    secondProcess = new SupervisedChild(
      {
        name: 'control-plane-2',
        command: process.execPath,
        args: [join(__dirname, '..', '..', 'dist', 'services', 'control-plane', 'src', 'main.js')],
        env: { ...second.env },
      },
      join(stack.config.stateDir, 'logs', 'control-plane-2.log'),
    );
    await waitUntilReady(
      secondProcess,
      async () => {
        const res = await fetch(`${second.apiUrl}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.status !== 200) throw new Error(`health answered ${res.status}`);
      },
      30_000,
    );
  };

  beforeAll(async () => {
    stack = new LocalStack({ instance: 'test', freshDatabase: true, overrides: OVERRIDES, say: () => undefined });
    await stack.start();
    first = stackView(stack.env);
    secondRecordings = mkdtempSync(join(tmpdir(), 'replica-recordings-'));
    second = stackView({
      ...stack.env,
      API_PORT: String(SECOND_API_PORT),
      SMS_SIP_PORT: String(SECOND_SMS_PORT),
      RECORDINGS_DIR: secondRecordings,
    });
    await startSecond();
    db = new Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
  }, 180_000);

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    await secondProcess?.stop();
    await stack?.stop();
    if (secondRecordings) rmSync(secondRecordings, { recursive: true, force: true });
  }, 60_000);

  const call = <T = Record<string, unknown>>(on: TestStack, method: string, path: string, body?: unknown) =>
    api<T>(method, path, { role: 'operator', stack: on, ...(body === undefined ? {} : { body }) });

  test('SMS sent through both replicas with a 5/s trunk limit: the provider gets 5/s in total, each message once', async () => {
    const provider = await smsProvider(PROVIDER, ['200 OK']);
    let run: SippRun | undefined;
    try {
      expect(
        (
          await call(first, 'POST', '/api/trunks/', {
            trunk_id: 'replica_trunk',
            name: 'Shared limit',
            provider: 'test',
            proxy_address: PROVIDER,
            proxy_port: provider.localPort,
            transport: 'UDP',
            sms_rate_limit: RATE,
          })
        ).status,
      ).toBe(201);
      const from = '+15557770400';
      expect(
        (
          await call(second, 'POST', '/api/numbers/', {
            number: from,
            route_type: 'ai',
            ai_dialect: 'olib',
            ai_options: { mode: 'echo' },
          })
        ).status,
      ).toBe(201);

      const started = Date.now();
      const ids = await Promise.all(
        Array.from({ length: MESSAGES }, async (_, i) => {
          const r = await call<{ message_id: string }>(i % 2 === 0 ? first : second, 'POST', '/api/sms/send', {
            from_number: from,
            to_number: `+1415555${String(2000 + i)}`,
            message: `replica message ${i}`,
          });
          expect(r.status).toBe(202);
          return r.body.message_id;
        }),
      );
      await eventually(
        'every message to be sent',
        async () => {
          const r = await call<{ total: number }>(first, 'GET', '/api/sms/history?per_page=1&status=sent');
          return r.body.total === MESSAGES ? true : undefined;
        },
        MESSAGES * 1000,
      );
      const tookMs = Date.now() - started;
      run = await stop(provider);

      const arrivals = messageArrivals(run.messages);
      expect(arrivals.length).toBe(MESSAGES);
      // Each message once: no id twice, every id there.
      expect(new Set(arrivals.map((a) => a.smsId)).size).toBe(MESSAGES);
      expect(new Set(arrivals.map((a) => a.smsId))).toEqual(new Set(ids));
      // Both replicas sent: their SMS endpoints' ports in the Via below Kamailio's.
      const senders = new Map<number, number>();
      for (const a of arrivals) senders.set(a.senderPort, (senders.get(a.senderPort) ?? 0) + 1);
      expect([...senders.keys()].sort()).toEqual([Number(OVERRIDES.SMS_SIP_PORT), SECOND_SMS_PORT].sort());

      // The shared bucket: rate 5/s, burst 1 → 30 messages take at least (30 - 1) / 5 = 5.8 s
      // (each replica with its own bucket: about 2.9 s), and no second holds more than rate + burst.
      const times = arrivals.map((a) => a.at).sort((x, y) => x - y);
      const spanMs = (times[times.length - 1] as number) - (times[0] as number);
      let busiest = 0;
      for (let i = 0; i < times.length; i++) {
        const inWindow = times.filter((t) => t >= (times[i] as number) && t < (times[i] as number) + 1000).length;
        busiest = Math.max(busiest, inWindow);
      }
      console.log(
        `[replicas] ${MESSAGES} SMS at ${RATE}/s through 2 replicas: span ${(spanMs / 1000).toFixed(2)} s, ` +
          `busiest 1 s window ${busiest}, per replica ${JSON.stringify(Object.fromEntries(senders))}, all sent in ${(tookMs / 1000).toFixed(1)} s`,
      );
      expect(spanMs).toBeGreaterThanOrEqual(((MESSAGES - 1) / RATE) * 1000 * 0.95);
      // rate + burst, and one more for the time a MESSAGE spends between the bucket and the provider.
      expect(busiest).toBeLessThanOrEqual(RATE + 1 + 1);
    } finally {
      if (!run) await stop(provider);
    }
  }, 90_000);

  test('a call recorded by the gateway (RECORDINGS_STORAGE=postgres) downloads byte-identical through either replica', async () => {
    const caller = await createUser({}, first);
    const number = '+15557780401';
    expect(
      (
        await call(first, 'POST', '/api/numbers/', {
          number,
          route_type: 'ai',
          ai_dialect: 'olib',
          ai_options: { mode: 'echo' },
          recording_enabled: true,
        })
      ).status,
    ).toBe(201);
    const audio = pcapRtp(G711A_PCAP, 8).slice(0, 150);
    const peer = await RtpPeer.open();
    try {
      const sipp = await startSipp({
        scenario: uacMediaScenario({ codec: 'PCMA', holdMs: audio.length * 20 + 1000 }),
        remote: proxy(first),
        keys: { user: caller.username, callee: number.slice(1), domain: first.config.sip.domain, rtp_port: peer.port },
        auth: { user: caller.username, password: caller.password },
        timeoutSeconds: 30,
      });
      const relay = await waitForAnswer(sipp);
      await peer.send(audio, relay);
      expectSippSuccess(await sipp.done, 'recorded call');
    } finally {
      peer.close();
    }
    const row = await eventually(
      'the call to end with its recording',
      async () => {
        const r = await db.query<{ call_id: string; recording_path: string; recording_bytes: number | null }>(
          `SELECT call_id, recording_path, recording_bytes::int AS recording_bytes FROM calls
           WHERE to_number LIKE $1 AND state = 'ended' ORDER BY id DESC LIMIT 1`,
          [`%${number.slice(1)}`],
        );
        return r.rows[0];
      },
      20_000,
    );
    expect(row.recording_bytes).toBeGreaterThan(44 + 100 * 320);
    // Moved into the database: nothing left on the gateway's disk.
    expect(existsSync(row.recording_path)).toBe(false);

    const download = async (on: TestStack): Promise<Buffer> => {
      const res = await fetch(`${on.apiUrl}/api/calls/${row.call_id}/recording`, {
        headers: { authorization: `Bearer ${await tokenFor(on)}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(row.recording_bytes));
      return Buffer.from(await res.arrayBuffer());
    };
    const started = Date.now();
    const viaFirst = await download(first);
    const viaSecond = await download(second);
    console.log(
      `[replicas] recording of ${row.recording_bytes} bytes downloaded through both replicas in ${Date.now() - started} ms`,
    );
    expect(viaSecond.equals(viaFirst)).toBe(true);
    expect(viaFirst.length).toBe(row.recording_bytes);
    expect(viaFirst.subarray(0, 4).toString('latin1')).toBe('RIFF');
    // The header the gateway fixed when the call ended: data size = file - 44 bytes.
    expect(viaFirst.readUInt32LE(40)).toBe(viaFirst.length - 44);
  }, 60_000);

  test('trunk sync has one leader; when it stops (SIGTERM) or dies (SIGKILL), the other replica takes over and syncs', async () => {
    const rpc = kamailioRpcFromConfig(stack.config);
    const replicas = {
      first: { view: first, stop: () => signal('control-plane', 'SIGTERM'), start: () => stack.restartControlPlane() },
      second: { view: second, stop: () => secondProcess?.stop() ?? Promise.resolve(), start: startSecond },
    };
    async function signal(name: string, sig: NodeJS.Signals): Promise<void> {
      const pid = stack.pidOf(name);
      if (pid !== undefined) process.kill(pid, sig);
      await eventually(`${name} to exit`, async () => (stack.pidOf(name) === undefined ? true : undefined), 15_000);
    }
    const leaders = async (): Promise<Array<keyof typeof replicas>> => {
      const out: Array<keyof typeof replicas> = [];
      for (const [name, r] of Object.entries(replicas) as Array<[keyof typeof replicas, (typeof replicas)['first']]>) {
        const text = await fetch(`${r.view.apiUrl}/metrics`, { signal: AbortSignal.timeout(2000) })
          .then((res) => res.text())
          .catch(() => '');
        if (/^control_plane_leader\{job="trunk_sync"\} 1$/m.test(text)) out.push(name);
      }
      return out;
    };
    const oneLeader = (): Promise<keyof typeof replicas> =>
      eventually(
        'exactly one trunk sync leader',
        async () => {
          const l = await leaders();
          return l.length === 1 ? l[0] : undefined;
        },
        15_000,
      );
    /** A row written straight into the database reaches Kamailio through the leader's sync alone. */
    const synced = async (ip: string): Promise<number> => {
      const t0 = Date.now();
      await db.query(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (9, $1, 32, 0, 'replicas-test')`, [
        ip,
      ]);
      await eventually(
        `${ip} in Kamailio's address table`,
        async () => (JSON.stringify(await rpc.call('permissions.addressDump')).includes(ip) ? true : undefined),
        10_000,
      );
      return Date.now() - t0;
    };

    const leader = await oneLeader();
    const syncMs = await synced('198.51.100.71');

    const t1 = Date.now();
    await replicas[leader].stop();
    const stopped = Date.now() - t1;
    const next = await oneLeader();
    const failoverMs = Date.now() - t1 - stopped;
    expect(next).not.toBe(leader);
    const syncAfterStopMs = await synced('198.51.100.72');

    // Back as a follower; then the new leader is killed outright.
    await replicas[leader].start();
    expect(await oneLeader()).toBe(next);
    const t2 = Date.now();
    if (next === 'first') await signal('control-plane', 'SIGKILL');
    else secondProcess?.killGroup();
    const third = await oneLeader();
    const killFailoverMs = Date.now() - t2;
    expect(third).toBe(leader);
    const syncAfterKillMs = await synced('198.51.100.73');
    console.log(
      `[replicas] trunk sync: leader ${leader}, SQL change in Kamailio after ${syncMs} ms; ` +
        `SIGTERM → ${next} leads ${failoverMs} ms after the old one exited, synced in ${syncAfterStopMs} ms; ` +
        `SIGKILL → ${third} leads after ${killFailoverMs} ms, synced in ${syncAfterKillMs} ms`,
    );
    for (const bound of [failoverMs, killFailoverMs]) expect(bound).toBeLessThan(5000);
  }, 120_000);
});

/** A bearer token of the stack's (api() parses JSON; a WAV is fetched directly). */
function tokenFor(on: TestStack): Promise<string> {
  return token('operator', 600, on);
}

interface Arrival {
  readonly at: number;
  readonly smsId: string;
  readonly senderPort: number;
}

/**
 * MESSAGEs in a SIPp trace with the time SIPp logged them (its separator lines carry
 * `YYYY-MM-DD<tab or space>HH:MM:SS.micro`), the X-SMS-Id, and the port of the replica
 * that sent it: the second Via, below Kamailio's.
 */
function messageArrivals(trace: string): Arrival[] {
  const out: Arrival[] = [];
  const re =
    /^-{20,}\s+(\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d(?:\.\d+)?)\s*\n(?:UDP|TCP) message received[^\n]*\n\n(MESSAGE [\s\S]*?)(?=^-{20,}|(?![\s\S]))/gm;
  for (const m of trace.matchAll(re)) {
    const [, day, time, text] = m as unknown as [string, string, string, string];
    const [hms, frac = '0'] = time.split('.');
    const at = Date.parse(`${day}T${hms}Z`) + Number(`0.${frac}`) * 1000;
    const id = /^X-SMS-Id:\s*(\S+)/im.exec(text)?.[1];
    const vias = [...text.matchAll(/^Via:\s*SIP\/2\.0\/\w+\s+[^:;\s]+:(\d+)/gim)].map((v) => Number(v[1]));
    if (!id) throw new Error(`a MESSAGE without X-SMS-Id:\n${text}`);
    out.push({ at, smsId: id, senderPort: vias[1] ?? -1 });
  }
  if (out.length === 0 && /MESSAGE sip:/.test(trace)) throw new Error('MESSAGEs in the trace but no timestamps parsed');
  return out;
}
