import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AuthSecrets } from '../../common/src/ai-auth';
import type { Prompts } from './audio/prompts';
import type { Mode } from './conversation';
import { createAgentDialect, dialectForPath } from './dialects';
import { AgentSession, type SessionLogger } from './session';
import type { SpeakerOptions } from './speaker';

export interface DemoAgentOptions {
  readonly secrets: AuthSecrets;
  readonly defaultMode: Mode;
  readonly prompts: Prompts;
  readonly logger: SessionLogger;
  readonly authTimeoutMs?: number;
  readonly speaker?: SpeakerOptions;
}

export interface DemoAgentEvents {
  session: [session: AgentSession];
}

const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/**
 * The demo agent's WebSocket server: one HTTP listener, the dialect chosen by path
 * (/olib, /twilio, /binary; `/` works it out from the request; anything else is 404),
 * and `GET /health` for probes.  Owns its sessions: close() ends
 * every one of them and the listener.
 */
export class DemoAgentServer extends EventEmitter<DemoAgentEvents> {
  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false });
  private readonly live = new Set<AgentSession>();
  private closing: Promise<void> | undefined;

  constructor(private readonly options: DemoAgentOptions) {
    super();
    this.http = createServer((req, res) => {
      // A probe for supervisors and Kubernetes; everything else here is WebSocket.
      if (req.method === 'GET' && req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', sessions: this.live.size, voice: options.prompts.voice }));
        return;
      }
      res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only: /olib, /twilio or /binary\n');
    });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** Listens; resolves with the base URL (ws://host:port). Port 0 picks a free port. */
  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const failed = (err: Error): void => reject(err);
      this.http.once('error', failed);
      this.http.listen(port, host, () => {
        this.http.off('error', failed);
        const address = this.http.address() as AddressInfo;
        const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`ws://${shownHost}:${address.port}`);
      });
    });
  }

  get sessions(): ReadonlySet<AgentSession> {
    return this.live;
  }

  /** Ends every session and stops listening. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const session of this.live) session.terminate();
      // Sessions already closed may still be in their closing handshake.
      for (const ws of this.wss.clients) ws.terminate();
      this.wss.close();
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
    return this.closing;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const dialect = dialectForPath(new URL(req.url ?? '/', 'http://agent').pathname);
    if (!dialect || this.closing) {
      socket.end(`HTTP/1.1 ${dialect ? 503 : 404} ${dialect ? 'Service Unavailable' : 'Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new AgentSession(ws, createAgentDialect(dialect, req.headers), req.headers, {
        secrets: this.options.secrets,
        defaultMode: this.options.defaultMode,
        prompts: this.options.prompts,
        logger: this.options.logger,
        authTimeoutMs: this.options.authTimeoutMs,
        speaker: this.options.speaker,
      });
      this.live.add(session);
      session.once('closed', () => this.live.delete(session));
      this.emit('session', session);
    });
  }
}
