import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { PCMA } from '../../services/common/src/audio/g711';
import { loadConfig } from '../../services/common/src/config';
import { createLogger } from '../../services/common/src/logger';
import type { CallHandle } from '../../services/media-gateway/src/calls/handle';
import { startGateway } from '../../services/media-gateway/src/main';
import { G711Clip } from '../../services/media-gateway/src/media/clip';
import type { RtpPacket } from '../../services/media-gateway/src/rtp/packet';
import { REPO_ROOT } from '../../scripts/stack/env';
import { kamailioRpcUrl } from '../../services/common/src/kamailio/rpc';
import { pcapRtp, RtpPeer, type ReceivedPacket } from '../../harness/rtp-peer';
import {
  calleeScenario,
  freeUdpPort,
  startSipp,
  tracedMessages,
  uacMediaScenario,
  waitForAnswer,
  type RunningSipp,
  type SippRun,
} from '../../harness/sipp';
import { api, createUser, type CreatedUser } from '../support/api';
import { sdpAfter, waitFor } from '../support/calls';
import { expectSippSuccess, proxy, register } from '../support/sip';
import { testStack } from '../support/stack';

/** Kamailio's dispatcher set of the media gateways (services/common/src/kamailio/names.ts). */
const GATEWAY_SET = 2;
/** Dispatcher flag of a destination an administrator disabled. */
const DS_DISABLED = 4;
const MENU = 'core-handle-test';

/** `ms` of a sine at `hz`, 8 kHz PCM. */
function sine(hz: number, ms: number, level = 8000): Int16Array {
  return new Int16Array(8 * ms).map((_, i) => Math.round(level * Math.sin((2 * Math.PI * hz * i) / 8000)));
}

/** Received G.711 packets louder than silence, decoded (A-law: the caller's codec). */
function loud(received: readonly ReceivedPacket[], fromMs = 0, toMs = Infinity): Int16Array[] {
  const out: Int16Array[] = [];
  for (const r of received) {
    if (r.atMs < fromMs || r.atMs > toMs || r.packet.payloadType !== 8) continue;
    const pcm = PCMA.decode(r.packet.payload);
    let energy = 0;
    for (const v of pcm) energy += v * v;
    if (Math.sqrt(energy / pcm.length) > 1000) out.push(pcm);
  }
  return out;
}

/** The frequency of decoded frames, from their zero crossings. */
function frequency(frames: readonly Int16Array[]): number {
  let crossings = 0;
  let samples = 0;
  for (const pcm of frames) {
    for (let i = 1; i < pcm.length; i++) if ((pcm[i - 1] as number) < 0 !== (pcm[i] as number) < 0) crossings++;
    samples += pcm.length;
  }
  return samples === 0 ? 0 : (crossings / 2) * (8000 / samples);
}

/**
 * The caller's microphone: one A-law RTP stream, 20 ms apart, silence or a tone as
 * the test says, with key presses (SIPp's RFC 2833 captures) spliced into it on the
 * stream's own clock (RFC 4733 §2.5.1.1), as a phone sends them.
 */
class CallerStream {
  mode: 'silence' | 'tone' = 'silence';
  private seq = 1000;
  private ts = 80_000;
  private phase = 0;
  private readonly presses: string[] = [];
  private stopped = false;
  readonly done: Promise<void>;

  constructor(
    private readonly rtp: RtpPeer,
    private readonly to: { address: string; port: number },
  ) {
    this.done = this.run();
  }

  press(digit: string): void {
    this.presses.push(digit);
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    while (!this.stopped) await this.rtp.send(this.next(5), this.to);
  }

  private next(frames: number): RtpPacket[] {
    const out: RtpPacket[] = [];
    const digit = this.presses.shift();
    if (digit !== undefined) {
      const press = pcapRtp(`/usr/share/sip-tester/dtmf_2833_${digit}.pcap`, 101);
      for (const p of press) out.push({ ...p, ssrc: 0x4444, sequence: this.seq++ & 0xffff, timestamp: this.ts });
      this.ts += press.length * 160;
    }
    for (let i = 0; i < frames; i++) {
      const pcm = new Int16Array(160);
      if (this.mode === 'tone')
        for (let s = 0; s < 160; s++) pcm[s] = Math.round(8000 * Math.sin((2 * Math.PI * 1000 * this.phase++) / 8000));
      out.push({
        marker: false,
        payloadType: 8,
        sequence: this.seq++ & 0xffff,
        timestamp: this.ts,
        ssrc: 0x4444,
        payload: Buffer.from(PCMA.encode(pcm)),
      });
      this.ts += 160;
    }
    return out;
  }
}

