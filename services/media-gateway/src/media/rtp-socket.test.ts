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
});
