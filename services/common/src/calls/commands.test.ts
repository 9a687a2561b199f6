import { CodedError } from '../errors';
import {
  CommandListener,
  commandFailure,
  listenerSessionName,
  type ClaimedCommand,
  type CommandQueue,
  type CommandResult,
} from './commands';

/** An in-memory queue: claims in order, records outcomes. */
class FakeQueue implements CommandQueue {
  readonly pending: (ClaimedCommand & { gateway: string | null })[] = [];
  readonly finished = new Map<string, { state: string; result: CommandResult }>();
  claims = 0;

  add(
    id: string,
    command: ClaimedCommand['command'],
    gateway: string | null,
    args: Record<string, unknown> = {},
  ): void {
    this.pending.push({ id, callId: `call-${id}`, command, args, gateway });
  }

  async claim(gateway: string, unowned: boolean, limit: number): Promise<ClaimedCommand[]> {
    this.claims++;
    const out: ClaimedCommand[] = [];
    while (out.length < limit) {
      const i = this.pending.findIndex((c) => c.gateway === gateway || (unowned && c.gateway === null));
      if (i < 0) break;
      out.push(this.pending.splice(i, 1)[0]!);
    }
    return out;
  }

  async finish(id: string, state: 'done' | 'failed', result: CommandResult): Promise<void> {
    this.finished.set(id, { state, result });
  }
}

const quiet = { info: () => undefined, warn: () => undefined };

async function settle(queue: FakeQueue, count: number): Promise<void> {
  for (let i = 0; i < 200 && queue.finished.size < count; i++) await new Promise((r) => setTimeout(r, 5));
}

describe('CommandListener', () => {
  test('a registered handler → done with {ok: true, ...its result}', async () => {
    const queue = new FakeQueue();
    queue.add('1', 'hangup', 'gw-a', { reason: 'test' });
    const seen: unknown[] = [];
    const listener = new CommandListener({
      gateway: 'gw-a',
      queue,
      handler: (name) => (name === 'hangup' ? async (cmd) => (seen.push(cmd), { ended: true }) : undefined),
      maxConcurrent: 4,
      takeUnowned: () => true,
      pollMs: 1000,
      logger: quiet,
    });
    listener.start();
    await settle(queue, 1);
    await listener.stop(100);
    expect(seen).toEqual([{ id: '1', callId: 'call-1', args: { reason: 'test' } }]);
    expect(queue.finished.get('1')).toEqual({ state: 'done', result: { ok: true, ended: true } });
  });

  test('no handler for the command → failed ERR_CALL_COMMAND_UNSUPPORTED', async () => {
    const queue = new FakeQueue();
    queue.add('1', 'hold', 'gw-a');
    const listener = new CommandListener({
      gateway: 'gw-a',
      queue,
      handler: () => undefined,
      maxConcurrent: 1,
      takeUnowned: () => true,
      pollMs: 1000,
      logger: quiet,
    });
    listener.start();
    await settle(queue, 1);
    await listener.stop(100);
    expect(queue.finished.get('1')).toMatchObject({
      state: 'failed',
      result: { ok: false, code: 'ERR_CALL_COMMAND_UNSUPPORTED' },
    });
  });

  test('a CodedError → failed with its code, message and details; any other error → ERR_CALL_COMMAND_FAILED without its text', async () => {
    const queue = new FakeQueue();
    queue.add('1', 'hangup', 'gw-a');
    queue.add('2', 'transfer', 'gw-a');
    const warnings: unknown[] = [];
    const listener = new CommandListener({
      gateway: 'gw-a',
      queue,
      handler: (name) =>
        name === 'hangup'
          ? async () => {
              throw new CodedError('ERR_CALL_NOT_ACTIVE', 'call ended', { state: 'ended' });
            }
          : async () => {
              throw new Error('secret internals');
            },
      maxConcurrent: 2,
      takeUnowned: () => true,
      pollMs: 1000,
      logger: { info: () => undefined, warn: (m: string, meta?: object) => warnings.push({ m, meta }) },
    });
    listener.start();
    await settle(queue, 2);
    await listener.stop(100);
    expect(queue.finished.get('1')?.result).toEqual({
      ok: false,
      code: 'ERR_CALL_NOT_ACTIVE',
      message: 'call ended',
      state: 'ended',
    });
    expect(queue.finished.get('2')?.result).toEqual(commandFailure('ERR_CALL_COMMAND_FAILED'));
    expect(JSON.stringify(queue.finished.get('2'))).not.toContain('secret');
    expect(JSON.stringify(warnings)).toContain('secret internals');
  });

  test('bounded concurrency: never more than maxConcurrent handlers at once, all of them run', async () => {
    const queue = new FakeQueue();
    for (let i = 1; i <= 10; i++) queue.add(String(i), 'hangup', 'gw-a');
    let now = 0;
    let peak = 0;
    const listener = new CommandListener({
      gateway: 'gw-a',
      queue,
      handler: () => async () => {
        now++;
        peak = Math.max(peak, now);
        await new Promise((r) => setTimeout(r, 10));
        now--;
        return {};
      },
      maxConcurrent: 3,
      takeUnowned: () => true,
      pollMs: 1000,
      logger: quiet,
    });
    listener.start();
    await settle(queue, 10);
    await listener.stop(100);
    expect(queue.finished.size).toBe(10);
    expect(peak).toBe(3);
  });

  test('takeUnowned false (draining) → its own commands still run, unowned ones stay for another gateway', async () => {
    const queue = new FakeQueue();
    queue.add('1', 'originate', null);
    queue.add('2', 'hangup', 'gw-a');
    queue.add('3', 'hangup', 'gw-b');
    const listener = new CommandListener({
      gateway: 'gw-a',
      queue,
      handler: () => async () => ({}),
      maxConcurrent: 4,
      takeUnowned: () => false,
      pollMs: 1000,
      logger: quiet,
    });
    listener.start();
    await settle(queue, 1);
    await listener.stop(100);
    expect([...queue.finished.keys()]).toEqual(['2']);
    expect(queue.pending.map((c) => c.id)).toEqual(['1', '3']);
  });

  test('stopped → claims nothing more, even when woken', async () => {
    const queue = new FakeQueue();
    const listener = new CommandListener({
      gateway: 'gw-a',
      queue,
      handler: () => async () => ({}),
      maxConcurrent: 1,
      takeUnowned: () => true,
      pollMs: 1000,
      logger: quiet,
    });
    listener.start();
    await listener.stop(100);
    const before = queue.claims;
    queue.add('1', 'hangup', 'gw-a');
    listener.wake();
    await new Promise((r) => setTimeout(r, 20));
    expect(queue.claims).toBe(before);
    expect(queue.finished.size).toBe(0);
  });
});

describe('listenerSessionName', () => {
  test('fits PostgreSQL application_name (63 bytes), prefix kept', () => {
    expect(listenerSessionName('gw-1')).toBe('call-commands:gw-1');
    expect(listenerSessionName('x'.repeat(128))).toHaveLength(63);
  });
});
