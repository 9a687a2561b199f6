import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AuthSecrets } from '../../common/src/ai-protocol/auth';
import type { Prompts } from './audio/prompts';
import type { Mode } from './conversation';
import { createAgentDialect, dialectForPath } from './dialects';
import { AgentSession, type SessionLogger } from './session';
import { answerSmsWebhook, SmsStats } from './sms';
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
/** An SMS body is at most a few KiB of text; anything far bigger is not an SMS. */
const MAX_WEBHOOK_BODY_BYTES = 64 * 1024;

/**
 * The demo agent's WebSocket server: one HTTP listener, the dialect chosen by path
 * (/olib, /twilio, /binary; `/` works it out from the request; anything else is 404),
 * `GET /health` for probes and `POST /sms`, the SMS webhook. Owns its sessions: close()
 * ends every one of them and the listener.
 */
export class DemoAgentServer extends EventEmitter<DemoAgentEvents> {
  private readonly http: Server;
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD_BYTES,
    perMessageDeflate: false,
  });
  private readonly live = new Set<AgentSession>();
  /** every SMS received: SMS sessions, the webhook, and `sms` frames in calls */
  readonly smsStats = new SmsStats();
  private closing: Promise<void> | undefined;

  constructor(private readonly options: DemoAgentOptions) {
    super();
    this.http = createServer((req, res) => {
      // A probe for supervisors and Kubernetes; everything else here is WebSocket.
      if (req.method === 'GET' && req.url === '/health') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: 'ok', sessions: this.live.size, voice: options.prompts.voice }));
        return;
      }
      if (new URL(req.url ?? '/', 'http://agent').pathname === '/sms') {
        this.smsWebhook(req, res);
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

  private smsWebhook(req: IncomingMessage, res: ServerResponse): void {
    const json = (status: number, body: object, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST') {
      json(405, { error: { code: 'ERR_METHOD_NOT_ALLOWED', message: 'POST an sms' } }, { allow: 'POST' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_WEBHOOK_BODY_BYTES) chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (size > MAX_WEBHOOK_BODY_BYTES) {
        json(413, { error: { code: 'ERR_BAD_REQUEST', message: `the body is over ${MAX_WEBHOOK_BODY_BYTES} bytes` } });
        return;
      }
      void answerSmsWebhook(this.options.secrets, req.headers, Buffer.concat(chunks)).then((answer) => {
        if (answer.sms) this.smsStats.record({ ...answer.sms, transport: 'webhook' });
        else
          this.options.logger.warn('demo-agent: SMS webhook refused', {
            status: answer.status,
            code: 'error' in answer.body ? answer.body.error.code : undefined,
          });
        json(answer.status, answer.body);
      });
    });
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const dialect = dialectForPath(new URL(req.url ?? '/', 'http://agent').pathname);
    if (!dialect || this.closing) {
      socket.end(
        `HTTP/1.1 ${dialect ? 503 : 404} ${dialect ? 'Service Unavailable' : 'Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
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
      session.on('sms', (sms) => this.smsStats.record(sms));
      session.once('closed', () => this.live.delete(session));
      this.emit('session', session);
    });
  }
}
