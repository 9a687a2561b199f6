import { FakeUdpPeer } from '../../../../../tests/media-relay/fake-udp-peer';
import { RelayCommandError, RelayOptionUnsupportedError, RelayProtocolError, RelayUnavailableError } from '../errors';
import { RtpproxyClient } from './client';

const OFFER = [
  'v=0',
  'o=alice 53655765 2353687637 IN IP4 127.0.0.2',
  's=-',
  'c=IN IP4 127.0.0.2',
  't=0 0',
  'm=audio 6000 RTP/AVP 8 101',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=candidate:1 1 udp 2130706431 127.0.0.2 6000 typ host',
  'a=rtcp:6001',
  '',
].join('\r\n');

describe('RtpproxyClient', () => {
  let peer: FakeUdpPeer;
  let client: RtpproxyClient;
  const commands = (): string[] => peer.received.map((r) => r.text);

  beforeEach(async () => {
    peer = await FakeUdpPeer.start();
    client = new RtpproxyClient({ port: peer.port, timeoutMs: 500, retransmitMs: 100 });
  });

  afterEach(async () => {
    await client.close();
    await peer.close();
  });

  it('ping sends V and reports the protocol version', async () => {
    peer.respond(() => '20040107\n');
    const result = await client.ping();
    expect(result.version).toBe('20040107');
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(commands()).toEqual(['V']);
  });

  it('ping rejects with RelayUnavailableError when RTPProxy stays silent', async () => {
    const err = await client.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayUnavailableError);
    expect((err as Error).message).toMatch(/^rtpproxy V: relay did not answer/);
  });

  it('offer sends U with the SDP address, port and tag;medianum, and rewrites the SDP from "port addr"', async () => {
    peer.respond(() => '46000 127.0.0.1\n');
    const { sdp } = await client.offer({ callId: 'call-1@host', fromTag: 'alice', sdp: OFFER });
    expect(commands()).toEqual(['U call-1@host 127.0.0.2 6000 alice;1']);
    expect(sdp).toBe(
      [
        'v=0',
        'o=alice 53655765 2353687637 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 46000 RTP/AVP 8 101',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:101 telephone-event/8000',
        'a=rtcp:46001',
        '',
      ].join('\r\n'),
    );
  });

  it('answer sends L with both tags', async () => {
    peer.respond(() => '46002 127.0.0.1\n');
    const { sdp } = await client.answer({
      callId: 'call-1',
      fromTag: 'alice',
      toTag: 'bob',
      sdp: OFFER.replace(/6000/g, '7000'),
    });
    expect(commands()).toEqual(['L call-1 127.0.0.2 7000 alice;1 bob;1']);
    expect(sdp).toContain('m=audio 46002 RTP/AVP 8 101');
  });

  it('one U/L per stream, numbered by m= position; disabled streams are skipped', async () => {
    let port = 46000;
    peer.respond(() => `${(port += 2)} 127.0.0.1\n`);
    const sdp =
      'v=0\r\nc=IN IP4 127.0.0.2\r\nm=audio 6000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\nm=audio 6004 RTP/AVP 0\r\n';
    const out = await client.offer({ callId: 'c', fromTag: 'f', sdp });
    expect(commands()).toEqual(['U c 127.0.0.2 6000 f;1', 'U c 127.0.0.2 6004 f;3']);
    expect(out.sdp).toBe(
      'v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 46002 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\nm=audio 46004 RTP/AVP 0\r\n',
    );
  });

  it('E8 becomes RelayCommandError with the code and its meaning', async () => {
    peer.respond(() => 'E8\n');
    const err = await client.offer({ callId: 'c', fromTag: 'f', sdp: OFFER }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayCommandError);
    expect((err as RelayCommandError).relayCode).toBe(8);
    expect((err as Error).message).toBe('rtpproxy offer: relay refused: E8 command syntax error');
  });

  it('an answer for a call RTPProxy does not know (port 0) is "session not found"', async () => {
    peer.respond(() => '0\n');
    const err = await client.answer({ callId: 'c', fromTag: 'f', toTag: 't', sdp: OFFER }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayCommandError);
    expect((err as RelayCommandError).relayCode).toBe(50);
  });

  it('an unreadable reply is a protocol error', async () => {
    peer.respond(() => 'what?\n');
    await expect(client.offer({ callId: 'c', fromTag: 'f', sdp: OFFER })).rejects.toBeInstanceOf(RelayProtocolError);
  });

  it.each([
    ['codecs.mask', { codecs: { mask: ['PCMA'] } }],
    ['codecs.transcode', { codecs: { transcode: ['PCMU'] } }],
    ['ptime', { ptime: 20 }],
    ['ice', { ice: 'force' as const }],
    ['transport', { transport: 'RTP/SAVPF' as const }],
  ])('refuses %s before sending anything', async (option, extra) => {
    const err = await client.offer({ callId: 'c', fromTag: 'f', sdp: OFFER, ...extra }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayOptionUnsupportedError);
    expect((err as RelayOptionUnsupportedError).option).toBe(option);
    expect((err as RelayOptionUnsupportedError).code).toBe('ERR_RELAY_OPTION_UNSUPPORTED');
    expect(peer.received).toHaveLength(0);
  });

  it('accepts what it can honour: ICE removal, the SDP own transport, codec stripping', async () => {
    peer.respond(() => '46000 127.0.0.1\n');
    const { sdp } = await client.offer({
      callId: 'c',
      fromTag: 'f',
      sdp: OFFER,
      ice: 'remove',
      transport: 'RTP/AVP',
      codecs: { strip: ['telephone-event'] },
    });
    expect(sdp).toContain('m=audio 46000 RTP/AVP 8\r\n');
    expect(sdp).not.toContain('telephone-event');
  });

  it('delete sends D with bare tags; 0 is deleted, E50 is unknown, other errors throw', async () => {
    const replies = ['0\n', 'E50\n', 'E99\n'];
    peer.respond(() => replies.shift());
    await expect(client.delete({ callId: 'c', fromTag: 'f', toTag: 't' })).resolves.toEqual({ deleted: true });
    await expect(client.delete({ callId: 'c', fromTag: 'f' })).resolves.toEqual({ deleted: false });
    await expect(client.delete({ callId: 'c', fromTag: 'f' })).rejects.toMatchObject({ relayCode: 99 });
    expect(commands()).toEqual(['D c f t', 'D c f', 'D c f']);
  });

  it('query sums every stream of the call into per-leg packet counts', async () => {
    const replies = ['60 5 3 8 0\n', '60 1 2 3 0\n', 'E50\n'];
    peer.respond(() => replies.shift());
    const stats = await client.query({ callId: 'c', fromTag: 'f', toTag: 't' });
    expect(commands()).toEqual(['Q c f;1 t;1', 'Q c f;2 t;2', 'Q c f;3 t;3']);
    expect(stats).toEqual({
      callId: 'c',
      legs: [
        { tag: 'f', packets: 6 },
        { tag: 't', packets: 5 },
      ],
      totals: { packets: 11 },
    });
  });

  it('query of an unknown call is "session not found"', async () => {
    peer.respond(() => 'E50\n');
    await expect(client.query({ callId: 'c', fromTag: 'f' })).rejects.toMatchObject({
      relayCode: 50,
      code: 'ERR_RELAY_REJECTED',
    });
  });

  it('statistics reads I', async () => {
    peer.respond(
      () => 'sessions created: 4\nactive sessions: 1\nactive streams: 2\npackets received: 9\npackets transmitted: 8\n',
    );
    await expect(client.statistics()).resolves.toMatchObject({
      activeSessions: 1,
      totalSessions: 4,
      packetsRelayed: 8,
    });
    expect(commands()).toEqual(['I']);
  });

  it('list is not in the protocol', async () => {
    await expect(client.list()).rejects.toBeInstanceOf(RelayOptionUnsupportedError);
  });

  it('advertises no transcoding, ptime, ICE force, transport conversion, bytes or list', () => {
    expect(client.kind).toBe('rtpproxy');
    expect(Object.values(client.capabilities).some(Boolean)).toBe(false);
  });
});