function trace(sipp: RunningSipp): SippRun {
  try {
    return { messages: readFileSync(sipp.messagesPath, 'utf8') } as SippRun;
  } catch {
    return { messages: '' } as SippRun;
  }
}

function received(sipp: RunningSipp, method: string): number {
  return tracedMessages(trace(sipp)).filter((m) => m.direction === 'received' && m.text.startsWith(`${method} `))
    .length;
}

/** A SIP user whose phone (SIPp) rings for `ringMs`, then answers (media to `rtp`) unless CANCELled first. */
async function phone(user: CreatedUser, rtp: RtpPeer, ringMs: number): Promise<RunningSipp> {
  const port = await freeUdpPort();
  expectSippSuccess(
    await register(user.username, user.password, { first: 401, final: 200, contactPort: port }),
    `${user.username} registers`,
  );
  return startSipp({
    scenario: calleeScenario({ answer: 200, ringMs }),
    remote: proxy(),
    serverMode: true,
    localPort: port,
    mediaIp: '127.0.0.1',
    keys: { rtp_port: rtp.port },
    timeoutSeconds: 60,
  });
}

describe('a call answered without an AI, driven through CallHandle (in-process gateway on the stack)', () => {
  const stack = testStack();
  const db = new Client({ connectionString: stack.config.databaseUrl });
  const slot = Number(process.env['TEST_STACK_SLOT'] || '0');
  const stackGateway = stack.config.gateway.id;
  const defers: Array<() => unknown> = [];
  const handles: Array<(call: CallHandle, menu: string) => void> = [];
  const pending: Array<{ call: CallHandle; menu: string }> = [];
  let gatewayId = '';

  const reload = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) {
      const res = await fetch(kamailioRpcUrl(stack.config), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'dispatcher.reload', id: 1 }),
      });
      if (!((await res.json()) as { error?: unknown }).error) return;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error('dispatcher.reload kept failing');
  };
  const setFlags = async (id: string, flags: number): Promise<void> => {
    await db.query('UPDATE dispatcher SET flags = $1 WHERE setid = $2 AND description = $3', [flags, GATEWAY_SET, id]);
    await reload();
  };
  /** The next call the menu hook is given. */
  const nextCall = (): Promise<{ call: CallHandle; menu: string }> => {
    const ready = pending.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => handles.push((call, menu) => resolve({ call, menu })));
  };

  beforeAll(async () => {
    await db.connect();
    const sipPort = stack.config.gateway.sipPort + 1;
    // The slots' RTP ranges end at 62999 (scripts/stack/env.ts slotDefaults); drain.test.ts uses the first 200 above.
    const rtpMin = 63000 + slot * 300 + 200;
    const config = loadConfig(
      {
        ...stack.env,
        GATEWAY_SIP_PORT: String(sipPort),
        GATEWAY_HTTP_PORT: String(stack.config.gateway.httpPort + 2),
        GATEWAY_RTP_PORT_MIN: String(rtpMin),
        GATEWAY_RTP_PORT_MAX: String(rtpMin + 99),
        GATEWAY_ID: '',
        GATEWAY_WORKERS: '1',
        // Stopping it at the end ends what a failure left up without waiting.
        GATEWAY_DRAIN_GRACE_SECONDS: '1',
      },
      REPO_ROOT,
    );
    gatewayId = config.gateway.id;
    await startGateway(
      config,
      createLogger('media-gateway-test', 'warn'),
      { defer: (close) => defers.push(close) },
      { kind: 'single', index: 0, of: 1 },
      {
        routes: {
          // The test drives the call; the hook lets go of it when the call ends.
          ivr: async (call, menu) => {
            const waiting = handles.shift();
            if (waiting) waiting(call, menu);
            else pending.push({ call, menu });
            await call.ended;
          },
        },
      },
    );
    // The stack's own gateway sits this suite out: every call comes to the one under test.
    await setFlags(stackGateway, DS_DISABLED);
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number: '+15557781234', route_type: 'ivr', target: MENU },
    });
    expect([201, 409]).toContain(created.status);
  }, 60_000);

  afterAll(async () => {
    for (const close of defers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    await db.query('DELETE FROM dispatcher WHERE setid = $1 AND description = $2', [GATEWAY_SET, gatewayId]);
    await db.query('DELETE FROM gateway_leases WHERE gateway = $1', [gatewayId]);
    await setFlags(stackGateway, 0);
    await db.end();
  }, 60_000);

  test('ivr|menu answered without AI: the caller hears a clip, RFC 4733 reaches onDigit, the demo agent then talks, and bridgeTo rings two users at once: the first to answer is joined, the other CANCELled', async () => {
    const caller = await createUser();
    const alice = await createUser();
    const bob = await createUser();
    const callerRtp = await RtpPeer.open();
    const aliceRtp = await RtpPeer.open();
    const bobRtp = await RtpPeer.open();
    // alice answers after 1.5 s of ringing; bob would ring for 30 s.
    const alicePhone = await phone(alice, aliceRtp, 1500);
    const bobPhone = await phone(bob, bobRtp, 30_000);
    const sipp = await startSipp({
      scenario: uacMediaScenario({ codec: 'PCMA', holdMs: 25_000 }),
      remote: proxy(),
      keys: { user: caller.username, callee: '15557781234', domain: stack.config.sip.domain, rtp_port: callerRtp.port },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: 60,
    });
    let stream: CallerStream | undefined;
    try {
      const relay = await waitForAnswer(sipp);
      stream = new CallerStream(callerRtp, relay);
      const { call, menu } = await nextCall();
      expect(menu).toBe(MENU);
      expect(call.parties.route).toBe(`ivr|${MENU}`);
      expect(call.codec).toBe('PCMA');
      const row = await db.query<{ route: string; ai_url: string | null; gateway: string }>(
        'SELECT route, ai_url, gateway FROM calls WHERE call_id = $1',
        [call.id],
      );
      expect(row.rows[0]).toEqual({ route: `ivr|${MENU}`, ai_url: null, gateway: gatewayId });

      // A 1.5 s clip of 600 Hz: the caller hears it, once.
      const clipAt = performance.now();
      const clip = G711Clip.fromPcm(sine(600, 1500), call.codec);
      call.play(clip);
      await clip.done;
      await new Promise((r) => setTimeout(r, 300));
      const heard = loud(callerRtp.received, clipAt, performance.now());
      console.log(`clip: ${heard.length} loud packets at ${frequency(heard).toFixed(0)} Hz (75 sent)`);
      expect(heard.length).toBeGreaterThanOrEqual(65);
      expect(heard.length).toBeLessThanOrEqual(80);
      // Zero crossings at frame edges are not counted: the estimate reads a little low.
      expect(Math.abs(frequency(heard) - 600)).toBeLessThan(40);
      // Then silence: a clip plays once.
      await new Promise((r) => setTimeout(r, 500));
      expect(loud(callerRtp.received, performance.now() - 400)).toHaveLength(0);

      // A key press as RFC 4733 events.
      const digit = new Promise<string>((resolve) => {
        const off = call.onDigit((d, source) => {
          off();
          resolve(`${d}/${source}`);
        });
      });
      const pressedAt = performance.now();
      stream.press('5');
      await expect(
        Promise.race([digit, new Promise((r) => setTimeout(() => r('none within 5 s'), 5000))]),
      ).resolves.toBe('5/rfc4733');
      console.log(`RFC 4733 key press reached onDigit in ${(performance.now() - pressedAt).toFixed(0)} ms`);

      // The demo agent takes the call and greets the caller.
      const demo = `ws://${stack.config.demoAgent.host}:${stack.config.demoAgent.port}/olib`;
      const aiAt = performance.now();
      await expect(
        call.connectAi({ url: demo, dialect: 'olib', customParameters: { mode: 'greeting' }, record: false }),
      ).resolves.toBe(true);
      const spoken = await waitFor(
        'the demo agent speaking to the caller',
        async () => {
          const l = loud(callerRtp.received, aiAt);
          return l.length >= 10 ? l : undefined;
        },
        10_000,
      );
      console.log(`demo agent: first ${spoken.length} loud packets within ${(performance.now() - aiAt).toFixed(0)} ms`);
      await waitFor('ai_connected in the calls row', async () => {
        const r = await db.query<{ ai_url: string | null }>('SELECT ai_url FROM calls WHERE call_id = $1', [call.id]);
        return r.rows[0]?.ai_url === demo ? true : undefined;
      });

      // Ring both; alice answers first; bob gets a CANCEL.
      const ringAt = performance.now();
      const outcome = await call.bridgeTo([alice.username, bob.username], { ringTimeoutMs: 15_000 });
      console.log(`bridgeTo: ${JSON.stringify(outcome)} in ${(performance.now() - ringAt).toFixed(0)} ms`);
      expect(outcome).toEqual({ ok: true, target: alice.username });
      expect(received(alicePhone, 'INVITE')).toBe(1);
      expect(received(bobPhone, 'INVITE')).toBe(1);
      await waitFor('the CANCEL at bob', async () => (received(bobPhone, 'CANCEL') === 1 ? true : undefined));

      // Joined: the caller's tone reaches alice; alice's tone reaches the caller.
      const joinedAt = performance.now();
      stream.mode = 'tone';
      const aliceRelay = sdpAfter(trace(alicePhone).messages, /^INVITE /m);
      await aliceRtp.send(
        Array.from({ length: 100 }, (_, i) => ({
          marker: i === 0,
          payloadType: 8,
          sequence: i,
          timestamp: i * 160,
          ssrc: 0x5555,
          payload: Buffer.from(PCMA.encode(sine(440, 2000).subarray(i * 160, i * 160 + 160))),
        })),
        aliceRelay,
      );
      await new Promise((r) => setTimeout(r, 300));
      const atAlice = loud(aliceRtp.received, joinedAt);
      const atCaller = loud(callerRtp.received, joinedAt + 500);
      console.log(
        `bridge: alice heard ${atAlice.length} loud packets at ${frequency(atAlice).toFixed(0)} Hz; ` +
          `caller ${atCaller.length} at ${frequency(atCaller).toFixed(0)} Hz`,
      );
      expect(atAlice.length).toBeGreaterThanOrEqual(75);
      expect(Math.abs(frequency(atAlice) - 1000)).toBeLessThan(40);
      expect(atCaller.length).toBeGreaterThanOrEqual(60);
      expect(Math.abs(frequency(atCaller) - 440)).toBeLessThan(30);
      expect(bobRtp.received).toHaveLength(0);

      // The caller hangs up: the gateway hangs up alice.
      stream.stop();
      expectSippSuccess(await sipp.done, 'the caller');
      await waitFor('the BYE at alice', async () => (received(alicePhone, 'BYE') === 1 ? true : undefined));
      const ended = await waitFor('the call row ended', async () => {
        const r = await db.query<{ state: string; ended_by: string }>(
          'SELECT state, ended_by FROM calls WHERE call_id = $1',
          [call.id],
        );
        return r.rows[0]?.state === 'ended' ? r.rows[0] : undefined;
      });
      expect(ended.ended_by).toBe('caller');
      const events = await db.query<{ type: string; data: Record<string, unknown> }>(
        'SELECT type, data FROM call_events WHERE call_id = $1 ORDER BY id',
        [call.id],
      );
      const types = events.rows.map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['dtmf', 'ai_connected', 'bridge_ringing', 'bridge_answered']));
      expect(events.rows.find((e) => e.type === 'dtmf')?.data).toMatchObject({ digit: '5', source: 'rfc4733' });
      expectSippSuccess(await alicePhone.done, 'alice (answered, then BYE from the gateway)');
    } finally {
      stream?.stop();
      sipp.kill();
      alicePhone.kill();
      bobPhone.kill();
      await stream?.done;
      callerRtp.close();
      aliceRtp.close();
      bobRtp.close();
    }
  }, 90_000);
});
