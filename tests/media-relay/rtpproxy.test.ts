import type { Config } from '../../services/common/src/config';
import { RelayCommandError, RelayOptionUnsupportedError, type MediaRelay } from '../../services/common/src/media-relay';
import { isRelayAvailable } from '../../scripts/stack/relay';
import { relayTestConfig, startRelay, type RunningRelay } from './relay-process';
import { audioSdp, G711_FRAME_BYTES, mediaTarget, RtpEndpoint } from './rtp-endpoint';

const PARTY_ADDRESS = '127.0.0.2';
const RTP_MIN = 47000;
const RTP_MAX = 47999;
const ALAW_SILENCE = 0xd5;

if (!isRelayAvailable('rtpproxy')) {
  // Not a pass: the suite did not run, and says why.
  console.warn('rtpproxy not on PATH: RTPProxy tests skipped (not packaged in Debian bookworm)');
  it.skip('RTPProxy relays media like rtpengine does (needs an rtpproxy binary on PATH)', () => undefined);
} else {
  describe('RTPProxy (a real daemon started from scripts/stack/relay.ts)', () => {
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
    const inRelayRange = (port: number): boolean => port >= RTP_MIN && port <= RTP_MAX;

    beforeAll(async () => {
      config = relayTestConfig('rtpproxy', { control: 32225, rtpMin: RTP_MIN, rtpMax: RTP_MAX });
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

    it('ping answers the control protocol version', async () => {
      const result = await relay.ping();
      expect(result.version).toBe('20040107');
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
      const toRelayFromAlice = mediaTarget(answer.sdp);
      const toRelayFromBob = mediaTarget(offer.sdp);
      expect(toRelayFromAlice.port).not.toBe(toRelayFromBob.port);

      await alice.sendRtp(toRelayFromAlice, 10, 8, ALAW_SILENCE);
      await bob.sendRtp(toRelayFromBob, 7, 8, ALAW_SILENCE);
      const atBob = await bob.waitFor(10);
      const atAlice = await alice.waitFor(7);
      expect(atBob).toHaveLength(10);
      expect(atAlice).toHaveLength(7);
      expect(atBob[0]?.from).toEqual({ address: '127.0.0.1', port: toRelayFromBob.port });
      expect(atAlice[0]?.from).toEqual({ address: '127.0.0.1', port: toRelayFromAlice.port });
      expect(atBob.every((p) => p.payloadType === 8 && p.payload.length === G711_FRAME_BYTES)).toBe(true);

      const stats = await relay.query(ids);
      expect(stats.legs).toEqual([
        { tag: ids.fromTag, packets: 10 },
        { tag: ids.toTag, packets: 7 },
      ]);
      expect(stats.totals.packets).toBe(17);
      expect((await relay.statistics()).activeSessions).toBeGreaterThanOrEqual(1);

      await expect(relay.delete(ids)).resolves.toEqual({ deleted: true });
      await expect(relay.query(ids)).rejects.toMatchObject({ relayCode: 50 });
      await expect(relay.delete(ids)).resolves.toEqual({ deleted: false });
      const before = bob.received.length;
      await alice.sendRtp(toRelayFromAlice, 3, 8, ALAW_SILENCE);
      await new Promise((r) => setTimeout(r, 200));
      expect(bob.received.length).toBe(before);
    });

    it('refuses transcoding before touching the relay, as its capabilities say', async () => {
      expect(relay.capabilities.transcoding).toBe(false);
      const ids = nextCall();
      await expect(
        relay.offer({
          ...ids,
          toTag: undefined,
          sdp: audioSdp('alice', alice, [8, 101]),
          codecs: { mask: ['PCMA'], transcode: ['PCMU'] },
        }),
      ).rejects.toBeInstanceOf(RelayOptionUnsupportedError);
      await expect(relay.query(ids)).rejects.toMatchObject({ relayCode: 50 });
    });

    it('an answer for a call it never saw is refused as "session not found"', async () => {
      const err = await relay.answer({ ...nextCall(), sdp: audioSdp('bob', bob, [0]) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RelayCommandError);
      expect((err as RelayCommandError).relayCode).toBe(50);
    });
  });
}
