import { AiStream } from '../../services/media-gateway/src/ai-stream/ai-stream';
import type { WireFrame } from '../../services/media-gateway/src/ai-stream/queue';
import { parseOlibGatewayFrame, type OlibGatewayFrame } from '../../services/common/src/ai-protocol/wire/olib';
import { parseTwilioGatewayFrame, type TwilioGatewayFrame } from '../../services/common/src/ai-protocol/wire/twilio';
import { Upsampler2x } from '../../services/common/src/audio/resampler';
import {
  bestCorrelation,
  chirpFrames,
  expectHandlesBackTo,
  join,
  liveHandles,
  paced,
  Recorder,
  startAgent,
  streamOptions,
  tap,
  toneFrames,
  waitFor,
  type Agent,
} from './support/harness';
import { DIALECTS } from '../../services/common/src/ai-protocol/dialect';

const FRAMES = 50;

function olibFrames(sent: WireFrame[]): OlibGatewayFrame[] {
  return sent.map((w) => {
    const parsed = parseOlibGatewayFrame(String(w));
    if (!parsed.ok) throw new Error(`not an olib frame: ${parsed.reason}`);
    return parsed.frame;
  });
}

function twilioFrames(sent: WireFrame[]): TwilioGatewayFrame[] {
  return sent.map((w) => {
    const parsed = parseTwilioGatewayFrame(String(w));
    if (!parsed.ok) throw new Error(`not a twilio frame: ${parsed.reason}`);
    return parsed.frame;
  });
}

let agent: Agent;
let baseline: Record<string, number>;

beforeEach(async () => {
  baseline = liveHandles();
  agent = await startAgent('echo');
});

afterEach(async () => {
  await agent.close();
  await expectHandlesBackTo(baseline);
});

