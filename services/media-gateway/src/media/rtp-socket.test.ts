import { createSocket } from 'node:dgram';
import { PortAllocator } from './rtp-socket';

describe('PortAllocator', () => {
  test('even ports from the range, round-robin, skipping ports another process holds', async () => {
    const blocker = createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(39202, '127.0.0.1', r));
    const ports = new PortAllocator(39200, 39209);
    const a = await ports.open('127.0.0.1');
    const b = await ports.open('127.0.0.1');
    expect(a.localPort).toBe(39200);
    expect(b.localPort).toBe(39204);
    a.close();
    const c = await ports.open('127.0.0.1');
    expect(c.localPort).toBe(39206);
    b.close();
    c.close();
    blocker.close();
  });

  test('exhausted range → a clear error; released ports come back', async () => {
    const ports = new PortAllocator(39220, 39223);
    const a = await ports.open('127.0.0.1');
    const b = await ports.open('127.0.0.1');
    await expect(ports.open('127.0.0.1')).rejects.toThrow(/no free RTP port in 39220-39223/);
    a.close();
    a.close();
    const c = await ports.open('127.0.0.1');
    expect(c.localPort).toBe(39220);
    b.close();
    c.close();
  });

  test('datagrams in and out through the socket', async () => {
    const ports = new PortAllocator(39240, 39249);
    const rtp = await ports.open('127.0.0.1');
    const peer = createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    const got = new Promise<Buffer>((resolve) => rtp.onDatagram((d) => resolve(d)));
    peer.send(Buffer.from('hello'), rtp.localPort, '127.0.0.1');
    expect((await got).toString()).toBe('hello');
    const back = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    rtp.send(Buffer.from('back'), peer.address().port, '127.0.0.1');
    expect((await back).toString()).toBe('back');
    rtp.close();
    peer.close();
  });

  test('a datagram from the remote it sends to → connected (latched): later sends reach it, strangers are dropped, a new remote is followed', async () => {
    const ports = new PortAllocator(39260, 39269);
    const rtp = await ports.open('127.0.0.1');
    const open = async () => {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return s;
    };
    const relay = await open();
    const stranger = await open();
    const moved = await open();
    const got: string[] = [];
    rtp.onDatagram((d) => got.push(d.toString()));
    const isConnected = (): boolean => (rtp as unknown as { connected: boolean }).connected;
    const until = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    };

    const relayGot: string[] = [];
    relay.on('message', (m) => relayGot.push(m.toString()));
    rtp.send(Buffer.from('first'), relay.address().port, '127.0.0.1');
    expect(isConnected()).toBe(false);
    relay.send(Buffer.from('from relay'), rtp.localPort, '127.0.0.1');
    await until(isConnected);
    expect(isConnected()).toBe(true);
    rtp.send(Buffer.from('second'), relay.address().port, '127.0.0.1');
    await until(() => relayGot.length === 2);
    expect(relayGot).toEqual(['first', 'second']);

    stranger.send(Buffer.from('injected'), rtp.localPort, '127.0.0.1');
    relay.send(Buffer.from('again'), rtp.localPort, '127.0.0.1');
    await until(() => got.length === 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['from relay', 'again']);

    const movedGot = new Promise<string>((resolve) => moved.once('message', (m) => resolve(m.toString())));
    rtp.send(Buffer.from('re-invited'), moved.address().port, '127.0.0.1');
    expect(isConnected()).toBe(false);
    expect(await movedGot).toBe('re-invited');
    rtp.close();
    for (const s of [relay, stranger, moved]) s.close();
  });
});
