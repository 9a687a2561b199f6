import { AiStream } from '../../services/media-gateway/src/ai-stream/ai-stream';
import {
  expectHandlesBackTo,
  liveHandles,
  paced,
  Recorder,
  sleep,
  startAgent,
  streamOptions,
  toneFrames,
  waitFor,
  type Agent,
} from './support/harness';
import { DIALECTS } from '../../services/common/src/ai-protocol/dialect';

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

const ms = (samples: number): number => (samples / 16000) * 1000;

describe('talking with the demo agent', () => {
  test.each(DIALECTS)(
    '%s greeting: the whole greeting, then its mark; acknowledged, the agent starts echoing',
    async (dialect) => {
      const stream = new AiStream(
        streamOptions(agent.url, dialect, {
          call: { ...streamOptions(agent.url, dialect).call, customParameters: { mode: 'greeting' } },
        }),
      );
      const heard = new Recorder(stream);
      await stream.start();
      await waitFor('the greeting mark', () => heard.of('mark').length === 1);
      const [mark] = heard.of('mark');
      expect(mark).toEqual({ kind: 'mark', name: 'greeting', samplesBefore: agent.prompts.greeting.length });
      if (dialect !== 'twilio') expect(heard.of('text')[0]?.text).toMatch(/^Hello, this is the demo agent/);
      stream.markPlayed('greeting', ms(agent.prompts.greeting.length), false);
      await waitFor('the acknowledgement', () => agent.sessions[0]?.stats.marksAcked.length === 1);
      expect(agent.sessions[0]?.stats.marksAcked[0]).toEqual({
        name: 'greeting',
        playedMs: Math.round(ms(agent.prompts.greeting.length)),
        truncated: false,
      });
      const before = heard.samples;
      await paced(stream, toneFrames(10));
      await waitFor('the echo after the greeting', () => heard.samples >= before + 10 * 320);
      await stream.end('caller_hangup');
    },
  );

  test.each(DIALECTS)(
    '%s barge-in: a key during the menu → clear before any of the new prompt, then "you pressed", then its mark',
    async (dialect) => {
      const stream = new AiStream(
        streamOptions(agent.url, dialect, {
          call: { ...streamOptions(agent.url, dialect).call, customParameters: { mode: 'dtmf-menu' } },
        }),
      );
      const heard = new Recorder(stream);
      await stream.start();
      await waitFor('the menu to start playing', () => heard.samples > 0);
      stream.sendDtmf('5', 120);
      await waitFor('the pressed-5 mark', () => heard.of('mark').some((m) => m.name === 'pressed-5'));
      const [clear] = heard.of('clear');
      expect(clear).toBeDefined();
      // Nothing of the menu's mark: it had not been sent when the key came.
      expect(heard.of('mark').map((m) => m.name)).toEqual(['pressed-5']);
      // Everything after the clear is the "pressed 5" prompt, and its mark comes after all of it.
      const pressed = heard.of('mark')[0]?.samplesBefore as number;
      expect(pressed - (clear?.samplesBefore as number)).toBe(agent.prompts.pressed('5').length);
      const entries = heard.entries.map((e) => e.kind);
      expect(entries.indexOf('clear')).toBeLessThan(entries.lastIndexOf('audio'));
      if (dialect !== 'twilio')
        expect(heard.of('text').map((t) => t.text)).toEqual([
          'Demo menu. Press any key on your phone.',
          'You pressed 5.',
        ]);
      expect(agent.sessions[0]?.stats.dtmf).toEqual(['5']);
      await stream.end('caller_hangup');
    },
  );

  test('a mark cut short by barge-in is acknowledged truncated with what was really played', async () => {
    const stream = new AiStream(
      streamOptions(agent.url, 'olib', {
        call: { ...streamOptions(agent.url, 'olib').call, customParameters: { mode: 'greeting' } },
      }),
    );
    const heard = new Recorder(stream);
    await stream.start();
    // The agent sends ahead of real time: the greeting's mark arrives before the greeting has played.
    await waitFor('the greeting mark', () => heard.of('mark').length === 1);
    stream.sendDtmf('1', 100);
    await waitFor('the clear', () => heard.of('clear').length === 1);
    stream.markPlayed('greeting', 410, true);
    await waitFor('the acknowledgement', () => agent.sessions[0]?.stats.marksAcked.length === 1);
    expect(agent.sessions[0]?.stats.marksAcked).toEqual([{ name: 'greeting', playedMs: 410, truncated: true }]);
    await stream.end('caller_hangup');
  });

  test('flow control: while the gateway reports a full playout queue the agent holds its speech, then finishes it', async () => {
    const stream = new AiStream(
      streamOptions(agent.url, 'olib', {
        call: { ...streamOptions(agent.url, 'olib').call, customParameters: { mode: 'greeting' } },
        queue: { maxBufferedMs: 1000, playoutPauseMs: 3000, playoutResumeMs: 500 },
      }),
    );
    const heard = new Recorder(stream);
    await stream.start();
    stream.reportPlayoutDepth(3500);
    await sleep(1500);
    // Only what the agent sent before `flow: paused` reached it (its 300 ms lead, give or take a chunk).
    expect(ms(heard.samples)).toBeLessThan(ms(agent.prompts.greeting.length));
    expect(heard.of('mark')).toEqual([]);
    stream.reportPlayoutDepth(200);
    await waitFor('the rest of the greeting', () => heard.of('mark').length === 1);
    expect(heard.samples).toBe(agent.prompts.greeting.length);
    await stream.end('caller_hangup');
  });

  test('hold: no echo while on hold; resume brings it back', async () => {
    const stream = new AiStream(streamOptions(agent.url, 'olib'));
    const heard = new Recorder(stream);
    await stream.start();
    stream.sendEvent({ type: 'hold' });
    await paced(stream, toneFrames(10));
    await sleep(400);
    expect(heard.samples).toBe(0);
    stream.sendEvent({ type: 'resume' });
    await paced(stream, toneFrames(10));
    await waitFor('the echo after resume', () => heard.samples === 10 * 320);
    await stream.end('caller_hangup');
  });

  test('sms: an inbound message reaches the agent, its reply comes back addressed to the sender', async () => {
    const stream = new AiStream(streamOptions(agent.url, 'olib'));
    const heard = new Recorder(stream);
    await stream.start();
    stream.sendEvent({ type: 'sms', messageId: 'sms-42', from: '+15550001', to: '+15550002', text: 'are you there?' });
    await waitFor('the reply', () => heard.of('sms').length === 1);
    expect(heard.of('sms')).toEqual([
      { kind: 'sms', text: 'Demo agent got your message: are you there?', to: '+15550001', inReplyTo: 'sms-42' },
    ]);
    await stream.end('caller_hangup');
  });

  test('heartbeat: a quiet call stays up on pings alone', async () => {
    const stream = new AiStream(streamOptions(agent.url, 'olib', { heartbeatMs: 100 }));
    const heard = new Recorder(stream);
    await stream.start();
    await sleep(1000);
    expect(stream.state).toBe('open');
    expect(heard.entries).toEqual([]);
    await stream.end('caller_hangup');
  });

  test('the agent hanging up → hangup event with its reason, then the socket closes without a reconnect', async () => {
    const stream = new AiStream(streamOptions(agent.url, 'olib'));
    const heard = new Recorder(stream);
    await stream.start();
    agent.sessions[0]?.hangup('demo_over');
    await waitFor('the hangup', () => heard.of('hangup').length === 1);
    expect(heard.of('hangup')).toEqual([{ kind: 'hangup', reason: 'demo_over' }]);
    await stream.end('ai_hangup');
    expect(heard.of('reconnecting')).toEqual([]);
  });
});