describe('a call streamed to the demo agent in echo mode', () => {
  test('olib: auth, 50 frames of 640-byte base64 PCM16 with sequence 1…50, the same audio back, call_end', async () => {
    const sent: WireFrame[] = [];
    const stream = new AiStream(streamOptions(agent.url, 'olib', { wsFactory: tap(sent) }));
    const heard = new Recorder(stream);
    await stream.start();
    const tone = toneFrames(FRAMES);
    await paced(stream, tone);
    await waitFor('the echo', () => heard.samples >= FRAMES * 320);
    await stream.end('caller_hangup');

    const frames = olibFrames(sent);
    expect(frames[0]).toMatchObject({
      type: 'auth',
      auth: { reconnected: false, call_id: expect.stringMatching(/^it-/) },
    });
    const audio = frames.filter((f) => f.type === 'audio_data');
    expect(audio).toHaveLength(FRAMES);
    audio.forEach((f, i) => {
      if (f.type !== 'audio_data') return;
      expect(Buffer.from(f.data.audio, 'base64')).toHaveLength(640);
      expect(f.data.sequence).toBe(i + 1);
    });
    const timestamps = audio.map((f) => (f.type === 'audio_data' ? f.data.timestamp : 0));
    expect(timestamps.every((t, i) => i === 0 || t >= (timestamps[i - 1] as number))).toBe(true);
    expect(frames.at(-1)).toMatchObject({ type: 'call_end', data: { reason: 'caller_hangup' } });

    // The echo is the caller's audio, sample for sample, in frames of 320 samples.
    expect(heard.audio()).toEqual(join(tone));
    expect(heard.of('audio').every((e) => e.pcm.length === 320)).toBe(true);
    const session = agent.sessions[0];
    expect(session?.stats).toMatchObject({
      audioFrames: FRAMES,
      audioBytes: FRAMES * 640,
      sequenceGaps: 0,
      lastSequence: FRAMES,
      badFrames: 0,
      endReason: 'caller_hangup',
    });
    expect(stream.stats).toMatchObject({ framesSent: FRAMES, framesDropped: 0, badFrames: 0, state: 'closed' });
  });

  test('twilio: connected, start, 50 media of 160-byte μ-law, stop; the echo comes back as 16 kHz audio of the same length', async () => {
    const sent: WireFrame[] = [];
    const stream = new AiStream(streamOptions(agent.url, 'twilio', { wsFactory: tap(sent) }));
    const heard = new Recorder(stream);
    await stream.start();
    const tone = chirpFrames(FRAMES);
    await paced(stream, tone);
    await waitFor('the echo', () => heard.samples >= FRAMES * 320);
    await stream.end('caller_hangup');

    const frames = twilioFrames(sent);
    expect(frames.map((f) => f.event)).toEqual(['connected', 'start', ...Array<string>(FRAMES).fill('media'), 'stop']);
    const start = frames[1];
    if (start?.event !== 'start') throw new Error('no start');
    expect(start.start.mediaFormat).toEqual({ encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
    expect(start.start.customParameters).toMatchObject({ mode: 'echo', from: '+15550001', to: '+15550002' });
    frames.slice(2, 2 + FRAMES).forEach((f, i) => {
      if (f.event !== 'media') return;
      expect(Buffer.from(f.media.payload, 'base64')).toHaveLength(160);
      expect(f.media).toMatchObject({ track: 'inbound', chunk: String(i + 1), timestamp: String(i * 20) });
      expect(f.sequenceNumber).toBe(String(i + 2));
    });
    expect(frames.every((f) => f.event === 'connected' || f.streamSid === start.streamSid)).toBe(true);

    // 8 kHz μ-law both ways: same length, same sound, delayed by the two half-band
    // filters (27 samples each at 16 kHz; the decimator's is 13.5 samples at 8 kHz, so ±1).
    const echo = heard.audio();
    expect(echo).toHaveLength(FRAMES * 320);
    const { lag, r } = bestCorrelation(join(tone), echo, 200);
    expect(r).toBeGreaterThan(0.99);
    expect(Math.abs(lag - 2 * Upsampler2x.delay16k)).toBeLessThanOrEqual(1);
    expect(agent.sessions[0]?.stats).toMatchObject({
      audioFrames: FRAMES,
      audioBytes: FRAMES * 160,
      sequenceGaps: 0,
      lastSequence: FRAMES,
      badFrames: 0,
      endReason: 'stop',
    });
  });

  test('binary: 50 binary messages of 640 bytes, JSON control, the same audio back', async () => {
    const sent: WireFrame[] = [];
    const stream = new AiStream(streamOptions(agent.url, 'binary', { wsFactory: tap(sent) }));
    const heard = new Recorder(stream);
    await stream.start();
    const tone = toneFrames(FRAMES);
    await paced(stream, tone);
    await waitFor('the echo', () => heard.samples >= FRAMES * 320);
    await stream.end('caller_hangup');

    const binary = sent.filter((w): w is Uint8Array => typeof w !== 'string');
    expect(binary).toHaveLength(FRAMES);
    expect(binary.every((b) => b.byteLength === 640)).toBe(true);
    const text = olibFrames(sent.filter((w): w is string => typeof w === 'string'));
    expect(text.map((f) => f.type)).toEqual(['auth', 'call_end']);
    expect(heard.audio()).toEqual(join(tone));
    expect(agent.sessions[0]?.stats).toMatchObject({
      audioFrames: FRAMES,
      audioBytes: FRAMES * 640,
      badFrames: 0,
      endReason: 'caller_hangup',
    });
  });

  test.each(DIALECTS)(
    "%s: the agent's marks arrive after the audio before them; acknowledgements reach it with played_ms",
    async (dialect) => {
      const stream = new AiStream(streamOptions(agent.url, dialect));
      const heard = new Recorder(stream);
      await stream.start();
      await paced(stream, toneFrames(FRAMES));
      await waitFor('two echo marks', () => heard.of('mark').length === 2);
      // Echo mode marks every 25 frames: each arrives after exactly 25 more frames of audio.
      expect(heard.of('mark')).toEqual([
        { kind: 'mark', name: 'echo-1', samplesBefore: 25 * 320 },
        { kind: 'mark', name: 'echo-2', samplesBefore: 50 * 320 },
      ]);
      // The gateway acknowledges once that audio has played.
      for (const mark of heard.of('mark')) stream.markPlayed(mark.name, (mark.samplesBefore / 16000) * 1000, false);
      const session = agent.sessions[0];
      await waitFor('the acknowledgements', () => (session?.stats.marksAcked.length ?? 0) === 2);
      expect(session?.stats.marksAcked).toEqual([
        { name: 'echo-1', playedMs: 500, truncated: false },
        { name: 'echo-2', playedMs: 1000, truncated: false },
      ]);
      await stream.end('caller_hangup');
    },
  );

  test.each(DIALECTS)(
    "%s at the agent's base URL (no dialect path): the agent works the dialect out and echoes",
    async (dialect) => {
      const stream = new AiStream({ ...streamOptions(agent.url, dialect), url: agent.url });
      const heard = new Recorder(stream);
      await stream.start();
      await paced(stream, toneFrames(5));
      await waitFor('the echo', () => heard.samples === 5 * 320);
      expect(agent.sessions[0]?.dialect.name).toBe(dialect);
      await stream.end('caller_hangup');
    },
  );
});
