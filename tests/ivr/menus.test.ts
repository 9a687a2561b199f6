import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { PCMA, PCMU } from '../../services/common/src/audio/g711';
import { tone, toInt16 } from '../../services/common/src/audio/signals';
import { writeWav } from '../../services/common/src/audio/wav';
import { kamailioRpcFromConfig } from '../../services/common/src/kamailio/rpc';
import type { RtpPacket } from '../../services/media-gateway/src/rtp/packet';
import { pcapRtp, RtpPeer, type ReceivedPacket } from '../../harness/rtp-peer';
import {
  calleeScenario,
  freeMediaPort,
  freeUdpPort,
  startSipp,
  tracedMessages,
  uacMediaScenario,
  waitForAnswer,
  type RunningSipp,
  type SippRun,
} from '../../harness/sipp';
import { api, createUser, token, type CreatedUser } from '../support/api';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { SCENARIOS } from '../support/sipp-scenarios';
import { testStack } from '../support/stack';
import { expectGatewayIdle } from '../queues/support';

/**
 * IVR menus end to end: a SIPp caller (its media is this test's RTP socket) dials a
 * number routed to a two-level menu, through Kamailio and rtpengine to the media
 * gateway, which answers without an AI, speaks the prompt (espeak-ng, or an uploaded
 * WAV in the sub-menu) and routes by the keys it detects, sent as RFC 4733 events
 * (SIPp's own captures) or as in-band Q.23 tones: to the AI (the demo agent answers
 * and speaks), to a SIP user (a SIPp UAS registered as that user gets the INVITE), to
 * a queue (the caller waits there with music), or to an external number (a SIPp "PSTN" behind a trunk gets the INVITE).
 * Silence repeats the prompt; past the retry limit the gateway hangs up with a reason.
 * Each path is read back from call_events and GET /api/calls/{call_id}.
 */

const PSTN = '127.0.0.2';
const TRUNK_ID = 'ivr_pstn';
const EXTERNAL = '+15550009401';
const run = Math.random().toString(36).slice(2, 7);
const MAIN = `main-${run}`;
const MORE = `more-${run}`;
const QUIET = `quiet-${run}`;
const ROUTE = `assistant-${run}`;
const QUEUE = `support-${run}`;
const LEAVE_QUEUE = `leave-${run}`;
const PROMPT = `more-${run}.wav`;

interface CallView {
  state: string;
  end_reason: string | null;
  ended_by: string | null;
  events: Array<{ at: string; type: string; data: Record<string, unknown> }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function trace(sipp: RunningSipp): SippRun {
  let messages = '';
  try {
    messages = readFileSync(sipp.messagesPath, 'utf8');
  } catch {
    messages = '';
  }
  return { messages } as SippRun;
}

const inviteAt = (sipp: RunningSipp) =>
  tracedMessages(trace(sipp)).find((m) => m.direction === 'received' && m.text.startsWith('INVITE '));

/** Packets with audio in them (RMS above 1000), decoded. */
function loud(received: readonly ReceivedPacket[], from = 0, to = Infinity): ReceivedPacket[] {
  return received.filter((r) => {
    if (r.atMs <= from || r.atMs >= to) return false;
    const { payloadType, payload } = r.packet;
    if (payloadType !== 0 && payloadType !== 8) return false;
    const pcm = payloadType === 8 ? PCMA.decode(payload) : PCMU.decode(payload);
    let e = 0;
    for (const v of pcm) e += v * v;
    return Math.sqrt(e / pcm.length) > 1000;
  });
}

const DTMF: Record<string, [number, number]> = {
  '1': [697, 1209],
  '2': [697, 1336],
  '3': [697, 1477],
  '4': [770, 1209],
  '9': [852, 1477],
};

/** The caller's one RTP stream: sequence numbers and timestamps run on across sends (RFC 3550 §5.1). */
class CallerStream {
  private seq = 100;
  private ts = 16_000;

  constructor(private readonly codec: 'PCMA' | 'PCMU') {}

  private frame(pcm: Int16Array): RtpPacket {
    const law = this.codec === 'PCMA' ? PCMA : PCMU;
    const p: RtpPacket = {
      marker: false,
      payloadType: this.codec === 'PCMA' ? 8 : 0,
      sequence: this.seq++ & 0xffff,
      timestamp: this.ts,
      ssrc: 0x4711,
      payload: Buffer.from(law.encode(pcm)),
    };
    this.ts += 160;
    return p;
  }

