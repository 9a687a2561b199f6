import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../../services/common/src/config';
import { RelayCommandError, type MediaRelay } from '../../services/common/src/media-relay';
import { relayTestConfig, startRelay, type RunningRelay } from './relay-process';
import { audioSdp, G711_FRAME_BYTES, mediaTarget, RtpEndpoint } from './rtp-endpoint';

// The relay listens on 127.0.0.1; the parties sit on 127.0.0.2, so an SDP that
// still names 127.0.0.2 was not rewritten.
const PARTY_ADDRESS = '127.0.0.2';
const RTP_MIN = 46000;
const RTP_MAX = 46999;
// G.711 silence: A-law 0xD5, µ-law 0xFF (ITU-T G.711 Tables 1a/2a).
const ALAW_SILENCE = 0xd5;

describe('rtpengine 10.5 (a real daemon started from scripts/stack/relay.ts)', () => {
  let config: Config;
  let running: RunningRelay;
  let relay: MediaRelay;
  let alice: RtpEndpoint;
  let bob: RtpEndpoint;
  let call = 0;
  const nextCall = () => ({
    callId: `relay-test-${process.pid}-${++call}@127.0.0.2`,
    fromTag: `alice-${call}`,
    toTag: `bob-${call}`,
  });

  beforeAll(async () => {
    config = relayTestConfig('rtpengine', { control: 32223, rtpMin: RTP_MIN, rtpMax: RTP_MAX });
    running = await startRelay(config);
    relay = running.relay;
  });

  afterAll(async () => {
    await running?.stop();
  });

  beforeEach(async () => {
    alice = await RtpEndpoint.open(PARTY_ADDRESS);
    bob = await RtpEndpoint.open(PARTY_ADDRESS);
  });

  afterEach(async () => {
    await alice.close();
    await bob.close();
  });

  const inRelayRange = (port: number): boolean => port >= RTP_MIN && port <= RTP_MAX;

  it('runs userspace-only from the rendered config, pid file in STATE_DIR', () => {
    const rendered = readFileSync(`${config.stateDir}/rtpengine/rtpengine.conf`, 'utf8');
    expect(rendered).toMatch(/^table = -1$/m);
    expect(rendered).toMatch(/^listen-ng = 127\.0\.0\.1:32223$/m);
    expect(existsSync(`${config.stateDir}/rtpengine.pid`)).toBe(true);
    expect(readFileSync(`${config.stateDir}/rtpengine.pid`, 'utf8').trim()).toBe(String(running.pid));
    expect(running.output()).toMatch(/Startup complete, version 10\.5/);
  });

  it('ping → pong', async () => {
    const result = await relay.ping();
    expect(result.latencyMs).toBeLessThan(500);
  });

  it('offer/answer of a PCMU/PCMA pair points both SDPs at the relay, and RTP flows both ways through it', async () => {
    const ids = nextCall();
    const offer = await relay.offer({
      ...ids,
      toTag: undefined,
      sdp: audioSdp('alice', alice, [0, 8, 101]),
      ice: 'remove',
    });
    const answer = await relay.answer({ ...ids, sdp: audioSdp('bob', bob, [8, 101]), ice: 'remove' });

    for (const sdp of [offer.sdp, answer.sdp]) {
      expect(sdp).not.toContain(PARTY_ADDRESS);
      expect(sdp).toMatch(/^c=IN IP4 127\.0\.0\.1\r$/m);
      expect(sdp).toMatch(/^o=\S+ \d+ \d+ IN IP4 127\.0\.0\.1\r$/m);
      expect(inRelayRange(mediaTarget(sdp).port)).toBe(true);
    }
    expect(offer.sdp).toMatch(/^m=audio \d+ RTP\/AVP 0 8 101\r$/m);
    expect(answer.sdp).toMatch(/^m=audio \d+ RTP\/AVP 8 101\r$/m);
    // Bob sends where the offer told him, Alice where the answer told her.
    const toRelayFromAlice = mediaTarget(answer.sdp);
    const toRelayFromBob = mediaTarget(offer.sdp);
    expect(toRelayFromAlice.port).not.toBe(toRelayFromBob.port);

    await alice.sendRtp(toRelayFromAlice, 10, 8, ALAW_SILENCE);
    await bob.sendRtp(toRelayFromBob, 7, 8, ALAW_SILENCE);
    const atBob = await bob.waitFor(10);
    const atAlice = await alice.waitFor(7);
    expect(atBob).toHaveLength(10);
    expect(atAlice).toHaveLength(7);
    // Relayed, not looped: it comes from the relay's port, with the sender's payload.
    expect(atBob[0]?.from).toEqual({ address: '127.0.0.1', port: toRelayFromBob.port });
    expect(atAlice[0]?.from).toEqual({ address: '127.0.0.1', port: toRelayFromAlice.port });
    expect(atBob.every((p) => p.payloadType === 8 && p.payload.length === G711_FRAME_BYTES)).toBe(true);

    const stats = await relay.query(ids);
    const leg = (tag: string) => stats.legs.find((l) => l.tag === tag);
    expect(leg(ids.fromTag)).toMatchObject({
      packets: 10,
      bytes: 10 * (12 + G711_FRAME_BYTES),
      endpoint: { address: PARTY_ADDRESS, port: alice.port },
      localPort: toRelayFromAlice.port,
    });
    expect(leg(ids.toTag)).toMatchObject({
      packets: 7,
      bytes: 7 * (12 + G711_FRAME_BYTES),
      endpoint: { address: PARTY_ADDRESS, port: bob.port },
      localPort: toRelayFromBob.port,
    });
    expect(stats.totals.packets).toBe(17);

    expect(await relay.list(100)).toContain(ids.callId);
    expect((await relay.statistics()).activeSessions).toBeGreaterThanOrEqual(1);

    await expect(relay.delete(ids)).resolves.toEqual({ deleted: true });
    await expect(relay.query(ids)).rejects.toBeInstanceOf(RelayCommandError);
    expect(await relay.list(100)).not.toContain(ids.callId);
    await expect(relay.delete(ids)).resolves.toEqual({ deleted: false });
    // The ports are released: nothing reaches Bob any more.
    const before = bob.received.length;
    await alice.sendRtp(toRelayFromAlice, 3, 8, ALAW_SILENCE);
    await new Promise((r) => setTimeout(r, 200));
    expect(bob.received.length).toBe(before);
  });

  it('codec-mask + codec-transcode turn a PCMA-only offer into PCMU, and the relay transcodes the packets', async () => {
    const ids = nextCall();
    const offer = await relay.offer({
      ...ids,
      toTag: undefined,
      sdp: audioSdp('alice', alice, [8, 101]),
      codecs: { mask: ['PCMA'], transcode: ['PCMU'] },
      ptime: 20,
    });
    // Bob is offered PCMU only (plus DTMF events), at 20 ms.
    expect(offer.sdp).toMatch(/^m=audio \d+ RTP\/AVP 0 101\r$/m);
    expect(offer.sdp).toContain('a=rtpmap:0 PCMU/8000');
    expect(offer.sdp).not.toContain('PCMA');
    expect(offer.sdp).toMatch(/^a=ptime:20\r$/m);

    const answer = await relay.answer({ ...ids, sdp: audioSdp('bob', bob, [0, 101]) });
    // Alice gets back the codec she offered.
    expect(answer.sdp).toMatch(/^m=audio \d+ RTP\/AVP 8 101\r$/m);
    expect(answer.sdp).toContain('a=rtpmap:8 PCMA/8000');

    await alice.sendRtp(mediaTarget(answer.sdp), 25, 8, ALAW_SILENCE);
    const atBob = await bob.waitFor(20);
    expect(atBob.length).toBeGreaterThanOrEqual(20);
    // Every packet Bob gets is PCMU, 20 ms of it: transcoded by rtpengine, not passed through.
    expect(atBob.every((p) => p.payloadType === 0)).toBe(true);
    expect(atBob.every((p) => p.payload.length === G711_FRAME_BYTES)).toBe(true);
    // A-law silence decodes to +8 (a whisper above zero); µ-law encodes that near 0xFF, never as A-law's 0xD5.
    expect(atBob.some((p) => p.payload.includes(ALAW_SILENCE))).toBe(false);

    await bob.sendRtp(mediaTarget(offer.sdp), 10, 0, 0xff);
    const atAlice = await alice.waitFor(8);
    expect(atAlice.length).toBeGreaterThanOrEqual(8);
    expect(atAlice.every((p) => p.payloadType === 8)).toBe(true);

    await expect(relay.delete(ids)).resolves.toEqual({ deleted: true });
  });

  it('an answer for a call it never saw is refused with the relay reason', async () => {
    const err = await relay.answer({ ...nextCall(), sdp: audioSdp('bob', bob, [0]) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayCommandError);
    expect((err as RelayCommandError).relayReason).toMatch(/call-id/i);
  });
});
