import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { decodeAlaw, encodeAlaw } from '../../services/common/src/audio/g711';
import { measureTone } from '../../services/common/src/audio/signals';
import { writeWav } from '../../services/common/src/audio/wav';
import { generateHoldTune } from '../../services/media-gateway/src/moh/tune';
import type { RtpPacket } from '../../services/media-gateway/src/rtp/packet';
import { RtpPeer, type ReceivedPacket } from '../../harness/rtp-peer';
import { startSipp, tracedMessages, uacMediaScenario, waitForAnswer, type RunningSipp } from '../../harness/sipp';
import { AiPeer, type AiConnection } from '../support/ai-peer';
import { api, createUser } from '../support/api';
import { expectSippSuccess, proxy } from '../support/sip';
import { testStack } from '../support/stack';

/**
 * Hold and resume by the gateway, end to end: a SIPp caller (through Kamailio and
 * rtpengine) talks to an AI played by the test. On hold (the AI's request or the
 * API's) SIPp must receive a re-INVITE with a=sendonly, which it answers recvonly;
 * then it receives the music (the generated tune's own G.711 frames, not the AI's
 * speech), and the AI hears nothing of the caller. On resume a re-INVITE with
 * a=sendrecv, the AI is told and the caller hears the AI again.
 */

const SDP_ANSWER = (direction: string, version: number): string => `v=0
      o=[user] 53655765 ${version} IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=${direction}`;

/** Answers the gateway's re-INVITE, failing the SIPp call unless its SDP says `expect`. */
const ANSWER_REINVITE = (expect: string, direction: string, version: number): string => `
  <recv request="INVITE" timeout="30000">
    <action>
      <ereg regexp="a=${expect}" search_in="body" check_it="true" assign_to="dir_${version}"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      ${SDP_ANSWER(direction, version)}

    ]]>
  </send>
  <recv request="ACK"/>`;

/** A caller through Kamailio that is held (sendonly → recvonly), resumed (sendrecv → sendrecv) and hung up on. */
function heldCallerScenario(): string {
  const file = uacMediaScenario({ codec: 'PCMA', holdMs: 60_000, remoteHangup: true });
  let text = readFileSync(file, 'utf8');
  const bye = text.indexOf('  <recv request="BYE"');
  if (bye < 0) throw new Error('scenario: no BYE wait to put the re-INVITEs before');
  text =
    text.slice(0, bye) +
    ANSWER_REINVITE('sendonly', 'recvonly', 2353687638) +
    ANSWER_REINVITE('sendrecv', 'sendrecv', 2353687639) +
    '\n  <Reference variables="dir_2353687638,dir_2353687639"/>\n' +
    text.slice(bye);
  writeFileSync(file, text);
  return file;
}

/** 20 ms A-law RTP packets of `pcm8k`. */
function packetsOf(pcm8k: Int16Array, seq: number, ts: number): RtpPacket[] {
  const out: RtpPacket[] = [];
  for (let i = 0; i + 160 <= pcm8k.length; i += 160) {
    out.push({
      marker: i === 0,
      payloadType: 8,
      sequence: (seq + i / 160) & 0xffff,
      timestamp: ts + i,
      ssrc: 0x4242,
      payload: Buffer.from(encodeAlaw(pcm8k.subarray(i, i + 160))),
    });
  }
  return out;
}

function tone(hz: number, ms: number, rate: number, level = 0.3): Int16Array {
  return Int16Array.from({ length: (rate * ms) / 1000 }, (_, n) =>
    Math.round(level * 32767 * Math.sin((2 * Math.PI * hz * n) / rate)),
  );
}

const b64 = (pcm: Int16Array): string => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).toString('base64');

/** Where each 160-byte frame of an encoded piece sits in it. */
function frameIndex(payload: Uint8Array): Map<string, number> {
  const index = new Map<string, number>();
  for (let i = 0; i + 160 <= payload.length; i += 160)
    index.set(Buffer.from(payload.subarray(i, i + 160)).toString('hex'), i / 160);
  return index;
}

/** Of the packets received between two instants: how many are frames of the piece, and in order. */
function musicIn(received: readonly ReceivedPacket[], from: number, to: number, index: Map<string, number>) {
  const window = received.filter((r) => r.atMs > from && r.atMs < to);
  const positions = window.map((r) => index.get(r.packet.payload.toString('hex')));
  const matched = positions.filter((p) => p !== undefined).length;
  let inOrder = 0;
  for (let i = 1; i < positions.length; i++) {
    const [a, b] = [positions[i - 1], positions[i]];
    if (a !== undefined && b !== undefined && (b === a + 1 || b === 0)) inOrder++;
  }
  return { packets: window.length, matched, inOrder };
}