  silence(frames: number): RtpPacket[] {
    return Array.from({ length: frames }, () => this.frame(new Int16Array(160)));
  }

  /** A key as RFC 4733 events (SIPp's capture of it, restamped onto this stream: RFC 4733 §2.5.1.1), between silences. */
  rfc4733(key: string): RtpPacket[] {
    const name = key === '*' ? 'star' : key === '#' ? 'pound' : key;
    const out = this.silence(10);
    const press = pcapRtp(`/usr/share/sip-tester/dtmf_2833_${name}.pcap`, 101);
    for (const p of press) out.push({ ...p, ssrc: 0x4711, sequence: this.seq++ & 0xffff, timestamp: this.ts });
    this.ts += press.length * 160;
    out.push(...this.silence(10));
    return out;
  }

  /** A key as an in-band Q.23 tone pair (120 ms, −13 dBFS each), between silences. */
  inband(key: string): RtpPacket[] {
    const [low, high] = DTMF[key]!;
    const a = tone(960, 8000, low, 0.22 * 32767);
    const b = tone(960, 8000, high, 0.22 * 32767);
    const pcm = toInt16(a.map((v, i) => v + (b[i] as number)));
    const out = this.silence(10);
    for (let i = 0; i < 6; i++) out.push(this.frame(pcm.subarray(i * 160, i * 160 + 160)));
    out.push(...this.silence(25));
    return out;
  }
}

interface MenuCall {
  readonly sipp: RunningSipp;
  readonly rtp: RtpPeer;
  readonly stream: CallerStream;
  readonly relay: { address: string; port: number };
  readonly caller: CreatedUser;
  readonly callId: string;
  readonly answeredAt: number;
}

describe('IVR menus (issue 15)', () => {
  const db = new Client({ connectionString: testStack().config.databaseUrl });
  const live: Array<{ sipp: RunningSipp; rtp?: RtpPeer }> = [];
  let sipUser: CreatedUser;
  let pstnPort: number;
  let numberCount = 0;

  async function putPrompt(name: string, body: Buffer): Promise<number> {
    const res = await fetch(`${testStack().apiUrl}/api/ivr/prompts/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await token('operator')}`, 'content-type': 'audio/wav' },
      body,
    });
    return res.status;
  }

  beforeAll(async () => {
    await db.connect();
    sipUser = await createUser();
    pstnPort = await freeUdpPort(PSTN);
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
    const trunk = await api('POST', '/api/trunks/', {
      role: 'operator',
      body: {
        trunk_id: TRUNK_ID,
        name: 'PSTN played by SIPp (IVR external targets)',
        provider: 'test',
        proxy_address: PSTN,
        proxy_port: pstnPort,
        username: 'ivr',
        password: 'ivr-trunk-password',
        supports_outbound: true,
        supports_inbound: false,
        transport: 'UDP',
        preferred_codecs: ['PCMA', 'PCMU'],
        max_concurrent_calls: 20,
        calls_per_second_limit: 10,
        priority: 1,
      },
    });
    expect(trunk.status).toBe(201);
    // The AI route has no URL: the platform's default AI, the demo agent here.
    expect((await api('POST', '/api/ai-routes/', { role: 'operator', body: { name: ROUTE } })).status).toBe(201);
    expect((await api('POST', '/api/queues/', { role: 'operator', body: { name: QUEUE } })).status).toBe(201);
    // The sub-menu's prompt: an uploaded 16 kHz stereo WAV (a 1.2 s, 500 Hz tone), resampled by the gateway.
    const mono = toInt16(tone(19_200, 16_000, 500, 9000));
    const stereo = new Int16Array(mono.length * 2);
    mono.forEach((v, i) => (stereo[2 * i] = stereo[2 * i + 1] = v));
    expect(await putPrompt(PROMPT, writeWav(stereo, 16_000, 2))).toBe(201);
    const menus: Array<[string, Record<string, unknown>]> = [
      [
        MORE,
        {
          prompt: { file: PROMPT },
          options: { '4': { type: 'external', number: EXTERNAL, ring_timeout_seconds: 10 }, '#': { type: 'hangup' } },
          timeout_seconds: 5,
        },
      ],
      [
        MAIN,
        {
          prompt: { text: 'Main menu.' },
          options: {
            '1': { type: 'ai', ai_route: ROUTE },
            '2': { type: 'sip_user', username: sipUser.username, ring_timeout_seconds: 10 },
            '3': { type: 'queue', queue: QUEUE, priority: 7 },
            '5': { type: 'queue', queue: LEAVE_QUEUE },
            '9': { type: 'menu', menu: MORE },
          },
          timeout_seconds: 5,
        },
      ],
      [
        QUIET,
        {
          prompt: { text: 'Nobody is pressing keys.' },
          options: { '1': { type: 'hangup' } },
          timeout_seconds: 2,
          max_retries: 1,
        },
      ],
    ];
    for (const [name, definition] of menus) {
      const res = await api('POST', '/api/ivr/menus/', { role: 'operator', body: { name, definition } });
      expect(res.status).toBe(201);
      // A queue without agents whose leave key 0 sends the caller to the sub-menu (which must exist first).
      if (name === MORE) {
        const queue = await api('POST', '/api/queues/', {
          role: 'operator',
          body: { name: LEAVE_QUEUE, leave_digit: '0', leave_action: { type: 'menu', menu: MORE } },
        });
        expect(queue.status).toBe(201);
      }
    }
  });

