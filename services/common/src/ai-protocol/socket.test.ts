import { WebSocketServer } from 'ws';
import { createWsSocket, WS_OPEN } from './socket';

describe('createWsSocket', () => {
  test('a string → one text message with the same text (multi-byte too); bytes → a binary message', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const port = (server.address() as { port: number }).port;
    const got: Array<{ text: string; isBinary: boolean }> = [];
    const done = new Promise<void>((resolve) => {
      server.on('connection', (peer) =>
        peer.on('message', (data: Buffer, isBinary) => {
          got.push({ text: isBinary ? data.toString('hex') : data.toString('utf8'), isBinary });
          if (got.length === 2) resolve();
        }),
      );
    });
    const socket = createWsSocket(`ws://127.0.0.1:${port}`, [], {
      headers: {},
      handshakeTimeoutMs: 2000,
      maxPayloadBytes: 1 << 20,
    });
    await new Promise<void>((resolve) => socket.on('open', resolve));
    expect(socket.readyState).toBe(WS_OPEN);
    socket.send('{"type":"sms","data":{"text":"héllo ✓"}}');
    socket.send(new Uint8Array([1, 2, 255]));
    await done;
    expect(got).toEqual([
      { text: '{"type":"sms","data":{"text":"héllo ✓"}}', isBinary: false },
      { text: '0102ff', isBinary: true },
    ]);
    socket.close(1000);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
