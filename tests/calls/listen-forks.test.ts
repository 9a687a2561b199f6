import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { decodeAlaw, encodeAlaw } from '../../services/common/src/audio/g711';
import type { RtpPacket } from '../../services/media-gateway/src/rtp/packet';
import {
  freeMediaPort,
  freeUdpPort,
  startSipp,
  tracedMessages,
  uacMediaScenario,
  waitForAnswer,
  type RunningSipp,
} from '../../harness/sipp';
import { RtpPeer } from '../../harness/rtp-peer';
import { AiPeer, type AiConnection } from '../support/ai-peer';
import { api, createUser, type CreatedUser } from '../support/api';
import { sdpAfter, waitFor } from '../support/calls';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { SCENARIOS } from '../support/sipp-scenarios';
import { testStack } from '../support/stack';

/**
 * Listen-only forks on the real stack: Kamailio reports a call between two people,
 * the control-plane turns the matching rule into a `fork` command, the media gateway
 * subscribes to both parties on rtpengine and streams them to the test's AI peer on
 * labelled tracks. The two parties are RTP peers of the test playing different tones,
 * so each track can be told apart, and each party's received RTP can be compared
 * byte for byte with what the other sent.
 */
const CALLER_HZ = 440;
const CALLEE_HZ = 1300;
const PACKETS = 250; // 5 s of 20 ms packets

/** 20 ms PCMA packets of a sine tone. */
function tone(hz: number, ssrc: number): RtpPacket[] {
  const packets: RtpPacket[] = [];
  for (let i = 0; i < PACKETS; i++) {
    const pcm = new Int16Array(160);
    for (let n = 0; n < 160; n++) pcm[n] = Math.round(8000 * Math.sin((2 * Math.PI * hz * (i * 160 + n)) / 8000));
    packets.push({
      marker: i === 0,
      payloadType: 8,
      sequence: (1000 + i) & 0xffff,
      timestamp: i * 160,
      ssrc,
      payload: Buffer.from(encodeAlaw(pcm)),
    });
  }
  return packets;
}

/** Goertzel power of one frequency in 8 kHz samples, normalised by length. */
function power(samples: Int16Array, hz: number): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / 8000);
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) {
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.length;
}

