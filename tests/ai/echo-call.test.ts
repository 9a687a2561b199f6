import { api, createUser } from '../support/api';
import { pcapRtp, RtpPeer } from '../../harness/rtp-peer';
import { expectSippSuccess, proxy } from '../support/sip';
import { G711A_PCAP, startSipp, uacMediaScenario, waitForAnswer } from '../../harness/sipp';
import { testStack } from '../support/stack';

describe('a caller talks to the demo agent through Kamailio, the relay and the media gateway', () => {
  test('SIPp calls an AI number with g711a.pcap as its audio: the echo comes back (≥ 95 % of frames, PCMA, steady timestamps)', async () => {
    const caller = await createUser();
    const number = `+1555778${String(Date.now() % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
    });
    expect(created.status).toBe(201);

    const audio = pcapRtp(G711A_PCAP, 8);
    expect(audio.length).toBeGreaterThan(200);
    const peer = await RtpPeer.open();
    try {
      const sipp = await startSipp({
        scenario: uacMediaScenario({ codec: 'PCMA', holdMs: audio.length * 20 + 1500 }),
        remote: proxy(),
        keys: {
          user: caller.username,
          callee: number.slice(1),
          domain: testStack().config.sip.domain,
          rtp_port: peer.port,
        },
        auth: { user: caller.username, password: caller.password },
        timeoutSeconds: 30,
      });
      const relay = await waitForAnswer(sipp);
      await peer.send(audio, relay);
      const run = await sipp.done;
      expectSippSuccess(run, 'call to the AI number');

      const back = peer.received.filter((r) => r.packet.payloadType === 8);
      expect(back.length).toBeGreaterThanOrEqual(Math.floor(audio.length * 0.95));
      // One stream from the gateway: timestamps advance 160 a packet, sequence numbers by one.
      const ssrc = back[0]!.packet.ssrc;
      const stream = back.filter((r) => r.packet.ssrc === ssrc);
      let steady = 0;
      for (let i = 1; i < stream.length; i++) {
        const a = stream[i - 1]!.packet;
        const b = stream[i]!.packet;
        if (((b.sequence - a.sequence) & 0xffff) === 1 && (b.timestamp - a.timestamp) >>> 0 === 160) steady++;
      }
      expect(steady).toBeGreaterThanOrEqual(stream.length - 3);
      // The echo carries the caller's audio, not comfort silence.
      const loud = stream.filter((r) => r.packet.payload.some((b) => b !== 0xd5 && b !== 0x55)).length;
      expect(loud).toBeGreaterThanOrEqual(Math.floor(audio.length * 0.8));
    } finally {
      peer.close();
    }
  });
});
