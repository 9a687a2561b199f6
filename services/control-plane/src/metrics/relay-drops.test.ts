import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import winston from 'winston';
import type { CallRef, CallStats } from '../../../common/src/media-relay/relay';
import { RelayDropCounter, type RelayCallReader } from './relay-drops';

/** A relay holding calls whose legs have the given error counts. */
class FakeRelay implements RelayCallReader {
  capabilities = { list: true };
  calls = new Map<string, number[]>();
  queried: CallRef[] = [];

  async list(): Promise<string[]> {
    return [...this.calls.keys()];
  }

  async query(call: CallRef): Promise<CallStats> {
    this.queried.push(call);
    const errors = this.calls.get(call.callId) ?? [];
    return {
      callId: call.callId,
      legs: errors.map((e, i) => ({ tag: `tag-${i}`, packets: 10, errors: e })),
      totals: { packets: 10 * errors.length },
    };
  }
}

/** A logger whose JSON lines land in `lines`. */
function memoryLogger(lines: string[]): winston.Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return winston.createLogger({
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
}

async function total(registry: Registry): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith('media_relay_dropped_packets_total '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('media_relay_dropped_packets_total', () => {
  test('counts what each call’s drops grew by between scrapes, queries calls by Call-ID alone and logs the call', async () => {
    const relay = new FakeRelay();
    const registry = new Registry();
    const lines: string[] = [];
    new RelayDropCounter(relay, registry, memoryLogger(lines), 500);

    expect(await total(registry)).toBe(0);
    relay.calls.set('call-a', [0, 0]);
    expect(await total(registry)).toBe(0);
    relay.calls.set('call-a', [100, 0]);
    relay.calls.set('call-b', [3, 2]);
    expect(await total(registry)).toBe(105);
    relay.calls.set('call-a', [120, 0]);
    relay.calls.delete('call-b');
    expect(await total(registry)).toBe(125);
    expect(relay.queried.every((c) => c.fromTag === '')).toBe(true);
    expect(lines.filter((l) => l.includes('media relay dropped packets') && l.includes('call-a'))).toHaveLength(2);
    expect(lines.filter((l) => l.includes('call-b'))).toHaveLength(1);
  });

  test('a relay without list (RTPProxy) → the counter stays 0, nothing queried', async () => {
    const relay = new FakeRelay();
    relay.capabilities = { list: false };
    relay.calls.set('call-a', [5]);
    const registry = new Registry();
    new RelayDropCounter(relay, registry, winston.createLogger({ silent: true }), 500);
    expect(await total(registry)).toBe(0);
    expect(relay.queried).toHaveLength(0);
  });

  test('a relay that does not answer → the scrape still renders, within the timeout', async () => {
    const relay = new FakeRelay();
    relay.list = () => new Promise<string[]>(() => undefined);
    const registry = new Registry();
    new RelayDropCounter(relay, registry, winston.createLogger({ silent: true }), 50);
    const started = Date.now();
    expect(await total(registry)).toBe(0);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
