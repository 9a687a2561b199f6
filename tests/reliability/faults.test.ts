import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { AiPeer, type AiConnection } from '../support/ai-peer';
import { api, createUser } from '../support/api';
import { waitFor } from '../support/calls';
import { RtpPeer } from '../../harness/rtp-peer';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { startSipp, uacMediaScenario, waitForAnswer, type RunningSipp, type SippRun } from '../../harness/sipp';
import { testStack } from '../support/stack';
import { startInProcessApp } from '../api/in-process';

/** The pid the test stack's supervisor last started `name` with (scripts/stack/processes.ts PidRegistry). */
function childPid(name: string): number | undefined {
  const file = join(testStack().config.stateDir, 'children.json');
  const registry = JSON.parse(readFileSync(file, 'utf8')) as { byName?: Record<string, number> };
  return registry.byName?.[name];
}

/** Every process on the machine whose command line mentions `needle`, with its process group. */
function processesMentioning(needle: string): Array<{ pid: number; pgid: number }> {
  const out: Array<{ pid: number; pgid: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(needle)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(entry), pgid: Number(fields[2]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** One query on a session of its own (a database restart kills long-lived ones). */
async function query<T extends object>(sql: string, params: unknown[] = []): Promise<T[]> {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  db.on('error', () => undefined);
  await db.connect();
  try {
    return (await db.query<T>(sql, params)).rows;
  } finally {
    await db.end().catch(() => undefined);
  }
}

interface CallRow {
  state: string;
  end_reason: string | null;
  ended_by: string | null;
}
const callRow = async (to: string): Promise<CallRow | undefined> =>
  (
    await query<CallRow>(
      'SELECT state, end_reason, ended_by FROM calls WHERE to_number IN ($1, $2) ORDER BY started_at DESC LIMIT 1',
      [to, to.replace(/^\+/, '')],
    )
  )[0];

/** 20 ms PCMA frames of a 440 Hz tone. */
function tonePackets(
  count: number,
): Array<{ marker: boolean; payloadType: number; sequence: number; timestamp: number; ssrc: number; payload: Buffer }> {
  const out = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(160);
    for (let j = 0; j < 160; j++)
      payload[j] = (Math.sin((2 * Math.PI * 440 * (i * 160 + j)) / 8000) > 0 ? 0xa5 : 0x25) ^ 0x55;
    out.push({
      marker: i === 0,
      payloadType: 8,
      sequence: (1000 + i) & 0xffff,
      timestamp: 8000 + i * 160,
      ssrc: 0x4242,
      payload,
    });
  }
  return out;
}

const pcm16 = (ms: number, freq: number): string => {
  const samples = new Int16Array((16000 * ms) / 1000);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(Math.sin((2 * Math.PI * freq * i) / 16000) * 8000);
  return Buffer.from(samples.buffer).toString('base64');
};

const SILENT_PCMA = new Set([0xd5, 0x55]);
let numberSeq = 0;

describe('faults: a crashed component, a database restart, calls that end as they start, what the AI says before it hangs up', () => {
  let peer: AiPeer;
  beforeAll(async () => {
    peer = await AiPeer.start();
  });
  afterAll(async () => {
    await peer.close();
  });

  /** An AI number served by the test's AI peer, and an authenticated SIPp call to it with RTP from `rtp`. */
  async function aiCall(
    holdMs: number,
    opts: { remoteHangup?: boolean } = {},
  ): Promise<{
    number: string;
    sipp: RunningSipp;
    rtp: RtpPeer;
    relay: { address: string; port: number };
    ai: AiConnection;
  }> {
    const caller = await createUser();
    const number = `+1555775${String((Date.now() + ++numberSeq) % 10000).padStart(4, '0')}`;
    expect(
      (
        await api('POST', '/api/numbers/', {
          role: 'operator',
          body: { number, route_type: 'ai', ai_dialect: 'olib', ai_agent_url: `${peer.url}/olib` },
        })
      ).status,
    ).toBe(201);
    const index = peer.connections.length;
    const rtp = await RtpPeer.open();
    const sipp = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs, remoteHangup: opts.remoteHangup }),
      remote: proxy(),
      keys: {
        user: caller.username,
        callee: number.slice(1),
        domain: testStack().config.sip.domain,
        rtp_port: rtp.port,
      },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: Math.ceil(holdMs / 1000) + 20,
    });
    try {
      // The first call of the suite may meet a gateway still busy with the previous suite's calls.
      const relay = await waitForAnswer(sipp, 20_000);
      const ai = await peer.connection(index);
      await ai.waitFor('auth', (c) => c.of('auth').length === 1);
      return { number, sipp, rtp, relay, ai };
    } catch (err) {
      sipp.kill();
      rtp.close();
      throw err;
    }
  }

  test('the AI sends its last 5 s of speech and closes the socket (1000, no hangup): the caller hears all of it before the BYE; the call ends "ai_closed"', async () => {
    const call = await aiCall(20_000, { remoteHangup: true });
    try {
      // 250 frames of 20 ms at once, then the close: what Twilio's sample agent does.
      for (let i = 0; i < 5; i++) call.ai.send({ type: 'audio', data: { audio: pcm16(1000, 600 + i * 100) } });
      call.ai.socket.close(1000, 'conversation over');
      const run: SippRun = await call.sipp.done;
      expectSippSuccess(run, 'the gateway hangs up after the last words');
      const heard = call.rtp.received.filter(
        (r) => r.packet.payload.filter((b) => !SILENT_PCMA.has(b)).length > 20,
      ).length;
      console.log(`last words: ${heard} of 250 frames of AI speech reached the caller before the BYE`);
      expect(heard).toBeGreaterThanOrEqual(245);
      const row = await waitFor('the call row', async () => {
        const r = await callRow(call.number);
        return r?.state === 'ended' ? r : undefined;
      });
      expect(row).toEqual({ state: 'ended', end_reason: 'ai_closed', ended_by: 'ai' });
    } finally {
      call.rtp.close();
    }
  }, 60_000);

  test('calls hung up in the same moment they are answered never stay in /api/calls/active', async () => {
    const caller = await createUser({ max_concurrent_calls: 10 });
    const number = `+1555774${String((Date.now() + ++numberSeq) % 10000).padStart(4, '0')}`;
    expect(
      (
        await api('POST', '/api/numbers/', {
          role: 'operator',
          body: { number, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
        })
      ).status,
    ).toBe(201);
    const rtp = await RtpPeer.open();
    try {
      // SIPp sends its BYE right after the ACK: the gateway's end of the call races its start.
      const run = await (
        await startSipp({
          scenario: uacMediaScenario({ codec: 'PCMA', holdMs: 0 }),
          remote: proxy(),
          keys: {
            user: caller.username,
            callee: number.slice(1),
            domain: testStack().config.sip.domain,
            rtp_port: rtp.port,
          },
          auth: { user: caller.username, password: caller.password },
          calls: 8,
          rate: 8,
          limit: 8,
          timeoutSeconds: 30,
        })
      ).done;
      expectSippSuccess(run, '8 calls answered and hung up at once');
      const list = await waitFor(
        'all 8 rows ended',
        async () => {
          const rows = await query<{ state: string }>('SELECT state FROM calls WHERE to_number IN ($1, $2)', [
            number,
            number.slice(1),
          ]);
          return rows.length === 8 && rows.every((r) => r.state === 'ended') ? rows : undefined;
        },
        15_000,
      );
      expect(list).toHaveLength(8);
      const active = await api<{ items: unknown[] }>(
        'GET',
        `/api/calls/active?to_number=${encodeURIComponent(number)}`,
        { role: 'operator' },
      );
      expect(active.body.items).toEqual([]);
    } finally {
      rtp.close();
    }
  }, 60_000);

  test('the media gateway SIGKILLed during a call: the supervisor brings it back, and the call it had is closed "gateway restarted"', async () => {
    const call = await aiCall(30_000);
    try {
      await waitFor('the call row', async () => ((await callRow(call.number))?.state === 'active' ? true : undefined));
      const before = childPid('media-gateway');
      expect(before).toBeDefined();
      process.kill(before!, 'SIGKILL');
      const row = await waitFor(
        'the row closed by the restarted gateway',
        async () => {
          const r = await callRow(call.number);
          return r?.state === 'ended' ? r : undefined;
        },
        30_000,
      );
      expect(row).toEqual({ state: 'ended', end_reason: 'gateway restarted', ended_by: 'gateway' });
      expect(childPid('media-gateway')).not.toBe(before);
      const health = await waitFor(
        'gateway health',
        async () => {
          const res = await fetch(`http://127.0.0.1:${testStack().config.gateway.httpPort}/health`).catch(
            () => undefined,
          );
          return res?.status === 200 ? res.status : undefined;
        },
        20_000,
      );
      expect(health).toBe(200);
    } finally {
      call.sipp.kill();
      await call.sipp.done;
      call.rtp.close();
    }
  }, 90_000);

  test('Kamailio SIGKILLed: it is back within seconds with none of the old workers left, and a REGISTER works', async () => {
    const stack = testStack();
    const cfg = join(stack.config.stateDir, 'kamailio', 'kamailio.cfg');
    const before = childPid('kamailio');
    expect(before).toBeDefined();
    const oldWorkers = processesMentioning(cfg).filter((p) => p.pgid === before);
    expect(oldWorkers.length).toBeGreaterThan(5);
    const user = await createUser();
    const killedAt = Date.now();
    process.kill(before!, 'SIGKILL');
    await waitFor(
      'a REGISTER answered 200 by the new Kamailio',
      async () => {
        const now = childPid('kamailio');
        if (!now || now === before) return undefined;
        const run = await register(user.username, user.password, { first: 401, final: 200 });
        return run.code === 0 ? true : undefined;
      },
      30_000,
    );
    const seconds = (Date.now() - killedAt) / 1000;
    console.log(`Kamailio back and registering ${seconds.toFixed(1)} s after SIGKILL`);
    expect(seconds).toBeLessThan(20);
    const after = childPid('kamailio');
    const running = processesMentioning(cfg);
    expect(running.filter((p) => p.pgid !== after)).toEqual([]);
    expect(running.some((p) => oldWorkers.some((o) => o.pid === p.pid))).toBe(false);
  }, 60_000);

  test("PostgreSQL restarted during an AI call: the call goes on, the API answers again within seconds, the call's row ends correctly", async () => {
    const call = await aiCall(14_000);
    try {
      const send = call.rtp.send(tonePackets(600), call.relay);
      await call.ai.waitFor('caller audio', (c) => c.of('audio_data').length >= 50);
      const [line] = execFileSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' }).trim().split('\n');
      const [version, cluster] = (line ?? '').trim().split(/\s+/);
      const framesBefore = call.ai.of('audio_data').length;
      const restartedAt = Date.now();
      execFileSync('pg_ctlcluster', [version!, cluster!, 'restart']);
      await waitFor(
        'the API to answer from the database again',
        async () => {
          const res = await api('GET', '/api/numbers/?per_page=1', { role: 'operator' }).catch(() => undefined);
          return res?.status === 200 ? true : undefined;
        },
        20_000,
      );
      const apiBackSeconds = (Date.now() - restartedAt) / 1000;
      await call.ai.waitFor(
        'more caller audio after the restart',
        (c) => c.of('audio_data').length >= framesBefore + 100,
        10_000,
      );
      await send;
      const run = await call.sipp.done;
      expectSippSuccess(run, "the call ends normally with the caller's BYE");
      console.log(`API answering again ${apiBackSeconds.toFixed(1)} s after the restart began`);
      expect(apiBackSeconds).toBeLessThan(15);
      const row = await waitFor(
        'the call row ended',
        async () => {
          const r = await callRow(call.number);
          return r?.state === 'ended' ? r : undefined;
        },
        20_000,
      );
      expect(row.ended_by).toBe('caller');
      const health = await fetch(`${testStack().apiUrl}/health`);
      expect(health.status).toBe(200);
    } finally {
      call.rtp.close();
    }
  }, 90_000);

  test('/health says the database is down when this process can no longer log in to it (its password changed under it)', async () => {
    const role = `sipai_probe_${process.pid}`;
    const psql = (sql: string): string =>
      execFileSync(
        'runuser',
        ['-u', 'postgres', '--', 'psql', '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c', sql],
        { encoding: 'utf8' },
      );
    psql(`DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'first-password-1'`);
    const url = new URL(testStack().config.databaseUrl);
    url.username = role;
    url.password = 'first-password-1';
    const app = await startInProcessApp({ DATABASE_URL: url.toString() });
    try {
      expect((await fetch(`${app.url}/health`)).status).toBe(200);
      psql(`ALTER ROLE ${role} PASSWORD 'second-password-2'`);
      const res = await fetch(`${app.url}/health`);
      const body = (await res.json()) as { status: string; database: { status: string; error?: string } };
      expect(res.status).toBe(503);
      expect(body.database.status).toBe('error');
      expect(body.database.error).toMatch(/password authentication failed/);
    } finally {
      await app.close();
      psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
      psql(`DROP ROLE IF EXISTS ${role}`);
    }
  }, 30_000);
});
