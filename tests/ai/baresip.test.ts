import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, createUser } from '../support/api';
import { Baresip, crossCorrelate, missingCommand, padded, readWav, speech, writeWav } from '../support/baresip';
import { proxy } from '../support/sip';
import { testStack } from '../support/stack';

// baresip (Debian baresip-core) and espeak-ng come with scripts/bootstrap.sh stack.
const missing = missingCommand('baresip', 'espeak-ng');
if (missing) {
  console.warn(
    `${missing} not on PATH: the baresip call to the demo agent is skipped (apt-get install baresip-core espeak-ng, or scripts/bootstrap.sh stack)`,
  );
}

const RATE = 8000;
const TAIL_SECONDS = 2;

// About one baresip call in a few dozen hears part of its echo garbled (correlation
// about 0.7 instead of the usual 0.92, same delay); the cause is not found yet. One
// more call is allowed, and the failed one is logged with its figures.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

describe('a real SIP phone (baresip) talks to the demo agent in echo mode', () => {
  if (missing) {
    test.skip(`baresip hears its own speech back (${missing} is not installed)`, () => undefined);
    return;
  }

  test('baresip registers, calls the AI number playing espeak-ng speech, and hears it back (cross-correlation ≥ 0.8 at 100-1000 ms)', async () => {
    const stack = testStack();
    const caller = await createUser();
    const number = `+1555779${String(Date.now() % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', {
      role: 'operator',
      body: { number, route_type: 'ai', ai_dialect: 'olib', ai_options: { mode: 'echo' } },
    });
    expect(created.status).toBe(201);

    const dir = mkdtempSync(join(tmpdir(), 'sipai-baresip-'));
    let phone: Baresip | undefined;
    try {
      const spoken = speech(dir, 'Hello, this is a speech echo test, one two three.', RATE);
      const seconds = spoken.samples.length / RATE;
      expect(seconds).toBeGreaterThan(1.5);
      // aufile ends the call at the end of its file: the silence keeps it up for the echo's tail.
      const source = join(dir, 'speech.wav');
      writeWav(source, padded(spoken, TAIL_SECONDS + 1));

      phone = await Baresip.start({
        dir,
        username: caller.username,
        password: caller.password,
        proxy: proxy(stack),
        domain: stack.config.sip.domain,
        source,
      });
      // ctrl_tcp connects after baresip has sent its REGISTER: the stack's own view says when it is in.
      const registered = Date.now() + 10_000;
      let registrations = 0;
      while (registrations === 0) {
        if (Date.now() > registered) throw new Error(`baresip did not register within 10 s:\n${phone.log()}`);
        await new Promise((r) => setTimeout(r, 200));
        const stats = await api<{ registrations: unknown[] | null }>('GET', `/api/sip-users/${caller.id}/stats`, {
          role: 'admin',
        });
        expect(stats.status).toBe(200);
        registrations = stats.body.registrations?.length ?? 0;
      }
      expect(registrations).toBe(1);

      const dialled = await phone.command('dial', number.slice(1));
      expect(dialled).toMatchObject({ ok: true });
      await phone.waitFor((e) => e.type === 'CALL_ESTABLISHED', 10_000, 'CALL_ESTABLISHED');
      await new Promise((r) => setTimeout(r, (seconds + TAIL_SECONDS) * 1000));
      expect(phone.events.find((e) => e.type === 'CALL_CLOSED')).toBeUndefined();
      await phone.command('hangup');
      await phone.waitFor((e) => e.type === 'CALL_CLOSED', 5_000, 'CALL_CLOSED');
      await phone.stop();

      const heard = readWav(phone.received());
      expect(heard.rate).toBe(RATE);
      expect(heard.samples.length / RATE).toBeGreaterThan(seconds);
      const match = crossCorrelate(spoken, heard, 1.5);
      console.log(
        `baresip heard its speech back: peak ${match.peak.toFixed(3)} at ${match.lagMs.toFixed(1)} ms (${seconds.toFixed(2)} s of speech, ${(heard.samples.length / RATE).toFixed(2)} s recorded)`,
      );
      expect(match.peak).toBeGreaterThanOrEqual(0.8);
      expect(match.lagMs).toBeGreaterThanOrEqual(100);
      expect(match.lagMs).toBeLessThanOrEqual(1000);
    } finally {
      await phone?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 45_000);
});
