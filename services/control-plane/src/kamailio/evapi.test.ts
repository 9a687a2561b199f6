import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import winston from 'winston';
import { EvapiClient } from './evapi';
import { parseKamailioEvent, type KamailioEvent } from './events';
import { encodeNetstring } from './netstring';

const silent = winston.createLogger({ silent: true });

/** A stand-in for Kamailio's evapi listener that the test writes bytes through. */
class FakeKamailio {
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly waiters: Array<(socket: Socket) => void> = [];

  constructor() {
    this.server = this.createServer();
  }

  private createServer(): Server {
    return createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.waiters.shift()?.(socket);
    });
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(port, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port)),
    );
  }

  nextConnection(): Promise<Socket> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drops every client and stops listening, like a Kamailio restart. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server = this.createServer();
  }
}

function collect(client: EvapiClient, count: number): Promise<KamailioEvent[]> {
  const events: KamailioEvent[] = [];
  return new Promise((resolve) => {
    const onEvent = (e: KamailioEvent): void => {
      events.push(e);
      if (events.length === count) {
        client.off('event', onEvent);
        resolve(events);
      }
    };
    client.on('event', onEvent);
  });
}

const registration = {
  event: 'registration',
  user: 'alice',
  contact: 'sip:alice@127.0.0.1:5062',
  expires: 3600,
  src_ip: '127.0.0.1',
};
const unregister = { ...registration, expires: 0 };
const authFailed = { event: 'auth_failed', user: 'alice', src_ip: '192.0.2.7' };
const locked = { event: 'account_locked', user: 'alice', src_ip: '192.0.2.7' };
const dialogStart = { event: 'dialog_start', callid: 'c1@x', from_user: 'alice', to_user: 'bob', src_ip: '127.0.0.1' };
const dialogEnd = { event: 'dialog_end', callid: 'c1@x', from_user: 'alice', to_user: 'bob' };
const dialogFailed = {
  event: 'dialog_failed',
  callid: 'c2@x',
  from_user: 'alice',
  to_user: 'bob',
  src_ip: '127.0.0.1',
};
const floodBan = { event: 'flood_ban', src_ip: '198.51.100.9' };

// Socket tests fail fast instead of waiting for jest's global timeout.
jest.setTimeout(5000);

describe('evapi client', () => {
  let kamailio: FakeKamailio;
  let client: EvapiClient;
  let port: number;

  beforeEach(async () => {
    kamailio = new FakeKamailio();
    port = await kamailio.listen();
    client = new EvapiClient({ host: '127.0.0.1', port, logger: silent, initialBackoffMs: 20, maxBackoffMs: 100 });
  });

  afterEach(async () => {
    client.close();
    await kamailio.stop();
  });

  test('concatenated and split netstrings → every event once, typed, in order', async () => {
    const connection = kamailio.nextConnection();
    client.start();
    const socket = await connection;
    const all = [registration, unregister, authFailed, locked, dialogStart, dialogEnd, dialogFailed, floodBan];
    const wire = Buffer.concat(all.map((e) => encodeNetstring(JSON.stringify(e))));
    const received = collect(client, all.length);
    // Two frames in the first write, then the rest cut at awkward places.
    const two =
      encodeNetstring(JSON.stringify(registration)).length + encodeNetstring(JSON.stringify(unregister)).length;
    const cuts = [0, two, two + 2, two + 3, two + 40, two + 200, wire.length];
    for (let i = 1; i < cuts.length; i++) {
      socket.write(wire.subarray(cuts[i - 1], cuts[i]));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await received).toEqual(all);
  });

  test('bytes captured from Kamailio 5.6 evapi → registration, unregistration, dialog_start', async () => {
    const connection = kamailio.nextConnection();
    client.start();
    const socket = await connection;
    const received = collect(client, 3);
    socket.write(readFileSync(join(__dirname, 'fixtures', 'evapi-capture.netstrings')));
    const events = await received;
    expect(events.map((e) => e.event)).toEqual(['registration', 'registration', 'dialog_start']);
    expect(events[0]).toMatchObject({ user: 'alice', expires: 3600, src_ip: '127.0.0.1' });
    expect(events[1]).toMatchObject({ expires: 0 });
    expect(events[2]).toEqual({
      event: 'dialog_start',
      callid: 'call-1@test',
      from_user: 'alice',
      to_user: 'bob',
      src_ip: '127.0.0.1',
    });
  });

  test('invalid JSON and unknown events → "invalid", and the stream goes on', async () => {
    const connection = kamailio.nextConnection();
    client.start();
    const socket = await connection;
    const reasons: string[] = [];
    client.on('invalid', (r) => reasons.push(r));
    const received = collect(client, 1);
    socket.write(encodeNetstring('{"event":"registration","contact":"<sip:a@b>;x="y"",'));
    socket.write(encodeNetstring(JSON.stringify({ event: 'reboot' })));
    socket.write(encodeNetstring(JSON.stringify({ ...registration, expires: '3600' })));
    socket.write(encodeNetstring(JSON.stringify(floodBan)));
    expect(await received).toEqual([floodBan]);
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toMatch(/not JSON/);
  });

  test('broken framing → drops the connection and reconnects', async () => {
    const first = kamailio.nextConnection();
    client.start();
    const socket = await first;
    const second = kamailio.nextConnection();
    socket.write('garbage that is not a netstring');
    const again = await second;
    const received = collect(client, 1);
    again.write(encodeNetstring(JSON.stringify(authFailed)));
    expect(await received).toEqual([authFailed]);
  });

  test('Kamailio restarts → disconnected, then reconnected with backoff and events flow again', async () => {
    const first = kamailio.nextConnection();
    const connected = new Promise<void>((r) => client.once('connected', () => r()));
    client.start();
    await first;
    await connected;
    expect(client.connected).toBe(true);

    const disconnected = new Promise<void>((r) => client.once('disconnected', () => r()));
    await kamailio.stop();
    await disconnected;
    expect(client.connected).toBe(false);
    // Let a few reconnect attempts fail against the closed port.
    await new Promise((r) => setTimeout(r, 120));

    const reconnected = new Promise<void>((r) => client.once('connected', () => r()));
    const next = kamailio.nextConnection();
    await kamailio.listen(port);
    const socket = await next;
    await reconnected;
    const received = collect(client, 1);
    socket.write(encodeNetstring(JSON.stringify(dialogStart)));
    expect(await received).toEqual([dialogStart]);
  });

  test('close() while waiting to reconnect → "closed", no timer left, idempotent', async () => {
    await kamailio.stop();
    client.start();
    await new Promise((r) => setTimeout(r, 30));
    const closed = new Promise<void>((r) => client.once('closed', () => r()));
    client.close();
    client.close();
    await closed;
    expect(client.currentState).toBe('closed');
  });
});

describe('kamailio events', () => {
  test('extra fields from a newer kamailio.cfg → dropped', () => {
    expect(parseKamailioEvent(JSON.stringify({ ...floodBan, count: 4 }))).toEqual(floodBan);
  });

  test('registration with negative expires → rejected naming the field', () => {
    expect(() => parseKamailioEvent(JSON.stringify({ ...registration, expires: -1 }))).toThrow(/expires/);
  });

  test('dialog_start without src_ip → rejected; dialog_end without it → accepted', () => {
    const { src_ip: _ignored, ...withoutIp } = dialogStart;
    expect(() => parseKamailioEvent(JSON.stringify(withoutIp))).toThrow(/src_ip/);
    expect(parseKamailioEvent(JSON.stringify(dialogEnd))).toEqual(dialogEnd);
  });
});
