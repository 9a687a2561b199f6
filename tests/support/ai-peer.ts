import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export type Frame =
  | { kind: 'json'; value: Record<string, unknown> & { type?: string; event?: string }; atMs: number }
  | { kind: 'binary'; value: Buffer; atMs: number };

/** One WebSocket the gateway opened to the test's AI platform. */
export class AiConnection {
  readonly frames: Frame[] = [];
  readonly path: string;
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(
    readonly socket: WebSocket,
    path: string,
  ) {
    this.path = path;
    socket.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      const atMs = performance.now();
      if (isBinary) this.frames.push({ kind: 'binary', value: buf, atMs });
      else
        this.frames.push({
          kind: 'json',
          value: JSON.parse(buf.toString('utf8')) as Frame['value'] & object,
          atMs,
        } as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  json(): Array<Record<string, unknown> & { type?: string; event?: string }> {
    return this.frames.filter((f): f is Extract<Frame, { kind: 'json' }> => f.kind === 'json').map((f) => f.value);
  }

  of(type: string): Array<Record<string, unknown>> {
    return this.json().filter((f) => f.type === type || f.event === type);
  }

  send(value: unknown): void {
    this.socket.send(JSON.stringify(value));
  }

  sendBinary(value: Buffer): void {
    this.socket.send(value, { binary: true });
  }

  /** Resolves once `test` holds for the frames received so far. */
  async waitFor(what: string, test: (c: AiConnection) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this)) {
      if (Date.now() > deadline) throw new Error(`AI peer: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/**
 * The AI platform played by a test: a WebSocket server that accepts the gateway's
 * auth (answering `auth_ok`, or Twilio's nothing), keeps every frame, and lets the
 * test speak, mark, clear and drop the socket.
 */
export class AiPeer {
  readonly connections: AiConnection[] = [];
  private readonly wss: WebSocketServer;
  private waiters: Array<() => void> = [];
  /** When false, new connections are refused (the AI is "down"). */
  accepting = true;

  private constructor(
    private readonly http: Server,
    readonly url: string,
  ) {
    this.wss = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => {
      if (!this.accepting) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const conn = new AiConnection(ws, req.url ?? '/');
        this.connections.push(conn);
        ws.once('message', (data, isBinary) => {
          if (isBinary) return;
          const first = JSON.parse(Buffer.from(data as Buffer).toString('utf8')) as { type?: string; event?: string };
          if (first.type === 'auth') conn.send({ type: 'auth_ok', data: {} });
        });
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  static async start(): Promise<AiPeer> {
    const http = createServer((_req, res) => res.writeHead(426).end());
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    return new AiPeer(http, `ws://127.0.0.1:${port}`);
  }

  async connection(index: number, timeoutMs = 10_000): Promise<AiConnection> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= index) {
      if (Date.now() > deadline) throw new Error(`AI peer: no connection #${index} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.connections[index] as AiConnection;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
