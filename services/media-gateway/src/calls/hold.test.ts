import { CallHold, type HoldSubject } from './hold';
import type { MusicSource } from './media-leg';

type State = 'answering' | 'active' | 'held' | 'ended';

const ANSWER = (direction: string, port = 4000): string =>
  `v=0\r\no=- 1 2 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio ${port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=${direction}\r\n`;

function subject(reply: (sdp: string) => Promise<{ status: number; answer: string | null }>) {
  const log: string[] = [];
  let state: State = 'active';
  const music: MusicSource = { next: () => new Uint8Array(160) };
  const s: HoldSubject & { log: HoldSubject['log'] } = {
    state: () => state,
    transition: (to) => {
      log.push(`state ${to}`);
      state = to;
    },
    setSilent: (silent) => log.push(`silent ${silent}`),
    setMusic: (m) => log.push(m === music ? 'music on' : 'music off'),
    setRemote: (r) => log.push(`remote ${r.address}:${r.port}`),
    reoffer: (direction) => {
      log.push(`offer ${direction}`);
      return `offer ${direction}`;
    },
    reinvite: (sdp) => {
      log.push(`reinvite ${sdp}`);
      return reply(sdp);
    },
    music: () => Promise.resolve(music),
    tellAi: (event, by) => log.push(`ai ${event} ${by}`),
    record: (event, data) => log.push(`record ${event} ${JSON.stringify(data)}`),
    log: { info: () => undefined, warn: () => undefined },
  };
  return { s, log, end: () => (state = 'ended') };
}

describe('CallHold', () => {
  test('hold → re-INVITE sendonly, then music, AI told, recorded; resume → sendrecv, music off, AI told', async () => {
    const { s, log } = subject(async (sdp) => ({
      status: 200,
      answer: ANSWER(sdp.includes('sendonly') ? 'recvonly' : 'sendrecv', 4002),
    }));
    const hold = new CallHold(s);
    await expect(hold.hold('api')).resolves.toEqual({ on_hold: true, held_by: 'gateway', sip_status: 200 });
    expect(hold.heldBy).toBe('gateway');
    expect(hold.pausesAi).toBe(true);
    expect(log).toEqual([
      'offer sendonly',
      'reinvite offer sendonly',
      'remote 10.0.0.9:4002',
      'state held',
      'music on',
      'silent false',
      'ai hold gateway',
      'record hold {"held_by":"gateway","requested_by":"api","answer":"recvonly"}',
    ]);
    log.length = 0;
    await expect(hold.resume('ai')).resolves.toEqual({ on_hold: false, sip_status: 200 });
    expect(log).toEqual([
      'offer sendrecv',
      'reinvite offer sendrecv',
      'remote 10.0.0.9:4002',
      'music off',
      'state active',
      'silent false',
      'ai resume gateway',
      'record resume {"held_by":"gateway","requested_by":"ai"}',
    ]);
    expect(hold.heldBy).toBeNull();
  });

  test('409s: hold twice, resume when not held, anything while a re-INVITE is in flight, a call not active', async () => {
    let release: () => void = () => undefined;
    const { s, end } = subject(
      () => new Promise((r) => (release = () => r({ status: 200, answer: ANSWER('recvonly') }))),
    );
    const hold = new CallHold(s);
    await expect(hold.resume('api')).rejects.toMatchObject({ code: 'ERR_CALL_NOT_ON_HOLD' });
    const first = hold.hold('api');
    await new Promise((r) => setImmediate(r));
    await expect(hold.hold('api')).rejects.toMatchObject({ code: 'ERR_CALL_ON_HOLD' });
    await expect(hold.resume('api')).rejects.toMatchObject({ code: 'ERR_CALL_NOT_ON_HOLD' });
    release();
    await first;
    await expect(hold.hold('ai')).rejects.toMatchObject({ code: 'ERR_CALL_ON_HOLD' });
    end();
    await expect(hold.resume('api')).rejects.toMatchObject({ code: 'ERR_CALL_NOT_ACTIVE' });
  });

  test('a refused re-INVITE leaves the call as it was and says the SIP status; our SDP state is put back', async () => {
    const { s, log } = subject(async () => ({ status: 488, answer: null }));
    const hold = new CallHold(s);
    await expect(hold.hold('api')).rejects.toMatchObject({
      code: 'ERR_CALL_HOLD_FAILED',
      details: { sip_status: 488 },
    });
    expect(hold.heldBy).toBeNull();
    expect(log).toEqual(['offer sendonly', 'reinvite offer sendonly', 'offer sendrecv']);
  });

  test('the caller holding us is told apart: held_by caller, no re-INVITE, and the gateway cannot resume it', async () => {
    const { s, log } = subject(async () => ({ status: 200, answer: ANSWER('recvonly') }));
    const hold = new CallHold(s);
    hold.callerOffer('sendonly');
    expect(hold.heldBy).toBe('caller');
    expect(hold.pausesAi).toBe(false);
    await expect(hold.resume('api')).rejects.toMatchObject({ code: 'ERR_CALL_NOT_ON_HOLD' });
    await expect(hold.hold('api')).rejects.toMatchObject({ code: 'ERR_CALL_ON_HOLD' });
    hold.callerOffer('sendrecv');
    expect(hold.heldBy).toBeNull();
    expect(log).toEqual([
      'state held',
      'silent true',
      'ai hold caller',
      'record hold {"held_by":"caller"}',
      'state active',
      'silent false',
      'ai resume caller',
      'record resume {"held_by":"caller"}',
    ]);
  });

  test("while the gateway holds, the caller's own re-INVITEs only decide whether it hears the music", async () => {
    const { s, log } = subject(async () => ({ status: 200, answer: ANSWER('recvonly') }));
    const hold = new CallHold(s);
    await hold.hold('api');
    log.length = 0;
    hold.callerOffer('inactive');
    hold.callerOffer('sendrecv');
    expect(hold.heldBy).toBe('gateway');
    expect(log).toEqual(['silent true', 'silent false']);
  });
});
