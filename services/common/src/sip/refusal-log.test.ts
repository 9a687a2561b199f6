import { RefusalLog } from './refusal-log';

describe('RefusalLog', () => {
  test('a flood from one source → one line per window, the next saying how many were left out; other sources log at once', () => {
    const lines: Array<{ message: string; meta: Record<string, unknown> }> = [];
    const logger = {
      debug: jest.fn(),
      info: jest.fn(),
      error: jest.fn(),
      warn: (message: string, meta: Record<string, unknown>) => void lines.push({ message, meta }),
    };
    let now = 0;
    const log = new RefusalLog(logger as never, 'SIP request refused', 10_000, 1024, () => now);
    const from = (address: string) => ({
      method: 'INVITE',
      callId: 'c',
      reason: 'no_proof',
      from: `udp:${address}:5060`,
      address,
    });
    for (let i = 0; i < 500; i++) log.log(from('127.0.0.7'));
    log.log(from('127.0.0.8'));
    now = 10_000;
    log.log(from('127.0.0.7'));
    expect(lines.map((l) => [l.meta['from'], l.meta['suppressed_since_last']])).toEqual([
      ['udp:127.0.0.7:5060', undefined],
      ['udp:127.0.0.8:5060', undefined],
      ['udp:127.0.0.7:5060', 499],
    ]);
    expect(lines[0]).toEqual({
      message: 'SIP request refused',
      meta: { method: 'INVITE', callId: 'c', reason: 'no_proof', from: 'udp:127.0.0.7:5060' },
    });
  });
});
