import { isCodedError } from '../../../common/src/errors';
import { registerHangup, type HangupTarget } from './hangup';
import { CommandRegistry } from './registry';

function liveCall(id: string, state = 'active'): HangupTarget & { ends: [string, string][] } {
  const ends: [string, string][] = [];
  return {
    id,
    state,
    ends,
    end: async (reason, by) => {
      ends.push([reason, by]);
    },
  };
}

describe('hangup command', () => {
  test('a live call → ended by api with the reason given; the result names it', async () => {
    const registry = new CommandRegistry();
    const a = liveCall('a');
    const b = liveCall('b');
    registerHangup(registry, () => [a, b]);
    const result = await registry.handler('hangup')!({ id: '1', callId: 'b', args: { reason: 'operator' } });
    expect(result).toEqual({ call_id: 'b', ended: true });
    expect(b.ends).toEqual([['api hangup: operator', 'api']]);
    expect(a.ends).toEqual([]);
  });

  test('no reason → "api hangup: requested"', async () => {
    const registry = new CommandRegistry();
    const a = liveCall('a');
    registerHangup(registry, () => [a]);
    await registry.handler('hangup')!({ id: '1', callId: 'a', args: {} });
    expect(a.ends).toEqual([['api hangup: requested', 'api']]);
  });

  test.each([
    ['unknown call', 'zzz', 'active'],
    ['call already ended', 'a', 'ended'],
  ])('%s → ERR_CALL_NOT_ACTIVE', async (_what, callId, state) => {
    const registry = new CommandRegistry();
    registerHangup(registry, () => [liveCall('a', state)]);
    const err = await registry.handler('hangup')!({ id: '1', callId, args: {} }).catch((e: unknown) => e);
    expect(isCodedError(err) && err.code).toBe('ERR_CALL_NOT_ACTIVE');
  });

  test('a second handler for the same command → TypeError', () => {
    const registry = new CommandRegistry();
    registerHangup(registry, () => []);
    expect(() => registerHangup(registry, () => [])).toThrow(TypeError);
  });
});
