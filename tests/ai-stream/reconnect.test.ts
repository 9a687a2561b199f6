import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { AiStream } from '../../services/media-gateway/src/ai-stream/ai-stream';
import type { WireFrame } from '../../services/media-gateway/src/ai-stream/queue';
import { parseOlibGatewayFrame, type OlibGatewayFrame } from '../../services/common/src/ai-protocol/wire/olib';
import {
  expectHandlesBackTo,
  liveHandles,
  paced,
  Recorder,
  sleep,
  startAgent,
  streamOptions,
  tap,
  toneFrames,
  waitFor,
  type Agent,
} from './support/harness';
import { DIALECTS } from '../../services/common/src/ai-protocol/dialect';

let baseline: Record<string, number>;

beforeEach(() => {
  baseline = liveHandles();
});

afterEach(async () => {
  await expectHandlesBackTo(baseline);
});

function olibAuthFrames(sent: WireFrame[]): OlibGatewayFrame[] {
  return sent.flatMap((w) => {
    if (typeof w !== 'string') return [];
    const parsed = parseOlibGatewayFrame(w);
    return parsed.ok && parsed.frame.type === 'auth' ? [parsed.frame] : [];
  });
}

describe('the AI WebSocket dropping mid-call', () => {
  let agent: Agent;
  beforeEach(async () => {
    agent = await startAgent('echo');
  });
  afterEach(async () => {
    await agent.close();
  });

  test.each(DIALECTS)(
    '%s: server socket killed mid-stream → reconnect within the window, reconnected: true for the same call, audio flows again',
    async (dialect) => {
      const sent: WireFrame[] = [];
      const options = streamOptions(agent.url, dialect, { wsFactory: tap(sent) });
      const stream = new AiStream(options);
      const heard = new Recorder(stream);
      await stream.start();
      await paced(stream, toneFrames(10));
      await waitFor('the first echo', () => heard.samples === 10 * 320);

      const killedAt = Date.now();
      agent.sessions[0]?.terminate();
      await waitFor('the reconnection', () => heard.of('reconnected').length === 1);
      const downFor = Date.now() - killedAt;
      expect(downFor).toBeLessThan(options.reconnect.maxDownMs);
      expect(heard.of('reconnecting')).toEqual([{ kind: 'reconnecting', attempt: 1 }]);

      // The agent saw the same call come back, flagged as a reconnection. (Twilio has no
      // accept message: the stream counts as reconnected when the socket opens, which can
      // be before the agent has read the new `start`.)
      await waitFor('the agent to see the reconnection', () => agent.authenticated.length === 2);
      expect(agent.authenticated.map((a) => [a.callId, a.reconnected])).toEqual([
        [options.call.callId, false],
        [options.call.callId, true],
      ]);
      if (dialect !== 'twilio') {
        expect(
          olibAuthFrames(sent).map((f) => (f.type === 'auth' ? [f.auth.call_id, f.auth.reconnected] : [])),
        ).toEqual([
          [options.call.callId, false],
          [options.call.callId, true],
        ]);
      }

      const before = heard.samples;
      await paced(stream, toneFrames(10));
      await waitFor('the echo after reconnecting', () => heard.samples >= before + 10 * 320);
      if (dialect === 'olib') {
        // Sequence numbers carry on across the reconnection.
        expect(agent.sessions[1]?.stats.lastSequence).toBe(20);
        expect(agent.sessions[1]?.stats.sequenceGaps).toBe(0);
      }
      expect(stream.stats).toMatchObject({ reconnects: 1, connects: 2 });
      await stream.end('caller_hangup');
    },
  );

  test('caller audio sent while the socket is down waits in the bounded queue and is delivered after the reconnect', async () => {
    const stream = new AiStream(
      streamOptions(agent.url, 'olib', { reconnect: { maxDownMs: 3000, initialDelayMs: 300, maxDelayMs: 400 } }),
    );
    const heard = new Recorder(stream);
    await stream.start();
    agent.sessions[0]?.terminate();
    await waitFor('the drop', () => heard.of('reconnecting').length === 1);
    await paced(stream, toneFrames(5));
    await waitFor('the reconnection', () => heard.of('reconnected').length === 1);
    await waitFor('the queued audio echoed', () => heard.samples === 5 * 320);
    expect(agent.sessions[1]?.stats).toMatchObject({ audioFrames: 5, lastSequence: 5, sequenceGaps: 0 });
    expect(stream.stats.framesDropped).toBe(0);
    await stream.end('caller_hangup');
  });

  test('the AI gone for longer than maxDownMs → "down" ai_unreachable after the window, nothing left open', async () => {
    const stream = new AiStream(
      streamOptions(agent.url, 'olib', { reconnect: { maxDownMs: 800, initialDelayMs: 50, maxDelayMs: 200 } }),
    );
    const heard = new Recorder(stream);
    await stream.start();
    const goneAt = Date.now();
    await agent.close();
    await waitFor('down', () => heard.of('down').length === 1, 3000);
    const after = Date.now() - goneAt;
    expect(heard.of('down')).toEqual([{ kind: 'down', reason: 'ai_unreachable' }]);
    expect(after).toBeGreaterThanOrEqual(800 - 100);
    expect(after).toBeLessThan(1500);
    const attempts = heard.of('reconnecting').map((r) => r.attempt);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(attempts).toEqual(attempts.map((_, i) => i + 1));
    expect(heard.of('reconnected')).toEqual([]);
    expect(stream.state).toBe('closed');
    await stream.end('ai_down');
  });
});

describe('an AI that stops answering without closing', () => {
  test('heartbeat: no pong and no frame for two periods → reconnect; the same server then accepts the reconnection', async () => {
    // A bare AI platform that accepts every auth and then says nothing, not even WS pongs.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
    await new Promise((resolve) => wss.once('listening', resolve));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const auths: boolean[] = [];
    wss.on('connection', (ws: WebSocket) => {
      ws.on('message', (data: Buffer) => {
        const parsed = parseOlibGatewayFrame(data.toString('utf8'));
        if (parsed.ok && parsed.frame.type === 'auth') {
          auths.push(parsed.frame.auth.reconnected);
          ws.send(JSON.stringify({ type: 'auth_ok' }));
        }
      });
    });
    const stream = new AiStream(streamOptions(url, 'olib', { heartbeatMs: 100 }));
    const heard = new Recorder(stream);
    await stream.start();
    await waitFor('the heartbeat to give up on the silent socket', () => heard.of('reconnecting').length >= 1, 2000);
    await waitFor('the reconnection', () => heard.of('reconnected').length >= 1, 2000);
    expect(auths.slice(0, 2)).toEqual([false, true]);
    stream.close();
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await sleep(10);
  });
});
