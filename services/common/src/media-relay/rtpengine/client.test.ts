import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeUdpPeer } from '../../../../../tests/media-relay/fake-udp-peer';
import { RelayCommandError, RelayProtocolError, RelayUnavailableError } from '../errors';
import { RtpengineClient, ngSdpOptions, parseQueryReply, parseStatisticsReply } from './client';
import { decodeNgDict, encodeNgDict, type NgDict } from './ng';

const FIXTURES = join(__dirname, '../../../../../tests/media-relay/fixtures');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

const OFFER =
  'v=0\r\no=alice 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n';
const REWRITTEN = OFFER.replace(/127\.0\.0\.2/g, '127.0.0.1').replace('6000', '46000');

describe('RtpengineClient', () => {
  let peer: FakeUdpPeer;
  let client: RtpengineClient;
  const requests = (): NgDict[] => peer.received.map((r) => decodeNgDict(r.body));

  beforeEach(async () => {
    peer = await FakeUdpPeer.start();
    client = new RtpengineClient({ port: peer.port, timeoutMs: 500, retransmitMs: 100 });
  });

  afterEach(async () => {
    await client.close();
    await peer.close();
  });

  it('ping → pong with a latency, no version (NG does not report one)', async () => {
    peer.respond(() => 'd6:result4:ponge');
    const result = await client.ping();
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(result.version).toBeUndefined();
    expect(peer.received[0]?.text).toBe('d7:command4:pinge');
  });

  it('subscribe → `subscribe request` for one party under our tag; the answer and unsubscribe name the same tag', async () => {
    peer.respond((request) => {
      const command = decodeNgDict(request.body)['command'];
      return command === 'subscribe request'
        ? encodeNgDict({ result: 'ok', sdp: REWRITTEN, 'to-tag': 'fork-1-caller' })
        : command === 'unsubscribe'
          ? encodeNgDict({ result: 'error', 'error-reason': 'Unknown call-ID' })
          : encodeNgDict({ result: 'ok' });
    });
    const offer = await client.subscribe({ callId: 'call-1', partyTag: 'alice', subscriberTag: 'fork-1-caller' });
    expect(offer).toEqual({ sdp: REWRITTEN });
    await client.subscribeAnswer({ callId: 'call-1', subscriberTag: 'fork-1-caller', sdp: OFFER });
    // The call ended first: nothing left to unsubscribe, not an error.
    expect(await client.unsubscribe({ callId: 'call-1', subscriberTag: 'fork-1-caller' })).toEqual({ deleted: false });
    expect(requests()).toEqual([
      {
        command: 'subscribe request',
        'call-id': 'call-1',
        'from-tag': 'alice',
        'to-tag': 'fork-1-caller',
        replace: ['origin', 'session-connection'],
      },
      { command: 'subscribe answer', 'call-id': 'call-1', 'to-tag': 'fork-1-caller', sdp: OFFER },
      { command: 'unsubscribe', 'call-id': 'call-1', 'to-tag': 'fork-1-caller' },
    ]);
  });

  it('ping rejects with RelayUnavailableError when rtpengine stays silent', async () => {
    await expect(client.ping()).rejects.toBeInstanceOf(RelayUnavailableError);
  });

  it('offer sends the SDP, dialog ids and options as NG keys and returns the rewritten SDP', async () => {
    peer.respond(() => encodeNgDict({ result: 'ok', sdp: REWRITTEN }));
    const result = await client.offer({
      callId: 'call-1',
      fromTag: 'alice',
      viaBranch: 'z9hG4bK-1',
      sdp: OFFER,
      ice: 'remove',
      transport: 'RTP/AVP',
      codecs: { mask: ['PCMA'], transcode: ['PCMU'] },
      ptime: 20,
    });
    expect(result).toEqual({ sdp: REWRITTEN });
    expect(requests()[0]).toEqual({
      command: 'offer',
      'call-id': 'call-1',
      'from-tag': 'alice',
      'via-branch': 'z9hG4bK-1',
      sdp: OFFER,
      replace: ['origin', 'session-connection'],
      ICE: 'remove',
      'transport-protocol': 'RTP/AVP',
      codec: { mask: ['PCMA'], transcode: ['PCMU'] },
      ptime: 20,
    });
  });

  it('answer carries the To tag and passes a warning through', async () => {
    peer.respond(() => encodeNgDict({ result: 'ok', sdp: REWRITTEN, warning: 'something odd' }));
    const result = await client.answer({ callId: 'call-1', fromTag: 'alice', toTag: 'bob', sdp: OFFER });
    expect(result).toEqual({ sdp: REWRITTEN, warning: 'something odd' });
    expect(requests()[0]).toMatchObject({
      command: 'answer',
      'call-id': 'call-1',
      'from-tag': 'alice',
      'to-tag': 'bob',
    });
  });

  it('an error reply becomes RelayCommandError with the error-reason', async () => {
    peer.respond(() => fixture('rtpengine-10.5-query-unknown-reply.bencode'));
    const err = await client.query({ callId: 'no-such-call', fromTag: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayCommandError);
    expect((err as RelayCommandError).relayReason).toBe('Unknown call-id');
    expect((err as RelayCommandError).code).toBe('ERR_RELAY_REJECTED');
    expect((err as Error).message).toBe('rtpengine query: relay refused: Unknown call-id');
  });

  it('an ok reply without sdp to an offer is a protocol error', async () => {
    peer.respond(() => 'd6:result2:oke');
    await expect(client.offer({ callId: 'c', fromTag: 'f', sdp: OFFER })).rejects.toBeInstanceOf(RelayProtocolError);
  });

  it('a reply that is not bencode is a protocol error', async () => {
    peer.respond(() => 'not bencode');
    await expect(client.ping()).rejects.toThrow(/rtpengine ping: unreadable reply \(not a bencoded dictionary\)/);
  });

  it('an unknown result value is a protocol error', async () => {
    peer.respond(() => encodeNgDict({ result: 'load limit' }));
    await expect(client.offer({ callId: 'c', fromTag: 'f', sdp: OFFER })).rejects.toBeInstanceOf(RelayProtocolError);
  });

  it('delete asks for immediate removal and reports whether rtpengine knew the call', async () => {
    peer.respond((_req) =>
      peer.received.length === 1
        ? fixture('rtpengine-10.5-delete-reply.bencode')
        : fixture('rtpengine-10.5-delete-unknown-reply.bencode'),
    );
    await expect(client.delete({ callId: 'fixture-call', fromTag: 'alice-tag' })).resolves.toEqual({ deleted: true });
    await expect(client.delete({ callId: 'fixture-call', fromTag: 'alice-tag' })).resolves.toEqual({ deleted: false });
    expect(requests()[0]).toEqual({
      command: 'delete',
      'call-id': 'fixture-call',
      'from-tag': 'alice-tag',
      'delete-delay': 0,
    });
  });

  it('query reduces a real 10.5 reply to per-leg RTP counters', async () => {
    peer.respond(() => fixture('rtpengine-10.5-query-reply.bencode'));
    const stats = await client.query({ callId: 'fixture-call', fromTag: 'alice-tag' });
    expect(stats.callId).toBe('fixture-call');
    // Captured after alice sent 5 and bob 3 RTP packets of 172 bytes (860 and 516 bytes).
    expect(stats.legs).toEqual([
      {
        tag: 'alice-tag',
        packets: 5,
        bytes: 860,
        errors: 0,
        endpoint: { address: '127.0.0.2', port: 6200 },
        localPort: 47016,
      },
      {
        tag: 'bob-tag',
        packets: 3,
        bytes: 516,
        errors: 0,
        endpoint: { address: '127.0.0.2', port: 6202 },
        localPort: 47000,
      },
    ]);
    expect(stats.totals).toEqual({ packets: 8, bytes: 1376 });
  });

  it('list returns the call-ids, passing the limit', async () => {
    peer.respond(() => fixture('rtpengine-10.5-list-reply.bencode'));
    await expect(client.list(5)).resolves.toEqual(['fixture-call']);
    expect(requests()[0]).toEqual({ command: 'list', limit: 5 });
  });

  it('statistics reads a real 10.5 reply', async () => {
    peer.respond(() => fixture('rtpengine-10.5-statistics-reply.bencode'));
    const stats = await client.statistics();
    expect(stats.activeSessions).toBe(1);
    expect(typeof stats.packetsRelayed).toBe('number');
    expect(stats.raw).toHaveProperty('currentstatistics');
  });

  it('advertises every capability', () => {
    expect(client.kind).toBe('rtpengine');
    expect(Object.values(client.capabilities).every(Boolean)).toBe(true);
  });
});

describe('ngSdpOptions', () => {
  it('always replaces origin and session connection, and adds only the options given', () => {
    expect(ngSdpOptions({})).toEqual({ replace: ['origin', 'session-connection'] });
  });

  it('leaves empty codec lists out', () => {
    expect(ngSdpOptions({ codecs: { strip: [], transcode: ['PCMU'] } })).toMatchObject({
      codec: { transcode: ['PCMU'] },
    });
    expect(ngSdpOptions({ codecs: { mask: [] } })['codec']).toBeUndefined();
  });

  it('refuses a ptime that is not a whole number of milliseconds', () => {
    expect(() => ngSdpOptions({ ptime: 0 })).toThrow(TypeError);
    expect(() => ngSdpOptions({ ptime: 20.5 })).toThrow(TypeError);
  });
});

describe('parseQueryReply / parseStatisticsReply', () => {
  it('tolerates a reply without tags or totals', () => {
    expect(parseQueryReply('c', { result: 'ok' })).toEqual({ callId: 'c', legs: [], totals: { packets: 0, bytes: 0 } });
  });

  it('sums relayed packets of user space and kernel', () => {
    const stats = parseStatisticsReply({
      statistics: {
        currentstatistics: { sessionstotal: 2 },
        totalstatistics: { relayedpackets_user: 10, relayedpackets_kernel: 5, managedsessions: 7 },
      },
    });
    expect(stats).toMatchObject({ activeSessions: 2, packetsRelayed: 15, totalSessions: 7 });
  });
});
