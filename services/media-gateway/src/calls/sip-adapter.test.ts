import { EventEmitter } from 'node:events';
import type { IncomingCall, UserAgent } from '../../../common/src/sip';
import type { CallRequest } from './call';
import { callRequest, routeCalls } from './sip-adapter';

/** The few members of an IncomingCall the adapter reads. */
function incoming(headers: Record<string, string[]> = {}, reject: jest.Mock = jest.fn()) {
  const call = Object.assign(new EventEmitter(), {
    callId: 'c-1',
    from: { uri: 'sip:+4930123@127.0.0.1' },
    to: { uri: '<malformed' },
    headers: new Map(Object.entries(headers)),
    offer: 'v=0',
    pending: true,
    reject,
    progress: jest.fn(),
  });
  return call as typeof call & IncomingCall;
}

describe('callRequest', () => {
  test('an INVITE → the caller and callee users, the route header trimmed, the offer', () => {
    const r = callRequest(incoming({ 'x-route': [' ai-42 '] }));
    expect(r).toMatchObject({ sipCallId: 'c-1', fromUser: '+4930123', toUser: '', route: 'ai-42', offer: 'v=0' });
  });

  test('a 503 (draining, at capacity) → Retry-After, so the caller side waits; other refusals → none', () => {
    const reject = jest.fn();
    const r = callRequest(incoming({}, reject));
    r.reject(503, 'Gateway Shutting Down');
    r.reject(488, 'Not Acceptable Here');
    expect(reject).toHaveBeenNthCalledWith(1, 503, 'Gateway Shutting Down', [['Retry-After', '5']]);
    expect(reject).toHaveBeenNthCalledWith(2, 488, 'Not Acceptable Here', []);
  });

  test('a CANCEL on the INVITE → the call is told', () => {
    const inc = incoming();
    const cancelled = jest.fn();
    callRequest(inc).onCancel(cancelled);
    inc.emit('cancel');
    expect(cancelled).toHaveBeenCalledTimes(1);
  });
});

describe('routeCalls', () => {
  const setup = (handle: (r: CallRequest) => Promise<unknown>) => {
    const ua = new EventEmitter();
    const metrics = { sipRejected: jest.fn() };
    const logger = { warn: jest.fn() };
    routeCalls(ua as unknown as Pick<UserAgent, 'on'>, { calls: { handle }, metrics, logger });
    return { ua, metrics, logger };
  };

  test('an INVITE → handed to the call manager as a CallRequest', () => {
    const handle = jest.fn(() => Promise.resolve());
    const { ua } = setup(handle);
    ua.emit('invite', incoming());
    expect(handle).toHaveBeenCalledWith(expect.objectContaining({ sipCallId: 'c-1' }));
  });

  test('a call setup that throws → logged, the INVITE still unanswered gets 500', async () => {
    const { ua, logger } = setup(() => Promise.reject(new Error('db down')));
    const reject = jest.fn();
    ua.emit('invite', incoming({}, reject));
    await new Promise((resolve) => setImmediate(resolve));
    expect(logger.warn).toHaveBeenCalledWith('call setup failed', { sip_call_id: 'c-1', error: 'db down' });
    expect(reject).toHaveBeenCalledWith(500, 'Gateway Error');
  });

  test('a request the UA refused → counted by reason', () => {
    const { ua, metrics } = setup(() => Promise.resolve());
    ua.emit('refused', { reason: 'not through proxy' });
    expect(metrics.sipRejected).toHaveBeenCalledWith('not through proxy');
  });
});
