import { Client } from 'pg';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAlaw, encodeUlaw } from '../../services/common/src/audio/g711';
import { readWav } from '../../services/common/src/audio/wav';
import type { RtpPacket } from '../../services/media-gateway/src/rtp/packet';
import { REPO_ROOT } from '../../scripts/stack/env';
import { AiPeer, type AiConnection } from '../support/ai-peer';
import { api, createUser } from '../support/api';
import { waitFor } from '../support/calls';
import { pcapRtp, RtpPeer } from '../../harness/rtp-peer';
import { expectSippSuccess, proxy } from '../support/sip';
import { startSipp, uacMediaScenario, waitForAnswer, type RunningSipp } from '../../harness/sipp';
import { testStack } from '../support/stack';
import { type Dialect } from '../../services/common/src/ai-protocol/dialect';

const SILENCE = { PCMA: new Set([0xd5, 0x55]), PCMU: new Set([0xff, 0x7f]) };

/** PCM16 tone(s); `freqs` summed, each at `level` of full scale. */
function tone(freqs: number[], ms: number, rate: number, level = 0.25): Int16Array {
  const out = new Int16Array((rate * ms) / 1000);
  for (let i = 0; i < out.length; i++) {
    let v = 0;
    for (const f of freqs) v += Math.sin((2 * Math.PI * f * i) / rate);
    out[i] = Math.round((v / freqs.length) * level * 32767);
  }
  return out;
}

/** 20 ms RTP packets carrying `pcm8k` (8 kHz) in `codec`. */
function packetsOf(
  pcm8k: Int16Array,
  codec: 'PCMA' | 'PCMU',
  start = { seq: 1000, ts: 80_000, ssrc: 0x1234 },
): RtpPacket[] {
  const out: RtpPacket[] = [];
  for (let i = 0; i + 160 <= pcm8k.length; i += 160) {
    const frame = pcm8k.subarray(i, i + 160);
    const bytes = codec === 'PCMA' ? encodeAlaw(frame) : encodeUlaw(frame);
    out.push({
      marker: i === 0,
      payloadType: codec === 'PCMA' ? 8 : 0,
      sequence: (start.seq + i / 160) & 0xffff,
      timestamp: start.ts + i,
      ssrc: start.ssrc,
      payload: Buffer.from(bytes),
    });
  }
  return out;
}

const b64pcm = (pcm: Int16Array): string => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).toString('base64');

interface AiCall {
  readonly sipp: RunningSipp;
  readonly rtp: RtpPeer;
  readonly relay: { address: string; port: number };
  readonly ai: AiConnection;
  readonly number: string;
}

let numbers = 0;