function trackAudio(conn: AiConnection, track: string): Int16Array {
  const chunks = conn
    .of('audio_data')
    .map((f) => f['data'] as { track: string; audio: string })
    .filter((d) => d.track === track)
    .map((d) => {
      const b = Buffer.from(d.audio, 'base64');
      return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
    });
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function twilioTrackAudio(conn: AiConnection, track: string): Int16Array {
  const bytes = conn
    .of('media')
    .map((f) => f['media'] as { track: string; payload: string })
    .filter((m) => m.track === track)
    .map((m) => Buffer.from(m.payload, 'base64'));
  // μ-law: decode through the common codec
  const all = Buffer.concat(bytes);
  const out = new Int16Array(all.length);
  for (let i = 0; i < all.length; i++) out[i] = ulaw(all[i] as number);
  return out;
}

function ulaw(code: number): number {
  // ITU-T G.711 μ-law expansion
  const u = ~code & 0xff;
  const t = ((u & 0x0f) << 3) + 0x84;
  const v = (t << ((u & 0x70) >> 4)) - 0x84;
  return u & 0x80 ? -v : v;
}

describe('listen-only forks of calls between people', () => {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  let ai: AiPeer;
  beforeAll(async () => {
    await db.connect();
    ai = await AiPeer.start();
  });
  afterAll(async () => {
    await ai.close();
    await db.end();
  });

  async function rule(body: Record<string, unknown>): Promise<number> {
    const res = await api<{ id: number }>('POST', '/api/listen-forks', { role: 'admin', body });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  /** callee registered at a SIPp UAS whose media is `calleePeer`; caller's media is `callerPeer`; the caller hangs up after holdMs. */
  async function call(
    caller: CreatedUser | { trunkIp: string; number: string; did: string },
    callee: CreatedUser,
    holdMs: number,
  ): Promise<{
    sipCallId: string;
    uac: RunningSipp;
    uas: RunningSipp;
    callerPeer: RtpPeer;
    calleePeer: RtpPeer;
    toCallerRelay: { address: string; port: number };
    toCalleeRelay: { address: string; port: number };
  }> {
    const fromTrunk = 'trunkIp' in caller;
    const callerPeer = await RtpPeer.open(fromTrunk ? caller.trunkIp : '127.0.0.1');
    const calleePeer = await RtpPeer.open();
    const uasPort = await freeUdpPort();
    expectSippSuccess(
      await register(callee.username, callee.password, { first: 401, final: 200, contactPort: uasPort }),
      'callee registers',
    );
    const dir = mkdtempSync(join(tmpdir(), 'forks-'));
    const uasScenario = join(dir, 'uas.xml');
    writeFileSync(
      uasScenario,
      readFileSync(`${SCENARIOS}/uas-answer.xml`, 'utf8').replace('m=audio [media_port]', `m=audio ${calleePeer.port}`),
    );
    const uas = await startSipp({
      scenario: uasScenario,
      remote: proxy(),
      serverMode: true,
      localPort: uasPort,
      mediaPort: await freeMediaPort(),
      timeoutSeconds: 40,
    });
    const sipCallId = `lf-${randomUUID()}`;
    const domain = testStack().config.sip.domain;
    const uac = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs, telephoneEvent: false, authenticate: !fromTrunk }),
      remote: proxy(),
      ...(fromTrunk
        ? {
            localIp: caller.trunkIp,
            keys: { user: caller.number, callee: caller.did, domain, rtp_port: callerPeer.port },
          }
        : {
            keys: { user: caller.username, callee: callee.username, domain, rtp_port: callerPeer.port },
            auth: { user: caller.username, password: caller.password },
          }),
      timeoutSeconds: 40,
      extraArgs: ['-cid_str', sipCallId],
    });
    const toCallerRelay = await waitForAnswer(uac);
    const toCalleeRelay = sdpAfter(readFileSync(uas.messagesPath, 'utf8'), /INVITE sip:/);
    return { sipCallId, uac, uas, callerPeer, calleePeer, toCallerRelay, toCalleeRelay };
  }

  test('a user-to-user call matching a rule: the AI hears the caller on "caller" and the callee on "callee"; each party receives exactly what the other sent; the fork ends with the call', async () => {
    const [alice, bob] = [await createUser(), await createUser()];
    const id = await rule({ scope: 'user', value: alice.username, ai_url: ai.url, ai_dialect: 'olib' });
    const before = ai.connections.length;
    const c = await call(alice, bob, 8000);
    try {
      const conn = await ai.connection(before, 15_000);
      const callerSent = tone(CALLER_HZ, 0x11111111);
      const calleeSent = tone(CALLEE_HZ, 0x22222222);
      await Promise.all([
        c.callerPeer.send(callerSent, c.toCallerRelay),
        c.calleePeer.send(calleeSent, c.toCalleeRelay),
      ]);

      // The start frame says listen-only and names the tracks.
      const auth = conn.of('auth')[0] as { call: Record<string, unknown> };
      expect(auth.call).toMatchObject({ listen_only: true, tracks: ['caller', 'callee'], sip_call_id: c.sipCallId });

      await conn.waitFor(
        'most of both tracks',
        (x) => trackAudio(x, 'caller').length >= 160 * 200 && trackAudio(x, 'callee').length >= 160 * 200,
      );
      const callerTrack = trackAudio(conn, 'caller');
      const calleeTrack = trackAudio(conn, 'callee');
      const ratio = (t: Int16Array, want: number, other: number): number => power(t, want) / power(t, other);
      const callerRatio = ratio(callerTrack, CALLER_HZ, CALLEE_HZ);
      const calleeRatio = ratio(calleeTrack, CALLEE_HZ, CALLER_HZ);
      console.log(
        `fork: caller track ${callerTrack.length / 160} frames, ${CALLER_HZ}/${CALLEE_HZ} Hz power ratio ${callerRatio.toFixed(0)}; callee track ${calleeTrack.length / 160} frames, ratio ${calleeRatio.toFixed(0)}`,
      );
      expect(callerRatio).toBeGreaterThan(100);
      expect(calleeRatio).toBeGreaterThan(100);

      // Each party received the other's RTP unchanged: same payloads, same order, none missing.
      await waitFor('both parties received everything', async () =>
        c.callerPeer.received.length >= PACKETS && c.calleePeer.received.length >= PACKETS ? true : undefined,
      );
      const payloads = (r: RtpPeer): string[] => r.received.map((p) => p.packet.payload.toString('hex'));
      expect(payloads(c.callerPeer)).toEqual(calleeSent.map((p) => p.payload.toString('hex')));
      expect(payloads(c.calleePeer)).toEqual(callerSent.map((p) => p.payload.toString('hex')));
      // The AI's audio is the party's own, decoded: the first caller frame matches what alice sent.
      const first = decodeAlaw(callerSent[10]!.payload);
      const at = callerTrack.length >= 160 * 11 ? callerTrack.slice(160 * 10, 160 * 11) : new Int16Array(0);
      expect(Array.from(at)).toEqual(Array.from(first));

      expectSippSuccess(await c.uac.done, 'alice hangs up normally');
      expectSippSuccess(await c.uas.done, 'bob sees the BYE');
      await conn.waitFor('the fork ends with the call', (x) => x.closed, 15_000);
      expect(conn.of('call_end')).toHaveLength(1);
      // The gateway closes the AI stream before it marks the unfork done: wait for both rows to settle.
      const rows = await waitFor('the fork and unfork commands to finish', async () => {
        const r = await db.query<{ command: string; state: string; result: Record<string, unknown> }>(
          "SELECT command, state, result FROM call_commands WHERE args->>'sip_call_id' = $1 ORDER BY id",
          [c.sipCallId],
        );
        return r.rows.length === 2 && r.rows.every((x) => x.state !== 'pending' && x.state !== 'claimed')
          ? r.rows
          : undefined;
      });
      expect(rows.map((r) => [r.command, r.state])).toEqual([
        ['fork', 'done'],
        ['unfork', 'done'],
      ]);
    } finally {
      c.callerPeer.close();
      c.calleePeer.close();
      await api('DELETE', `/api/listen-forks/${id}`, { role: 'admin' });
    }
  });

  test('twilio dialect: inbound is the caller, outbound the callee; the AI closing mid-call leaves the call up and the gateway reconnects', async () => {
    const [alice, bob] = [await createUser(), await createUser()];
    const id = await rule({ scope: 'user', value: bob.username, ai_url: ai.url, ai_dialect: 'twilio' });
    const before = ai.connections.length;
    const c = await call(alice, bob, 9000);
    try {
      const conn = await ai.connection(before, 15_000);
      const callerSent = tone(CALLER_HZ, 0x33333333);
      const calleeSent = tone(CALLEE_HZ, 0x44444444);
      const sending = Promise.all([
        c.callerPeer.send(callerSent, c.toCallerRelay),
        c.calleePeer.send(calleeSent, c.toCalleeRelay),
      ]);
      sending.catch(() => undefined);
      await conn.waitFor('the start frame', (x) => x.of('start').length > 0);
      const start = conn.of('start')[0] as { start: { tracks: string[]; mediaFormat: { tracks: string[] } } };
      expect(start.start.tracks).toEqual(['inbound', 'outbound']);
      await conn.waitFor('a second of both tracks', (x) => {
        const m = x.of('media').map((f) => (f['media'] as { track: string }).track);
        return m.filter((t) => t === 'inbound').length >= 50 && m.filter((t) => t === 'outbound').length >= 50;
      });
      const inbound = twilioTrackAudio(conn, 'inbound');
      const outbound = twilioTrackAudio(conn, 'outbound');
      expect(power(inbound, CALLER_HZ) / power(inbound, CALLEE_HZ)).toBeGreaterThan(100);
      expect(power(outbound, CALLEE_HZ) / power(outbound, CALLER_HZ)).toBeGreaterThan(100);

      // The AI drops the socket: the call goes on, the gateway comes back.
      conn.socket.terminate();
      const again = await ai.connection(before + 1, 15_000);
      await again.waitFor('audio again', (x) => x.of('media').length >= 20);
      await sending;
      await waitFor('both parties received everything', async () =>
        c.callerPeer.received.length >= PACKETS && c.calleePeer.received.length >= PACKETS ? true : undefined,
      );
      expect(c.callerPeer.received).toHaveLength(PACKETS);
      expect(c.calleePeer.received).toHaveLength(PACKETS);
      const run = await c.uac.done;
      expectSippSuccess(run, 'alice hangs up normally, after the AI dropped');
      const byeOk = tracedMessages(run).filter(
        (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 200 OK'),
      );
      expect(byeOk.length).toBeGreaterThanOrEqual(2);
    } finally {
      c.callerPeer.close();
      c.calleePeer.close();
      await api('DELETE', `/api/listen-forks/${id}`, { role: 'admin' });
    }
  });

  test('a call from a PSTN party behind a trunk to a registered user, with a rule on the trunk: both parties reach the AI on their tracks, the call is unchanged', async () => {
    const TRUNK_IP = '127.0.0.2';
    const trunkId = `lf_${Date.now()}`;
    const did = `+1555${String(Date.now()).slice(-7)}`;
    const bob = await createUser();
    const trunk = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: {
        trunk_id: trunkId,
        name: 'Listen fork trunk',
        provider: 'test',
        proxy_address: TRUNK_IP,
        proxy_port: 5060,
        username: 'u',
        password: 'p4ssw0rd-long',
        supports_outbound: false,
        supports_inbound: true,
        transport: 'UDP',
        allowed_ips: [TRUNK_IP],
      },
    });
    expect(trunk.status).toBe(201);
    const number = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number: did, route_type: 'sip_user', target: bob.username },
    });
    expect(number.status).toBe(201);
    const id = await rule({ scope: 'trunk', value: trunkId, ai_url: ai.url, ai_dialect: 'olib' });
    const before = ai.connections.length;
    const c = await call({ trunkIp: TRUNK_IP, number: '+15550001111', did }, bob, 8000);
    try {
      const conn = await ai.connection(before, 15_000);
      const callerSent = tone(CALLER_HZ, 0x55555555);
      const calleeSent = tone(CALLEE_HZ, 0x66666666);
      await Promise.all([
        c.callerPeer.send(callerSent, c.toCallerRelay),
        c.calleePeer.send(calleeSent, c.toCalleeRelay),
      ]);
      const auth = conn.of('auth')[0] as { call: Record<string, unknown> };
      expect(auth.call).toMatchObject({ listen_only: true, trunk: trunkId, from_number: '15550001111' });
      await conn.waitFor(
        'most of both tracks',
        (x) => trackAudio(x, 'caller').length >= 160 * 200 && trackAudio(x, 'callee').length >= 160 * 200,
      );
      const callerTrack = trackAudio(conn, 'caller');
      const calleeTrack = trackAudio(conn, 'callee');
      expect(power(callerTrack, CALLER_HZ) / power(callerTrack, CALLEE_HZ)).toBeGreaterThan(100);
      expect(power(calleeTrack, CALLEE_HZ) / power(calleeTrack, CALLER_HZ)).toBeGreaterThan(100);
      await waitFor('both parties received everything', async () =>
        c.callerPeer.received.length >= PACKETS && c.calleePeer.received.length >= PACKETS ? true : undefined,
      );
      const payloads = (r: RtpPeer): string[] => r.received.map((p) => p.packet.payload.toString('hex'));
      expect(payloads(c.callerPeer)).toEqual(calleeSent.map((p) => p.payload.toString('hex')));
      expect(payloads(c.calleePeer)).toEqual(callerSent.map((p) => p.payload.toString('hex')));
      expectSippSuccess(await c.uac.done, 'the PSTN party hangs up normally');
      expectSippSuccess(await c.uas.done, 'bob sees the BYE');
      await conn.waitFor('the fork ends with the call', (x) => x.closed, 15_000);
    } finally {
      c.callerPeer.close();
      c.calleePeer.close();
      await api('DELETE', `/api/listen-forks/${id}`, { role: 'admin' });
      await api('DELETE', `/api/numbers/${encodeURIComponent(did)}`, { role: 'operator' });
      await api('DELETE', `/api/trunks/${trunkId}`, { role: 'operator' });
    }
  });

  test('/api/listen-forks: create, get, update, list, delete; hostile bodies → 400, duplicates → 409, unknown → 404; operators are refused', async () => {
    const value = `u${Date.now()}`;
    const created = await api<{ id: number; ai_url: string | null; ai_dialect: string }>('POST', '/api/listen-forks', {
      role: 'admin',
      body: { scope: 'user', value },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ai_url: null, ai_dialect: 'olib' });
    const dup = await api<{ error: { code: string } }>('POST', '/api/listen-forks', {
      role: 'admin',
      body: { scope: 'user', value },
    });
    expect([dup.status, dup.body.error.code]).toEqual([409, 'ERR_LISTEN_FORK_EXISTS']);
    const updated = await api<{ enabled: boolean; ai_dialect: string }>('PUT', `/api/listen-forks/${created.body.id}`, {
      role: 'admin',
      body: { enabled: false, ai_dialect: 'twilio' },
    });
    expect([updated.status, updated.body.enabled, updated.body.ai_dialect]).toEqual([200, false, 'twilio']);
    const got = await api<{ value: string }>('GET', `/api/listen-forks/${created.body.id}`, { role: 'admin' });
    expect(got.body.value).toBe(value);
    const list = await api<{ items: Array<{ id: number }> }>('GET', '/api/listen-forks', { role: 'admin' });
    expect(list.body.items.map((r) => r.id)).toContain(created.body.id);

    const hostile: unknown[] = [
      { scope: 'user' },
      { scope: 'group', value: 'x' },
      { scope: 'number', value: '12345' },
      { scope: 'user', value: 'a b' },
      { scope: 'user', value: 'x'.repeat(65) },
      { scope: 'user', value: 'ok', ai_url: 'http://evil.example/' },
      { scope: 'user', value: 'ok', ai_url: 'ws://a\u0000b' },
      { scope: 'user', value: 'ok', ai_dialect: 'sip' },
      { scope: 'user', value: 'ok', custom_parameters: { k: { nested: true } } },
      { scope: 'user', value: 'ok', extra: 1 },
      [],
    ];
    for (const body of hostile) {
      const res = await api<{ error: { code: string } }>('POST', '/api/listen-forks', { role: 'admin', body });
      expect([JSON.stringify(body), res.status, res.body.error?.code]).toEqual([
        JSON.stringify(body),
        400,
        'ERR_VALIDATION',
      ]);
    }
    const notJson = await api<{ error: { code: string } }>('POST', '/api/listen-forks', {
      role: 'admin',
      body: 'scope=user',
    });
    expect([notJson.status, notJson.body.error.code]).toEqual([400, 'ERR_BAD_JSON']);
    const badId = await api('GET', '/api/listen-forks/1%27%20OR%201=1', { role: 'admin' });
    expect(badId.status).toBe(400);
    const operator = await api('GET', '/api/listen-forks', { role: 'operator' });
    expect(operator.status).toBe(403);

    expect((await api('DELETE', `/api/listen-forks/${created.body.id}`, { role: 'admin' })).status).toBe(200);
    const gone = await api<{ error: { code: string } }>('GET', `/api/listen-forks/${created.body.id}`, {
      role: 'admin',
    });
    expect([gone.status, gone.body.error.code]).toEqual([404, 'ERR_LISTEN_FORK_NOT_FOUND']);
  });
});
