import { decodeUlaw } from '../../../common/src/audio/g711';
import { ListenFrames } from './frames';

const call = {
  callId: 'fork-1',
  sipCallId: 'sip-1',
  from: 'alice',
  to: '15550001111',
  trunk: 'tr1',
  customParameters: { team: 'qa' },
};
const auth = { jwt: 'j', signature: 's', timestamp: '1', callId: 'fork-1', reconnected: false };
const pcm = Int16Array.from({ length: 160 }, (_, i) => (i % 2 ? 1000 : -1000));

describe('listen-only frames', () => {
  test('olib: the auth frame says listen_only and names the tracks; audio_data carries its track', () => {
    const f = new ListenFrames('olib', call);
    const [opening] = f.opening(auth).map((x) => JSON.parse(String(x)) as { call: Record<string, unknown> });
    expect(opening?.call).toMatchObject({
      listen_only: true,
      tracks: ['caller', 'callee'],
      trunk: 'tr1',
      custom: { team: 'qa' },
    });
    const a = JSON.parse(String(f.audio('callee', pcm, 1000))) as {
      type: string;
      data: { track: string; audio: string };
    };
    expect([a.type, a.data.track]).toEqual(['audio_data', 'callee']);
    expect(Buffer.from(a.data.audio, 'base64')).toHaveLength(320);
  });

  test('twilio: both tracks in start, the caller is inbound and the callee outbound, μ-law payloads', () => {
    const f = new ListenFrames('twilio', call);
    const start = JSON.parse(String(f.opening(auth)[1])) as {
      start: { tracks: string[]; mediaFormat: { tracks: string[] } };
    };
    expect(start.start.tracks).toEqual(['inbound', 'outbound']);
    expect(start.start.mediaFormat.tracks).toEqual(['inbound', 'outbound']);
    const m1 = JSON.parse(String(f.audio('caller', pcm, 0))) as { media: { track: string; payload: string } };
    const m2 = JSON.parse(String(f.audio('callee', pcm, 0))) as { media: { track: string; chunk: string } };
    expect([m1.media.track, m2.media.track, m2.media.chunk]).toEqual(['inbound', 'outbound', '1']);
    const back = decodeUlaw(Buffer.from(m1.media.payload, 'base64'));
    expect(Math.abs((back[0] ?? 0) - -1000)).toBeLessThan(40);
  });

  test('binary: one track byte (0 caller, 1 callee) before 16-bit little-endian PCM', () => {
    const f = new ListenFrames('binary', call);
    const b = f.audio('callee', pcm, 0) as Buffer;
    expect([b.length, b[0], b.readInt16LE(1)]).toEqual([321, 1, -1000]);
  });
});
