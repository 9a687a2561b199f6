import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { StreamFramer } from '../../services/common/src/sip/message/parser';
import type { SipMessage, SipResponse } from '../../services/common/src/sip/message/message';

/**
 * A minimal SIP user agent client over one TCP or TLS connection (RFC 3261 §18.2,
 * RFC 5923-style: everything on the connection it opened), for tests that must see
 * the signalling a softphone gets: REGISTER and INVITE with digest authentication
 * (RFC 2617 MD5, qop auth), ACK and BYE along the route set, 200 to BYE.
 */
export interface StreamSipOptions {
  readonly host: string;
  readonly port: number;
  /** TLS with these trusted CAs (PEM); absent: plain TCP. */
  readonly tls?: { readonly ca: string | Buffer; readonly servername?: string };
  readonly username: string;
  readonly password: string;
  readonly domain: string;
}

export interface Dialog {
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string;
  readonly remoteTarget: string;
  readonly routeSet: readonly string[];
  cseq: number;
}

export class StreamSipClient {
  readonly received: SipMessage[] = [];
  private readonly framer = new StreamFramer();
  private waiters: Array<() => void> = [];
  private cseq = 1;

  private constructor(
    private readonly socket: Socket | TLSSocket,
    private readonly options: StreamSipOptions,
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.framer.push(chunk)) {
        if (item.kind !== 'message') continue;
        const msg = item.message;
        if (msg.type === 'request') this.answerRequest(msg);
        else this.received.push(msg);
      }
      this.waiters.splice(0).forEach((wake) => wake());
    });
    socket.on('error', () => undefined);
  }

  static async connect(options: StreamSipOptions): Promise<StreamSipClient> {
    const socket = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      const s = options.tls
        ? tlsConnect(
            {
              host: options.host,
              port: options.port,
              ca: options.tls.ca,
              servername: options.tls.servername,
              rejectUnauthorized: true,
            },
            () => resolve(s),
          )
        : netConnect({ host: options.host, port: options.port }, () => resolve(s));
      s.once('error', reject);
    });
    return new StreamSipClient(socket, options);
  }

  /** The TLS socket, for its certificate and protocol; null over TCP. */
  get tls(): TLSSocket | null {
    return this.options.tls ? (this.socket as TLSSocket) : null;
  }

  private get transport(): string {
    return this.options.tls ? 'TLS' : 'TCP';
  }

  private get local(): string {
    return `${this.socket.localAddress ?? '127.0.0.1'}:${this.socket.localPort ?? 0}`;
  }

  get contact(): string {
    return `<sip:${this.options.username}@${this.local};transport=${this.transport.toLowerCase()}>`;
  }

  /** REGISTER until a final answer, authenticating once; resolves to that answer. */
  async register(expires = 60): Promise<SipResponse> {
    const callId = randomBytes(8).toString('hex');
    const tag = randomBytes(4).toString('hex');
    const aor = `sip:${this.options.username}@${this.options.domain}`;
    const uri = `sip:${this.options.domain}`;
    const headers = (): string[] => [
      `From: <${aor}>;tag=${tag}`,
      `To: <${aor}>`,
      `Call-ID: ${callId}`,
      `Contact: ${this.contact}`,
      `Expires: ${expires}`,
    ];
    return this.authenticated('REGISTER', uri, headers, '');
  }

  /** INVITE `number` with `sdp`; on 2xx sends the ACK and resolves to the answer and the dialog. */
  async invite(user: string, sdp: string): Promise<{ response: SipResponse; dialog: Dialog | null }> {
    const callId = randomBytes(8).toString('hex');
    const fromTag = randomBytes(4).toString('hex');
    const uri = `sip:${user}@${this.options.domain}`;
    const headers = (): string[] => [
      `From: <sip:${this.options.username}@${this.options.domain}>;tag=${fromTag}`,
      `To: <${uri}>`,
      `Call-ID: ${callId}`,
      `Contact: ${this.contact}`,
      'Content-Type: application/sdp',
    ];
    const response = await this.authenticated('INVITE', uri, headers, sdp);
    if (response.status < 200 || response.status >= 300) return { response, dialog: null };
    const toTag = /;tag=([^;>\s]+)/.exec(response.headers.get('To') ?? '')?.[1] ?? '';
    const contact = /<([^>]+)>/.exec(response.headers.get('Contact') ?? '')?.[1] ?? uri;
    const routeSet = response.headers.getAll('Record-Route').reverse();
    const dialog: Dialog = {
      callId,
      fromTag,
      toTag,
      remoteTarget: contact,
      routeSet,
      cseq: Number(/^\d+/.exec(response.headers.get('CSeq') ?? '1')?.[0]),
    };
    this.inDialog(dialog, 'ACK', dialog.cseq);
    return { response, dialog };
  }

  /** BYE within `dialog`; resolves to its final answer. */
  async bye(dialog: Dialog): Promise<SipResponse> {
    dialog.cseq++;
    const branch = this.inDialog(dialog, 'BYE', dialog.cseq);
    return this.finalFor(branch, 10_000);
  }

  close(): void {
    this.socket.destroy();
  }

  private inDialog(dialog: Dialog, method: string, cseq: number): string {
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const lines = [
      `${method} ${dialog.remoteTarget} SIP/2.0`,
      `Via: SIP/2.0/${this.transport} ${this.local};branch=${branch};rport`,
      'Max-Forwards: 70',
      ...dialog.routeSet.map((r) => `Route: ${r}`),
      `From: <sip:${this.options.username}@${this.options.domain}>;tag=${dialog.fromTag}`,
      `To: <sip:${this.options.domain}>;tag=${dialog.toTag}`,
      `Call-ID: ${dialog.callId}`,
      `CSeq: ${cseq} ${method}`,
      'Content-Length: 0',
      '',
      '',
    ];
    this.socket.write(lines.join('\r\n'));
    return branch;
  }

  /** Sends a request; on 401/407 ACKs (INVITE) and sends it again with credentials, once. */
  private async authenticated(
    method: string,
    uri: string,
    headers: () => string[],
    body: string,
  ): Promise<SipResponse> {
    let authorization: string | null = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      const cseq = this.cseq++;
      const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
      const lines = [
        `${method} ${uri} SIP/2.0`,
        `Via: SIP/2.0/${this.transport} ${this.local};branch=${branch};rport`,
        'Max-Forwards: 70',
        ...headers(),
        `CSeq: ${cseq} ${method}`,
        ...(authorization ? [authorization] : []),
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ];
      this.socket.write(lines.join('\r\n'));
      const response = await this.finalFor(branch, 15_000);
      if ((response.status === 401 || response.status === 407) && authorization === null) {
        if (method === 'INVITE') this.ackFailure(uri, branch, response, cseq);
        const header = response.headers.get(response.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate') ?? '';
        authorization = `${response.status === 401 ? 'Authorization' : 'Proxy-Authorization'}: ${this.digest(header, method, uri)}`;
        continue;
      }
      return response;
    }
    throw new Error(`${method} ${uri}: challenged twice`);
  }

  /** RFC 3261 §17.1.1.3: the ACK of a non-2xx answer is part of the INVITE transaction (same branch). */
  private ackFailure(uri: string, branch: string, response: SipResponse, cseq: number): void {
    const lines = [
      `ACK ${uri} SIP/2.0`,
      `Via: SIP/2.0/${this.transport} ${this.local};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: ${response.headers.get('From') ?? ''}`,
      `To: ${response.headers.get('To') ?? ''}`,
      `Call-ID: ${response.headers.get('Call-ID') ?? ''}`,
      `CSeq: ${cseq} ACK`,
      'Content-Length: 0',
      '',
      '',
    ];
    this.socket.write(lines.join('\r\n'));
  }

  private digest(challenge: string, method: string, uri: string): string {
    const param = (name: string): string | undefined => new RegExp(`${name}="?([^",]+)"?`, 'i').exec(challenge)?.[1];
    const realm = param('realm') ?? this.options.domain;
    const nonce = param('nonce') ?? '';
    const qop = param('qop');
    const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
    const ha1 = md5(`${this.options.username}:${realm}:${this.options.password}`);
    const ha2 = md5(`${method}:${uri}`);
    const base = `Digest username="${this.options.username}", realm="${realm}", nonce="${nonce}", uri="${uri}", algorithm=MD5`;
    if (qop && /\bauth\b/.test(qop)) {
      const cnonce = randomBytes(8).toString('hex');
      const nc = '00000001';
      return `${base}, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`)}"`;
    }
    return `${base}, response="${md5(`${ha1}:${nonce}:${ha2}`)}"`;
  }

  private async finalFor(branch: string, ms: number): Promise<SipResponse> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.find(
        (m) => m.type === 'response' && m.status >= 200 && (m.headers.get('Via') ?? '').includes(branch),
      );
      if (found && found.type === 'response') return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.socket.destroyed) {
        throw new Error(
          `no final answer for ${branch} within ${ms} ms; got: ${this.received.map((m) => (m.type === 'response' ? m.status : m.method)).join(', ') || 'nothing'}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Requests from the other side (a BYE from the AI, OPTIONS): 200 OK, echoing the transaction headers. */
  private answerRequest(req: Extract<SipMessage, { type: 'request' }>): void {
    if (req.method === 'ACK') return;
    const copy = (name: string): string[] => req.headers.getAll(name).map((v) => `${name}: ${v}`);
    const lines = [
      'SIP/2.0 200 OK',
      ...req.headers.getAll('Via').map((v) => `Via: ${v}`),
      ...copy('From'),
      `To: ${req.headers.get('To') ?? ''}${/;tag=/.test(req.headers.get('To') ?? '') ? '' : `;tag=${randomBytes(4).toString('hex')}`}`,
      ...copy('Call-ID'),
      ...copy('CSeq'),
      'Content-Length: 0',
      '',
      '',
    ];
    this.socket.write(lines.join('\r\n'));
  }
}