describe('the media gateway and an AI platform played by the test', () => {
  let peer: AiPeer;
  const db = new Client({ connectionString: testStack().config.databaseUrl });

  beforeAll(async () => {
    peer = await AiPeer.start();
    await db.connect();
  });
  afterAll(async () => {
    await peer.close();
    await db.end();
  });

  async function aiCall(
    dialect: Dialect,
    o: {
      codec?: 'PCMA' | 'PCMU';
      holdMs: number;
      infoDigits?: string;
      remoteHangup?: boolean;
      telephoneEvent?: boolean;
    },
  ): Promise<AiCall> {
    const caller = await createUser();
    numbers++;
    const number = `+1555776${String((Date.now() + numbers) % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number, route_type: 'ai', ai_dialect: dialect, ai_agent_url: `${peer.url}/${dialect}` },
    });
    expect(created.status).toBe(201);
    const index = peer.connections.length;
    const rtp = await RtpPeer.open();
    const sipp = await startSipp({
      scenario: uacMediaScenario({
        codec: o.codec ?? 'PCMA',
        holdMs: o.holdMs,
        infoDigits: o.infoDigits,
        remoteHangup: o.remoteHangup,
        telephoneEvent: o.telephoneEvent,
      }),
      remote: proxy(),
      keys: {
        user: caller.username,
        callee: number.slice(1),
        domain: testStack().config.sip.domain,
        rtp_port: rtp.port,
      },
      auth: { user: caller.username, password: caller.password },
      timeoutSeconds: Math.ceil(o.holdMs / 1000) + 20,
    });
    const relay = await waitForAnswer(sipp);
    const ai = await peer.connection(index);
    return { sipp, rtp, relay, ai, number };
  }

  const loudPackets = (rtp: RtpPeer, codec: 'PCMA' | 'PCMU' = 'PCMA') =>
    rtp.received.filter((r) => r.packet.payload.filter((b) => !SILENCE[codec].has(b)).length > 20);

  test('olib: 640-byte 16 kHz frames with increasing sequence; AI speech heard; marks after playout; clear cuts playback within 40 ms', async () => {
    const call = await aiCall('olib', { holdMs: 9000 });
    try {
      await call.ai.waitFor('auth', (c) => c.of('auth').length === 1);
      const auth = call.ai.of('auth')[0] as {
        auth: { token: string; signature: string; timestamp: string; call_id: string };
      };
      expect(auth.auth.token).toMatch(/^Bearer ey/);
      expect(auth.auth.signature).toMatch(/^[0-9a-f]{64}$/);

      await call.rtp.send(packetsOf(tone([440], 1000, 8000), 'PCMA'), call.relay);
      await call.ai.waitFor('caller audio', (c) => c.of('audio_data').length >= 45);
      const frames = call.ai.of('audio_data') as Array<{ data: { audio: string; sequence: number } }>;
      expect(frames.every((f) => Buffer.from(f.data.audio, 'base64').length === 640)).toBe(true);
      for (let i = 1; i < frames.length; i++)
        expect(frames[i]!.data.sequence).toBeGreaterThan(frames[i - 1]!.data.sequence);

      // One second of AI speech, then a mark: the caller hears it, the mark comes back after it.
      const sentAt = performance.now();
      call.ai.send({ type: 'audio', data: { audio: b64pcm(tone([1000], 1000, 16000)) } });
      call.ai.send({ type: 'mark', data: { name: 'first' } });
      await call.ai.waitFor('mark echo', (c) => c.of('mark').length === 1);
      const markAt = call.ai.frames.find((f) => f.kind === 'json' && f.value.type === 'mark')!.atMs;
      const mark1 = call.ai.of('mark')[0] as { data: { name: string; played_ms: number; truncated: boolean } };
      expect(mark1.data).toMatchObject({ name: 'first', played_ms: 1000, truncated: false });
      expect(markAt - sentAt).toBeGreaterThanOrEqual(950);
      expect(loudPackets(call.rtp).length).toBeGreaterThanOrEqual(45);

      // Barge-in: three seconds queued, cleared after half a second.
      call.ai.send({ type: 'audio', data: { audio: b64pcm(tone([700], 3000, 16000)) } });
      call.ai.send({ type: 'mark', data: { name: 'long' } });
      await new Promise((r) => setTimeout(r, 500));
      const clearAt = performance.now();
      call.ai.send({ type: 'clear' });
      await call.ai.waitFor('truncated mark', (c) => c.of('mark').length === 2);
      await new Promise((r) => setTimeout(r, 300));
      const lastLoud = loudPackets(call.rtp).pop()!;
      expect(lastLoud.atMs - clearAt).toBeLessThan(40);
      const mark2 = call.ai.of('mark')[1] as { data: { name: string; played_ms: number; truncated: boolean } };
      expect(mark2.data.name).toBe('long');
      expect(mark2.data.truncated).toBe(true);
      expect(mark2.data.played_ms).toBeGreaterThan(350);
      expect(mark2.data.played_ms).toBeLessThan(700);

      expectSippSuccess(await call.sipp.done, 'call');
      await call.ai.waitFor('call_end', (c) => c.of('call_end').length === 1);
    } finally {
      call.rtp.close();
    }
  });

  test("twilio: connected, start (μ-law 8 kHz), 160-byte μ-law media, stop; the agent's media is heard", async () => {
    const call = await aiCall('twilio', { holdMs: 4000 });
    try {
      await call.rtp.send(packetsOf(tone([440], 600, 8000), 'PCMA'), call.relay);
      await call.ai.waitFor('media', (c) => c.of('media').length >= 25);
      const events = call.ai.json().map((f) => f.event);
      expect(events.slice(0, 2)).toEqual(['connected', 'start']);
      const start = call.ai.of('start')[0] as { streamSid: string; start: { mediaFormat: unknown } };
      expect(start.start.mediaFormat).toEqual({ encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
      const media = call.ai.of('media') as Array<{ media: { track: string; payload: string } }>;
      expect(
        media.every((m) => m.media.track === 'inbound' && Buffer.from(m.media.payload, 'base64').length === 160),
      ).toBe(true);
      call.ai.send({
        event: 'media',
        streamSid: start.streamSid,
        media: { payload: Buffer.from(encodeUlaw(tone([1000], 500, 8000))).toString('base64') },
      });
      await new Promise((r) => setTimeout(r, 800));
      expect(loudPackets(call.rtp).length).toBeGreaterThanOrEqual(20);
      expectSippSuccess(await call.sipp.done, 'call');
      await call.ai.waitFor('stop', (c) => c.of('stop').length === 1);
    } finally {
      call.rtp.close();
    }
  });

  test('binary: caller audio as 640-byte binary frames; binary AI audio heard', async () => {
    const call = await aiCall('binary', { holdMs: 4000 });
    try {
      await call.rtp.send(packetsOf(tone([440], 600, 8000), 'PCMA'), call.relay);
      await call.ai.waitFor('binary frames', (c) => c.frames.filter((f) => f.kind === 'binary').length >= 25);
      const bin = call.ai.frames.filter((f) => f.kind === 'binary');
      expect(bin.every((f) => f.value.length === 640)).toBe(true);
      const speech = tone([1000], 500, 16000);
      call.ai.sendBinary(Buffer.from(speech.buffer));
      await new Promise((r) => setTimeout(r, 800));
      expect(loudPackets(call.rtp).length).toBeGreaterThanOrEqual(20);
      expectSippSuccess(await call.sipp.done, 'call');
    } finally {
      call.rtp.close();
    }
  });

  test("DTMF: SIPp's RFC 2833 captures and SIP INFO reach the AI as exactly the keys pressed, once each", async () => {
    const call = await aiCall('olib', { holdMs: 6000, infoDigits: '7#' });
    try {
      const keys = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'star', 'pound'];
      // One RTP stream as a phone sends it: audio, then each press (the capture's
      // packets, restamped onto the stream's clock: RFC 4733 §2.5.1.1), then audio again.
      let seq = 5000;
      let ts = 200_000;
      const events: RtpPacket[] = [];
      const audio = (frames: number): void => {
        for (let g = 0; g < frames; g++) {
          events.push(...packetsOf(new Int16Array(160), 'PCMA', { seq: seq++, ts, ssrc: 0x1234 }));
          ts += 160;
        }
      };
      audio(10);
      for (const k of keys) {
        const press = pcapRtp(`/usr/share/sip-tester/dtmf_2833_${k}.pcap`, 101);
        for (const p of press) events.push({ ...p, ssrc: 0x1234, sequence: seq++ & 0xffff, timestamp: ts });
        ts += press.length * 160;
        audio(10);
      }
      await call.rtp.send(events, call.relay);
      await call.ai
        .waitFor(
          `all key presses (so far: ${JSON.stringify(call.ai.of('dtmf'))})`,
          (c) => c.of('dtmf').length >= 14,
          15_000,
        )
        .catch((err: Error) => {
          throw new Error(
            `${err.message}; got ${JSON.stringify((call.ai.of('dtmf') as Array<{ data: { digit: string } }>).map((d) => d.data.digit))}`,
          );
        });
      await new Promise((r) => setTimeout(r, 500));
      const digits = (call.ai.of('dtmf') as Array<{ data: { digit: string } }>).map((d) => d.data.digit);
      expect([...digits].sort()).toEqual([...'0123456789*#', '7', '#'].sort());
      expect(digits.filter((d) => d === '7')).toHaveLength(2);
      expectSippSuccess(await call.sipp.done, 'call');
    } finally {
      call.rtp.close();
    }
  });

  test('DTMF in-band (a phone without telephone-event): nominal and ±1.4 % tones detected, ±3.6 % and speech are not', async () => {
    // GATEWAY_INBAND_DTMF=auto listens for tones only where keys cannot arrive as RFC 4733 events.
    const call = await aiCall('olib', { holdMs: 9000, codec: 'PCMU', telephoneEvent: false });
    try {
      const press = (low: number, high: number, scale = 1): Int16Array =>
        tone([low * scale, high * scale], 100, 8000, 0.3);
      const gap = new Int16Array(800);
      const parts = [
        press(697, 1209),
        gap,
        press(770, 1336, 1.014),
        gap,
        press(852, 1477, 0.986),
        gap,
        press(941, 1336, 1.036),
        gap,
        press(697, 1477, 0.964),
        gap,
      ];
      const speech = readWav(readFileSync(join(REPO_ROOT, 'services/media-gateway/src/dtmf/inband-talkoff.ulaw.wav')));
      const speech8k = speech.pcm.subarray(0, 8000 * 5);
      let total = speech8k.length;
      for (const p of parts) total += p.length;
      const signal = new Int16Array(total);
      let at = 0;
      for (const p of parts) {
        signal.set(p, at);
        at += p.length;
      }
      signal.set(speech8k, at);
      await call.rtp.send(packetsOf(signal, 'PCMU'), call.relay);
      await new Promise((r) => setTimeout(r, 500));
      const digits = (call.ai.of('dtmf') as Array<{ data: { digit: string } }>).map((d) => d.data.digit);
      expect(digits).toEqual(['1', '5', '9']);
      expectSippSuccess(await call.sipp.done, 'call');
    } finally {
      call.rtp.close();
    }
  });

  test('the AI WebSocket dies mid-call: hold audio, reconnect with reconnected: true, resume; down too long: clean hangup with a reason', async () => {
    const window = testStack().config.ai.reconnectWindowMs;
    const call = await aiCall('olib', { holdMs: 20_000, remoteHangup: true });
    try {
      await call.rtp.send(packetsOf(tone([440], 400, 8000), 'PCMA'), call.relay);
      await call.ai.waitFor('caller audio', (c) => c.of('audio_data').length >= 10);
      const beforeKill = call.rtp.received.length;
      call.ai.socket.terminate();
      const again = await peer.connection(peer.connections.indexOf(call.ai) + 1, window);
      await again.waitFor('re-auth', (c) => c.of('auth').length === 1);
      expect((again.of('auth')[0] as { auth: { reconnected: boolean; call_id: string } }).auth).toMatchObject({
        reconnected: true,
        call_id: (call.ai.of('auth')[0] as { auth: { call_id: string } }).auth.call_id,
      });
      // The caller kept getting packets while the AI was away.
      expect(call.rtp.received.length).toBeGreaterThan(beforeKill);
      await call.rtp.send(
        packetsOf(tone([440], 400, 8000), 'PCMA', { seq: 3000, ts: 500_000, ssrc: 0x1234 }),
        call.relay,
      );
      await again.waitFor('audio after reconnect', (c) => c.of('audio_data').length >= 10);

      // Now the AI goes away for good.
      peer.accepting = false;
      again.socket.terminate();
      const startedWaiting = Date.now();
      expectSippSuccess(await call.sipp.done, 'gateway hung up with BYE');
      expect(Date.now() - startedWaiting).toBeGreaterThanOrEqual(window - 500);
      const callId = (call.ai.of('auth')[0] as { auth: { call_id: string } }).auth.call_id;
      // The gateway writes the row right after its BYE is answered.
      const row = await waitFor('the call row to end', async () => {
        const { rows } = await db.query<{ state: string; end_reason: string; ended_by: string }>(
          'SELECT state, end_reason, ended_by FROM calls WHERE call_id = $1',
          [callId],
        );
        return rows[0]?.state === 'ended' ? rows[0] : undefined;
      });
      expect(row).toMatchObject({ state: 'ended', ended_by: 'ai' });
      expect(row.end_reason).toMatch(/^ai unavailable/);
      const health = (await (
        await fetch(`http://${testStack().config.gateway.httpHost}:${testStack().config.gateway.httpPort}/health`)
      ).json()) as {
        active_calls: number;
      };
      expect(health.active_calls).toBe(0);
    } finally {
      peer.accepting = true;
      call.rtp.close();
    }
  });
});