/** Amplitude of `hz` in what the caller received between two instants, and how many packets were loud. */
function heard(received: readonly ReceivedPacket[], from: number, to: number, hz: number) {
  const window = received.filter((r) => r.atMs > from && r.atMs < to);
  const pcm = new Int16Array(window.length * 160);
  window.forEach((r, i) => pcm.set(decodeAlaw(r.packet.payload).subarray(0, 160), i * 160));
  const loud = window.filter((r) => {
    const f = decodeAlaw(r.packet.payload);
    return f.reduce((m, s) => Math.max(m, Math.abs(s)), 0) > 3000;
  }).length;
  return { loud, amplitude: measureTone(pcm, 8000, hz).amplitude };
}

interface HeldCall {
  readonly sipp: RunningSipp;
  readonly rtp: RtpPeer;
  readonly relay: { address: string; port: number };
  readonly ai: AiConnection;
  readonly callId: string;
  readonly number: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let numbers = 0;

describe('hold and resume with music on hold', () => {
  let peer: AiPeer;
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  const tune = encodeAlaw(generateHoldTune());
  const tuneFrames = frameIndex(tune);

  beforeAll(async () => {
    peer = await AiPeer.start();
    await db.connect();
  });
  /** SIPp and RTP of each test's call, stopped whatever happened. */
  const live: Array<{ sipp: RunningSipp; rtp: RtpPeer }> = [];
  afterEach(() => {
    for (const { sipp, rtp } of live.splice(0)) {
      sipp.kill();
      rtp.close();
    }
  });
  afterAll(async () => {
    await peer.close();
    await db.end();
  });

  async function call(options: { holdMusic?: string; dialect?: 'olib' | 'twilio' } = {}): Promise<HeldCall> {
    const dialect = options.dialect ?? 'olib';
    const caller = await createUser();
    numbers++;
    const number = `+1555744${String((Date.now() + numbers) % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: {
        number,
        route_type: 'ai',
        ai_dialect: dialect,
        ai_agent_url: `${peer.url}/${dialect}`,
        ...(options.holdMusic ? { hold_music: options.holdMusic } : {}),
      },
    });
    expect(created.status).toBe(201);
    const index = peer.connections.length;
    const rtp = await RtpPeer.open();
    const sipp = await startSipp({
      scenario: heldCallerScenario(),
      remote: proxy(),
      keys: {
        user: caller.username,
        callee: number.slice(1),
        domain: testStack().config.sip.domain,
        rtp_port: rtp.port,
      },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 60,
    });
    let relay: { address: string; port: number };
    try {
      relay = await waitForAnswer(sipp);
    } catch (err) {
      sipp.kill();
      rtp.close();
      const run = await sipp.done;
      throw new Error(`${(err as Error).message}\n${run.errors}\n${run.messages.slice(-3000)}`);
    }
    live.push({ sipp, rtp });
    const ai = await peer.connection(index);
    await ai.waitFor('auth', (c) => c.of(dialect === 'olib' ? 'auth' : 'start').length === 1);
    const callId =
      dialect === 'olib'
        ? (ai.of('auth')[0] as { auth: { call_id: string } }).auth.call_id
        : (ai.of('start')[0] as { start: { callSid: string } }).start.callSid;
    return { sipp, rtp, relay, ai, callId, number };
  }

  async function onHold(callId: string): Promise<boolean> {
    const { rows } = await db.query<{ on_hold: boolean }>('SELECT on_hold FROM calls WHERE call_id = $1', [callId]);
    return rows[0]?.on_hold ?? false;
  }

  async function holdEvents(callId: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
    const { rows } = await db.query<{ type: string; data: Record<string, unknown> }>(
      `SELECT type, data FROM call_events WHERE call_id = $1 AND type IN ('hold', 'resume') ORDER BY id`,
      [callId],
    );
    return rows;
  }

  /**
   * The whole story, with hold and resume asked by `ask`: the AI speaks before (heard),
   * during (not heard: music instead, the tune's own frames) and after (heard again);
   * the caller speaks during (the AI gets nothing) and after (the AI hears it).
   */
  async function holdAndResume(c: HeldCall, ask: (action: 'hold' | 'resume') => Promise<void>) {
    const t0 = performance.now();
    c.ai.send({ type: 'audio', data: { audio: b64(tone(1000, 800, 16000)) } });
    await sleep(1000);
    const before = heard(c.rtp.received, t0, performance.now(), 1000);
    expect(before.loud).toBeGreaterThanOrEqual(30);

    await ask('hold');
    await c.ai.waitFor('hold', (a) => a.of('hold').length === 1);
    const holdFrame = c.ai.frames.find((f) => f.kind === 'json' && f.value.type === 'hold')!;
    expect((holdFrame.value as { data: Record<string, unknown> }).data).toMatchObject({
      call_id: c.callId,
      held_by: 'gateway',
    });
    // The AI talks on, the caller talks on: neither reaches the other while the music plays.
    c.ai.send({ type: 'audio', data: { audio: b64(tone(700, 1500, 16000)) } });
    await c.rtp.send(packetsOf(tone(440, 1500, 8000), 20_000, 400_000), c.relay);
    await sleep(2000);
    const holdEnd = performance.now();
    const music = musicIn(c.rtp.received, holdFrame.atMs + 200, holdEnd, tuneFrames);
    const aiDuringHold = heard(c.rtp.received, holdFrame.atMs + 200, holdEnd, 700);
    const toAiDuringHold = c.ai.frames.filter(
      (f) => f.kind === 'json' && f.value.type === 'audio_data' && f.atMs > holdFrame.atMs + 60,
    ).length;
    expect(await onHold(c.callId)).toBe(true);

    await ask('resume');
    await c.ai.waitFor('resume', (a) => a.of('resume').length === 1);
    const resumeFrame = c.ai.frames.find((f) => f.kind === 'json' && f.value.type === 'resume')!;
    c.ai.send({ type: 'audio', data: { audio: b64(tone(1000, 800, 16000)) } });
    await c.rtp.send(packetsOf(tone(440, 600, 8000), 30_000, 600_000), c.relay);
    await sleep(1000);
    const after = heard(c.rtp.received, resumeFrame.atMs + 100, performance.now(), 1000);
    const musicAfter = musicIn(c.rtp.received, resumeFrame.atMs + 100, performance.now(), tuneFrames);
    const toAiAfter = c.ai.frames.filter(
      (f) => f.kind === 'json' && f.value.type === 'audio_data' && f.atMs > resumeFrame.atMs,
    ).length;
    expect(await onHold(c.callId)).toBe(false);

    c.ai.send({ type: 'hangup', data: { reason: 'test over' } });
    const run = await c.sipp.done;
    return { before, music, aiDuringHold, toAiDuringHold, after, musicAfter, toAiAfter, run };
  }

  function expectHeldAndResumed(r: Awaited<ReturnType<typeof holdAndResume>>): void {
    expectSippSuccess(r.run, 'held caller');
    // SIPp checked each re-INVITE's direction (check_it); the trace shows both and our answers.
    const invites = tracedMessages(r.run).filter((m) => m.direction === 'received' && m.text.startsWith('INVITE '));
    expect(invites).toHaveLength(2);
    expect(invites[0]!.text).toMatch(/^a=sendonly\r?$/m);
    expect(invites[1]!.text).toMatch(/^a=sendrecv\r?$/m);
    // Music: nearly every packet on hold is a frame of the tune, in order.
    expect(r.music.packets).toBeGreaterThanOrEqual(80);
    expect(r.music.matched / r.music.packets).toBeGreaterThan(0.95);
    expect(r.music.inOrder / r.music.packets).toBeGreaterThan(0.9);
    // Not the AI's speech (a 700 Hz tone at −10 dBFS would measure ~10000).
    expect(r.aiDuringHold.amplitude).toBeLessThan(800);
    // The AI heard nothing of the caller on hold, and hears it again after.
    expect(r.toAiDuringHold).toBe(0);
    expect(r.toAiAfter).toBeGreaterThanOrEqual(40);
    // After resume: the AI's 1 kHz speech, no more music.
    expect(r.after.loud).toBeGreaterThanOrEqual(30);
    expect(r.after.amplitude).toBeGreaterThan(3000);
    expect(r.musicAfter.matched).toBeLessThanOrEqual(2);
  }

  test('the AI asks for hold and resume: re-INVITE sendonly, the tune to the caller, the AI told; then sendrecv and speech again', async () => {
    const c = await call();
    const r = await holdAndResume(c, async (action) => c.ai.send({ type: action }));
    console.log(
      `hold (AI): ${r.music.matched}/${r.music.packets} packets on hold were tune frames (${r.music.inOrder} in order); ` +
        `700 Hz of the AI on hold ${r.aiDuringHold.amplitude.toFixed(0)}; 1 kHz after resume ${r.after.amplitude.toFixed(0)} ` +
        `(${r.after.loud} loud packets); frames to the AI on hold ${r.toAiDuringHold}, after ${r.toAiAfter}`,
    );
    expectHeldAndResumed(r);
    expect(await holdEvents(c.callId)).toEqual([
      { type: 'hold', data: { held_by: 'gateway', requested_by: 'ai', answer: 'recvonly' } },
      { type: 'resume', data: { held_by: 'gateway', requested_by: 'ai' } },
    ]);
  });

  test('POST /api/calls/{id}/hold and /resume: the same from the API; a second hold is 409 ERR_CALL_ON_HOLD', async () => {
    const c = await call();
    const r = await holdAndResume(c, async (action) => {
      const res = await api('POST', `/api/calls/${c.callId}/${action}`, { role: 'operator', body: {} });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject(action === 'hold' ? { on_hold: true, held_by: 'gateway' } : { on_hold: false });
      if (action === 'hold') {
        const again = await api('POST', `/api/calls/${c.callId}/hold`, { role: 'operator', body: {} });
        expect(again.status).toBe(409);
        expect(again.body).toMatchObject({ error: { code: 'ERR_CALL_ON_HOLD' } });
      }
    });
    console.log(
      `hold (API): ${r.music.matched}/${r.music.packets} packets on hold were tune frames; ` +
        `1 kHz after resume ${r.after.amplitude.toFixed(0)}; frames to the AI on hold ${r.toAiDuringHold}, after ${r.toAiAfter}`,
    );
    expectHeldAndResumed(r);
    expect((await holdEvents(c.callId)).map((e) => e.data['requested_by'])).toEqual(['api', 'api']);
  });

  test('twilio dialect: the agent asks with {"event":"hold"} / {"event":"resume"} and gets the extension events; no media to it on hold', async () => {
    const c = await call({ dialect: 'twilio' });
    c.ai.send({ event: 'hold' });
    await c.ai.waitFor('hold', (a) => a.of('hold').length === 1);
    const hold = c.ai.frames.find((f) => f.kind === 'json' && f.value.event === 'hold')!;
    expect(hold.value).toMatchObject({ event: 'hold', hold: { callSid: c.callId, held_by: 'gateway' } });
    await sleep(1200);
    const music = musicIn(c.rtp.received, hold.atMs + 200, performance.now(), tuneFrames);
    const mediaOnHold = c.ai.of('media').length;
    c.ai.send({ event: 'resume' });
    await c.ai.waitFor('resume', (a) => a.of('resume').length === 1);
    const resumeAt = c.ai.frames.find((f) => f.kind === 'json' && f.value.event === 'resume')!.atMs;
    const mediaBeforeResume = c.ai.frames.filter(
      (f) => f.kind === 'json' && f.value.event === 'media' && f.atMs > hold.atMs + 60 && f.atMs < resumeAt,
    ).length;
    await sleep(600);
    expect(c.ai.of('media').length).toBeGreaterThan(mediaOnHold + 20);
    c.ai.send({ event: 'hangup' });
    expectSippSuccess(await c.sipp.done, 'held caller');
    expect(music.matched / music.packets).toBeGreaterThan(0.95);
    expect(music.packets).toBeGreaterThanOrEqual(40);
    expect(mediaBeforeResume).toBe(0);
  });

  test("a number's own hold music is played; a hostile hold_music name is refused by the API", async () => {
    const dir = testStack().config.gateway.holdMusic.dir;
    mkdirSync(dir, { recursive: true });
    // A piece the test knows: a two-note chime at 16 kHz (the gateway resamples it).
    const piece = new Int16Array(16000 * 3);
    for (let n = 0; n < piece.length; n++)
      piece[n] = Math.round(6000 * Math.sin((2 * Math.PI * (n < 24000 ? 600 : 900) * n) / 16000));
    const name = `test-${process.pid}.wav`;
    writeFileSync(join(dir, name), writeWav(piece, 16000));

    for (const hostile of ['../../etc/passwd.wav', 'a/b.wav', '.hidden.wav', 'x.mp3'])
      expect(
        (
          await api('POST', '/api/numbers/', {
            role: 'operator',
            body: { number: '+15557440999', route_type: 'ai', hold_music: hostile },
          })
        ).status,
      ).toBe(400);

    const c = await call({ holdMusic: name });
    c.ai.send({ type: 'hold' });
    await c.ai.waitFor('hold', (a) => a.of('hold').length === 1);
    const at = c.ai.frames.find((f) => f.kind === 'json' && f.value.type === 'hold')!.atMs;
    await sleep(1500);
    const own = heard(c.rtp.received, at + 200, performance.now(), 600);
    const tuneMatches = musicIn(c.rtp.received, at + 200, performance.now(), tuneFrames);
    console.log(`own hold music: 600 Hz amplitude ${own.amplitude.toFixed(0)}, tune frames ${tuneMatches.matched}`);
    expect(own.amplitude).toBeGreaterThan(2000);
    expect(tuneMatches.matched).toBe(0);
    c.ai.send({ type: 'resume' });
    await c.ai.waitFor('resume', (a) => a.of('resume').length === 1);
    c.ai.send({ type: 'hangup' });
    expectSippSuccess(await c.sipp.done, 'held caller');
  });
});