  afterEach(() => {
    for (const { sipp, rtp } of live.splice(0)) {
      sipp.kill();
      rtp?.close();
    }
  });

  afterAll(async () => {
    await api('DELETE', `/api/trunks/${TRUNK_ID}`, { role: 'operator' });
    await db.end();
    await expectGatewayIdle();
  });

  async function menuNumber(menu: string): Promise<string> {
    numberCount++;
    const number = `+1555741${String((Date.now() + numberCount) % 10000).padStart(4, '0')}`;
    const res = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number, route_type: 'ivr', target: menu },
    });
    expect(res.status).toBe(201);
    return number;
  }

  /** Dials a number routed to `menu`; resolves once answered, with the call's id. */
  async function dial(
    menu: string,
    o: { codec?: 'PCMA' | 'PCMU'; telephoneEvent?: boolean; holdMs?: number; remoteHangup?: boolean } = {},
  ): Promise<MenuCall> {
    const number = await menuNumber(menu);
    const caller = await createUser();
    const rtp = await RtpPeer.open();
    const holdMs = o.holdMs ?? 12_000;
    const sipp = await startSipp({
      scenario: uacMediaScenario({
        codec: o.codec ?? 'PCMA',
        holdMs,
        telephoneEvent: o.telephoneEvent,
        remoteHangup: o.remoteHangup,
      }),
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
    live.push({ sipp, rtp });
    let relay: { address: string; port: number };
    try {
      relay = await waitForAnswer(sipp);
    } catch (err) {
      sipp.kill();
      const r = await sipp.done;
      throw new Error(`${(err as Error).message}\n${r.errors}\n${r.messages.slice(-3000)}`);
    }
    const answeredAt = performance.now();
    const callId = await until('the calls row', async () => {
      const { rows } = await db.query<{ call_id: string }>(
        'SELECT call_id FROM calls WHERE route = $1 AND from_number LIKE $2 ORDER BY started_at DESC LIMIT 1',
        [`ivr|${menu}`, `%${caller.username}%`],
      );
      return rows[0]?.call_id;
    });
    return { sipp, rtp, stream: new CallerStream(o.codec ?? 'PCMA'), relay, caller, callId, answeredAt };
  }

  async function events(callId: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
    const { rows } = await db.query<{ type: string; data: Record<string, unknown> }>(
      `SELECT type, data FROM call_events WHERE call_id = $1 AND type LIKE 'ivr_%' ORDER BY id`,
      [callId],
    );
    return rows;
  }

  async function eventOf(callId: string, type: string, count = 1) {
    return until(`${count} ${type} event(s)`, async () => {
      const found = (await events(callId)).filter((e) => e.type === type);
      return found.length >= count ? found : undefined;
    });
  }

  async function callView(callId: string): Promise<CallView> {
    const r = await api<CallView>('GET', `/api/calls/${callId}`, { role: 'admin' });
    expect(r.status).toBe(200);
    return r.body;
  }

  test('RFC 4733 key 1 → the AI route: the demo agent answers and speaks to the caller; the path is in GET /api/calls/{id}', async () => {
    const c = await dial(MAIN, { holdMs: 9000 });
    // The prompt plays: speech reaches the caller within a second of the answer.
    await until('the prompt', () => (loud(c.rtp.received).length >= 10 ? true : undefined), 5000);
    await c.rtp.send(c.stream.rfc4733('1'), c.relay);
    const [action] = await eventOf(c.callId, 'ivr_action');
    const connected = await until('ai_connected', async () => {
      const { rows } = await db.query<{ data: { url: string } }>(
        `SELECT data FROM call_events WHERE call_id = $1 AND type = 'ai_connected'`,
        [c.callId],
      );
      return rows[0];
    });
    const handedAt = performance.now();
    await c.rtp.send(c.stream.silence(150), c.relay);
    const aiSpeech = loud(c.rtp.received, handedAt + 300);
    console.log(
      `IVR → AI: ${aiSpeech.length} loud packets from the demo agent in the 2.7 s after the handover (AI at ${connected.data.url})`,
    );
    expect(action!.data).toMatchObject({ menu: MAIN, trigger: 'digit', action: 'ai', ai_route: ROUTE });
    expect(connected.data.url).toMatch(/\/olib$/);
    expect(aiSpeech.length).toBeGreaterThanOrEqual(25);
    expectSippSuccess(await c.sipp.done, 'caller');
    const view = await until('the call to end', async () => {
      const v = await callView(c.callId);
      return v.state === 'ended' ? v : undefined;
    });
    const path = view.events.filter((e) => e.type.startsWith('ivr_'));
    expect(path.map((e) => e.type)).toEqual(['ivr_menu', 'ivr_digit', 'ivr_action']);
    expect(path[1]!.data).toMatchObject({ menu: MAIN, digit: '1', source: 'rfc4733' });
  });

  test('in-band key 2 (a phone without telephone-event) → the SIP user: its registered UAS gets the INVITE', async () => {
    const contactPort = await freeUdpPort();
    expectSippSuccess(
      await register(sipUser.username, sipUser.password, { first: 401, final: 200, contactPort }),
      'SIP user registers',
    );
    const uas = await startSipp({
      scenario: `${SCENARIOS}/uas-answer.xml`,
      remote: proxy(),
      serverMode: true,
      localPort: contactPort,
      rtpEcho: true,
      mediaPort: await freeMediaPort(),
      timeoutSeconds: 40,
    });
    live.push({ sipp: uas });
    const c = await dial(MAIN, { codec: 'PCMU', telephoneEvent: false, holdMs: 8000 });
    await sleep(300);
    await c.rtp.send(c.stream.inband('2'), c.relay);
    const invite = await until('the INVITE at the SIP user', () => inviteAt(uas), 8000);
    expect(invite.text).toMatch(new RegExp(`^INVITE sip:${sipUser.username}@`, 'm'));
    const path = await events(c.callId);
    expect(path.slice(0, 3).map((e) => [e.type, e.data['digit'] ?? e.data['action'] ?? e.data['menu']])).toEqual([
      ['ivr_menu', MAIN],
      ['ivr_digit', '2'],
      ['ivr_action', 'sip_user'],
    ]);
    expect(path[1]!.data).toMatchObject({ source: 'inband' });
    expectSippSuccess(await c.sipp.done, 'caller');
  });

  test('key 3 → the queue: the caller waits there with the option priority (source menu) and hears the hold music', async () => {
    const c = await dial(MAIN, { holdMs: 6000 });
    await sleep(300);
    await c.rtp.send(c.stream.rfc4733('3'), c.relay);
    const [action] = await eventOf(c.callId, 'ivr_action');
    expect(action!.data).toMatchObject({ menu: MAIN, trigger: 'digit', action: 'queue', queue: QUEUE, priority: 7 });
    const entry = await until('the queue entry', async () => {
      const { rows } = await db.query<{ state: string; priority: number; priority_source: string }>(
        'SELECT state, priority, priority_source FROM queue_entries WHERE call_id = $1',
        [c.callId],
      );
      return rows[0];
    });
    expect(entry).toEqual({ state: 'waiting', priority: 7, priority_source: 'menu' });
    const waiting = performance.now();
    await sleep(2000);
    const music = loud(c.rtp.received, waiting + 200);
    console.log(`IVR → queue: ${music.length} loud packets of hold music in 1.8 s of waiting`);
    expect(music.length).toBeGreaterThanOrEqual(40);
    expectSippSuccess(await c.sipp.done, 'caller');
  });

  test('key 5 → a queue; the leave key 0 there takes the caller out to the sub-menu (its prompt plays), where # hangs up', async () => {
    const c = await dial(MAIN, { holdMs: 20_000, remoteHangup: true });
    await sleep(300);
    await c.rtp.send(c.stream.rfc4733('5'), c.relay);
    await until('waiting in the queue', async () => {
      const { rows } = await db.query<{ state: string }>('SELECT state FROM queue_entries WHERE call_id = $1', [
        c.callId,
      ]);
      return rows[0]?.state === 'waiting' ? rows[0] : undefined;
    });
    await sleep(1000);
    await c.rtp.send(c.stream.rfc4733('0'), c.relay);
    const left = await until('the entry left', async () => {
      const { rows } = await db.query<{ state: string; outcome: string }>(
        'SELECT state, outcome FROM queue_entries WHERE call_id = $1',
        [c.callId],
      );
      return rows[0]?.state === 'done' ? rows[0] : undefined;
    });
    expect(left).toEqual({ state: 'done', outcome: 'left' });
    await eventOf(c.callId, 'ivr_menu', 2);
    // The sub-menu's uploaded prompt (500 Hz, 1.2 s) after the hold music stopped.
    const subAt = performance.now();
    await sleep(1000);
    const prompt = loud(c.rtp.received, subAt);
    expect(prompt.length).toBeGreaterThanOrEqual(20);
    await c.rtp.send(c.stream.rfc4733('#'), c.relay);
    expectSippSuccess(await c.sipp.done, 'caller hung up on by the sub-menu');
    const view = await until('the call to end', async () => {
      const v = await callView(c.callId);
      return v.state === 'ended' ? v : undefined;
    });
    const types = view.events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['queue_enter', 'queue_left', 'ivr_hangup']));
    expect(view.events.find((e) => e.type === 'queue_left')?.data).toMatchObject({
      queue: LEAVE_QUEUE,
      reason: 'leave_digit',
      action: 'menu',
    });
    expect(types.indexOf('queue_left')).toBeLessThan(types.lastIndexOf('ivr_menu'));
    console.log(`queue leave key: ${prompt.length} loud packets of the sub-menu prompt in the first second`);
  });

  test('second level: key 9 → the sub-menu (its uploaded prompt plays), key 4 → the external number through the trunk', async () => {
    const pstnRtp = await RtpPeer.open();
    const pstn = await startSipp({
      scenario: calleeScenario({ answer: 200, ringMs: 300 }),
      remote: proxy(),
      serverMode: true,
      localIp: PSTN,
      localPort: pstnPort,
      mediaIp: '127.0.0.1',
      keys: { rtp_port: pstnRtp.port },
      calls: 1000,
      limit: 10,
      timeoutSeconds: 60,
    });
    live.push({ sipp: pstn, rtp: pstnRtp });
    // Kamailio probes the trunk with OPTIONS: probed while nothing listened there, it is down
    // until a probe is answered.
    await until(
      'the trunk active in the dispatcher',
      async () => {
        const sets = JSON.stringify(await kamailioRpcFromConfig(testStack().config).call<unknown>('dispatcher.list'));
        const dest = new RegExp(`"URI":"sip:${PSTN.replace(/\./g, '\\.')}:${pstnPort}[^}]*`).exec(sets);
        return dest && /"FLAGS":"A/.test(dest[0]) ? true : undefined;
      },
      15_000,
    );
    const c = await dial(MAIN, { holdMs: 12_000 });
    await sleep(300);
    await c.rtp.send(c.stream.rfc4733('9'), c.relay);
    await eventOf(c.callId, 'ivr_menu', 2);
    // The uploaded prompt: 500 Hz, 1.2 s.
    const subAt = performance.now();
    await sleep(1000);
    const prompt = loud(c.rtp.received, subAt);
    await c.rtp.send(c.stream.rfc4733('4'), c.relay);
    const invite = await until('the INVITE at the PSTN', () => inviteAt(pstn), 10_000).catch(async (err: Error) => {
      pstn.kill();
      const r = await pstn.done;
      throw new Error(`${err.message}\n${r.errors}\n${r.messages.slice(-3000)}`);
    });
    expect(invite.text).toMatch(new RegExp(`^INVITE sip:\\+?${EXTERNAL.slice(1)}@`, 'm'));
    expect(prompt.length).toBeGreaterThanOrEqual(20);
    const path = await events(c.callId);
    expect(path.map((e) => e.type)).toEqual([
      'ivr_menu',
      'ivr_digit',
      'ivr_action',
      'ivr_menu',
      'ivr_digit',
      'ivr_action',
    ]);
    expect(path[2]!.data).toMatchObject({ menu: MAIN, action: 'menu', next_menu: MORE });
    expect(path[3]!.data).toMatchObject({ menu: MORE });
    expect(path[5]!.data).toMatchObject({ menu: MORE, action: 'external', number: EXTERNAL });
    expectSippSuccess(await c.sipp.done, 'caller');
  });

  test('silence: the prompt is played again after each timeout; past max_retries the gateway hangs up with ivr_retries_exhausted', async () => {
    const c = await dial(QUIET, { holdMs: 30_000, remoteHangup: true });
    const r = await c.sipp.done;
    const endedAt = performance.now();
    expectSippSuccess(r, 'caller hung up on by the gateway');
    await eventOf(c.callId, 'ivr_hangup').catch(() => undefined);
    const path = await events(c.callId);
    expect(path.map((e) => e.type)).toEqual([
      'ivr_menu',
      'ivr_timeout',
      'ivr_action',
      'ivr_timeout',
      'ivr_action',
      'ivr_hangup',
    ]);
    expect(path[2]!.data).toMatchObject({ trigger: 'timeout', action: 'repeat' });
    expect(path[4]!.data).toMatchObject({
      trigger: 'retries_exhausted',
      action: 'hangup',
      reason: 'ivr_retries_exhausted',
    });
    expect(path[5]!.data).toEqual({ menu: QUIET, reason: 'ivr_retries_exhausted' });
    // The prompt twice: speech, 2 s of silence, speech again, 2 s of silence, BYE.
    const speech = loud(c.rtp.received, c.answeredAt);
    const bursts: Array<{ from: number; to: number; packets: number }> = [];
    for (const p of speech) {
      const last = bursts.at(-1);
      if (last && p.atMs - last.to < 600) {
        last.to = p.atMs;
        last.packets++;
      } else bursts.push({ from: p.atMs, to: p.atMs, packets: 1 });
    }
    console.log(
      `IVR timeout: prompt bursts ${bursts.map((b) => `${((b.from - c.answeredAt) / 1000).toFixed(1)}–${((b.to - c.answeredAt) / 1000).toFixed(1)} s (${b.packets} loud)`).join(', ')}; BYE at ${((endedAt - c.answeredAt) / 1000).toFixed(1)} s`,
    );
    expect(bursts).toHaveLength(2);
    expect(bursts[1]!.from - bursts[0]!.to).toBeGreaterThan(1800);
    expect(bursts[1]!.packets).toBeGreaterThanOrEqual(0.8 * bursts[0]!.packets);
    const view = await until('the call to end', async () => {
      const v = await callView(c.callId);
      return v.state === 'ended' ? v : undefined;
    });
    expect(view.end_reason).toBe('ivr_retries_exhausted');
    expect(view.ended_by).toBe('gateway');
    expect(view.events.filter((e) => e.type === 'ivr_timeout')).toHaveLength(2);
  });

  test('a menu changed through the API applies to the next call: version 2, and key # there now hangs up with its reason', async () => {
    const updated = await api<{ version: number }>('PUT', `/api/ivr/menus/${QUIET}`, {
      role: 'operator',
      body: {
        definition: {
          prompt: { text: 'Press pound to leave.' },
          options: { '#': { type: 'hangup', reason: 'caller_left_menu' } },
          timeout_seconds: 5,
        },
      },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.version).toBe(2);
    const c = await dial(QUIET, { holdMs: 20_000, remoteHangup: true });
    await sleep(300);
    await c.rtp.send(c.stream.rfc4733('#'), c.relay);
    expectSippSuccess(await c.sipp.done, 'caller hung up on by the gateway');
    await eventOf(c.callId, 'ivr_hangup');
    const path = await events(c.callId);
    expect(path[0]).toEqual({ type: 'ivr_menu', data: { menu: QUIET, version: 2 } });
    expect(path.at(-1)).toEqual({ type: 'ivr_hangup', data: { menu: QUIET, reason: 'caller_left_menu' } });
    const { rows } = await db.query<{ end_reason: string }>('SELECT end_reason FROM calls WHERE call_id = $1', [
      c.callId,
    ]);
    expect(rows[0]?.end_reason).toBe('caller_left_menu');
  });
});
