import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { ACCEPTED_TYPES, ALLOWED_METHODS, dialogKey, type DialogHandle, type UaContext } from './dialog/context';
import type { Dialog } from './dialog/dialog';
import { IncomingCall, newTag } from './dialog/incoming-call';
import { OutgoingCall, type InviteOptions } from './dialog/outgoing-call';
import { SipError } from './errors';
import { SILENT_LOGGER, type SipLogger } from './logger';
import { callIdOf, cseqOf, fromTagOf, toTagOf, type SipRequest } from './message/message';
import { createResponse } from './message/response';
import { TransactionLayer, type ServerTransaction } from './transaction/layer';
import type { ServerInviteTransaction } from './transaction/server-invite';
import { timerValues, type TimerOverrides, type TimerValues } from './transaction/timers';
import { RefusalLog } from './refusal-log';
import { NetworkTransport } from './transport/network';
import { systemResolver, type HostResolver } from './transport/resolve';
import type { MessageSource, SipTransport, TransportProtocol } from './transport/transport';

/** Methods we know but do not serve here: 405 with Allow (§8.2.1). Anything else unknown: 501. */
const KNOWN_METHODS = new Set(['REGISTER', 'SUBSCRIBE', 'PUBLISH', 'MESSAGE', 'UPDATE', 'PRACK', 'REFER']);
/** Request-URI schemes we take (§8.2.2.1: others get 416). tel: comes from trunks unchanged by Kamailio. */
const URI_SCHEMES = new Set(['sip', 'sips', 'tel']);

export interface UserAgentOptions {
  /** Address to bind (an IP address). */
  readonly host: string;
  /** Port for UDP and TCP; 0 picks a free one (see {@link UserAgent.port}). */
  readonly port: number;
  readonly transports: ReadonlyArray<TransportProtocol>;
  /** Host written in Contact and Via (defaults to `host`); set it when binding 0.0.0.0. */
  readonly contactHost?: string;
  /** User part of our Contact (default `gw`). */
  readonly contactUser?: string;
  /** Server / User-Agent header value. */
  readonly userAgent?: string;
  readonly logger?: SipLogger;
  readonly timers?: TimerOverrides;
  /** Concurrent calls (ringing + answered) above which INVITEs get 503 (default: no cap). */
  readonly maxCalls?: number;
  /** Retry-After, in seconds, on our 503s (default 5). */
  readonly retryAfterSeconds?: number;
  /** An INVITE not answered by the application within this time gets 480 (default 3 min, like Timer C). */
  readonly ringTimeoutMs?: number;
  /** How long a REFER waits for the NOTIFY with its outcome (default 64·T1). */
  readonly referTimeoutMs?: number;
  /** Host name resolution for next hops (default: the system resolver). */
  readonly resolver?: HostResolver;
  /** A transport to use instead of binding sockets (tests); `port` is then only written in Contact and Via. */
  readonly transport?: SipTransport;
  /** Who may reach the core (default: anyone); see {@link RequestAdmission}. */
  readonly admission?: RequestAdmission;
}

/** Whether a request may reach the UA core; `reason` labels the refusal (log line, metric). */
export type AdmissionVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Decides which requests the UA serves (the gateway: only what carries Kamailio's
 * proof, see proxy-proof.ts). Refused requests get `403 <refusalReason>` (an ACK,
 * which has no response, is dropped) and a 'refused' event. Never asked about:
 * OPTIONS, which creates nothing and is how Kamailio's dispatcher probes us without
 * a proof; CANCEL, which Kamailio's tm builds from the INVITE (hop by hop, §9.1) and
 * which is taken only from the address the INVITE it cancels came from.
 */
export interface RequestAdmission {
  admit(req: SipRequest, source: MessageSource): AdmissionVerdict;
  /** Reason phrase of the 403. */
  readonly refusalReason: string;
}

/** A request the admission refused. */
export interface RefusedRequest {
  readonly method: string;
  readonly callId: string;
  readonly reason: string;
  readonly source: MessageSource;
}

type Events = { invite: [call: IncomingCall]; refused: [refused: RefusedRequest] };

/**
 * The gateway's SIP user agent (RFC 3261 UAS core, §8.2): answers the INVITEs
 * Kamailio routes to it and the OPTIONS its dispatcher probes with, and owns the
 * transport, the transactions, the calls and dialogs. Listen on 'invite' and answer
 * each {@link IncomingCall}; without a listener, over `maxCalls`, or while closing,
 * INVITEs get 503 with Retry-After so Kamailio fails over to another gateway.
 */
export class UserAgent extends EventEmitter<Events> {
  private readonly opts: UserAgentOptions;
  private readonly logger: SipLogger;
  private readonly timers: TimerValues;
  private transport: SipTransport | undefined;
  private layer: TransactionLayer | undefined;
  private boundPort: number;
  private readonly calls = new Set<IncomingCall>();
  private readonly outgoing = new Set<OutgoingCall>();
  private readonly dialogs = new Map<string, Dialog>();
  private readonly invites = new Map<ServerInviteTransaction, { tag: string; onCancel: () => void }>();
  /** §8.2.2.2: Call-ID, From tag and CSeq of INVITEs in progress, to spot merged requests. */
  private readonly inProgress = new Map<string, ServerInviteTransaction>();
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly refusals: RefusalLog;

  constructor(opts: UserAgentOptions) {
    super();
    if (!opts.transport && isIP(opts.host) === 0) throw new TypeError(`host must be an IP address, got "${opts.host}"`);
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
      throw new TypeError(`bad port ${opts.port}`);
    if (opts.transports.length === 0 || opts.transports.some((t) => t !== 'udp' && t !== 'tcp'))
      throw new TypeError('transports must list udp and/or tcp');
    this.opts = opts;
    this.logger = opts.logger ?? SILENT_LOGGER;
    this.timers = timerValues(opts.timers);
    this.boundPort = opts.port;
    this.refusals = new RefusalLog(this.logger, 'SIP request refused');
  }

  /** The port we listen on (known after start() when 0 was asked for). */
  get port(): number {
    return this.boundPort;
  }

  /** Calls ringing (both ways) plus dialogs confirmed. */
  get activeCalls(): number {
    let confirmed = 0;
    for (const d of this.dialogs.values()) if (d.state === 'confirmed') confirmed++;
    return this.calls.size + this.outgoing.size + confirmed;
  }

  /**
   * Places a call (RFC 3261 §13.2): the INVITE with our offer goes out on the next
   * tick; see {@link OutgoingCall} for what follows. Bad options are TypeErrors and a
   * UA not started is an error (thrown); while closing, the call fails with 503.
   */
  invite(options: InviteOptions): OutgoingCall {
    if (this.closing) {
      const call = new OutgoingCall(this.context, options, { settled: () => undefined });
      void Promise.resolve().then(() => call.abort());
      return call;
    }
    const call = new OutgoingCall(this.context, options, { settled: (c) => this.outgoing.delete(c) });
    this.outgoing.add(call);
    void call.start();
    return call;
  }

  /** Live transactions (for tests and metrics). */
  get transactions(): { server: number; client: number } {
    return this.layer?.counts ?? { server: 0, client: 0 };
  }

  /** Binds the transports; idempotent. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  /**
   * Stops taking calls (new INVITEs and OPTIONS get 503), refuses ringing calls with
   * 503, sends BYE on every confirmed dialog and waits for the answers (at most
   * 64·T1), then closes the transactions and sockets. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doStart(): Promise<void> {
    if (this.closing) throw new SipError('ERR_SIP_UA_CLOSED');
    if (this.opts.transport) {
      this.transport = this.opts.transport;
    } else {
      const network = new NetworkTransport({
        host: this.opts.host,
        port: this.opts.port,
        protocols: this.opts.transports,
        logger: this.logger,
      });
      this.boundPort = await network.start();
      this.transport = network;
    }
    this.layer = new TransactionLayer({
      transport: this.transport,
      timers: this.timers,
      logger: this.logger,
      tu: { onRequest: (req, txn) => this.onRequest(req, txn), onAck: (req, source) => this.onAck(req, source) },
    });
    this.logger.info('SIP user agent listening', {
      host: this.opts.host,
      port: this.boundPort,
      transports: this.opts.transports,
    });
  }

  private async doClose(): Promise<void> {
    await this.starting?.catch(() => undefined);
    for (const call of [...this.calls]) call.abort(503, 'Service Unavailable');
    const placing = [...this.outgoing].map((call) => {
      call.abort();
      return call.result.then(() => undefined);
    });
    const byes = [...this.dialogs.values()].map((d) => d.close().catch(() => undefined));
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...byes, ...placing]),
      new Promise<void>((resolve) => (deadline = setTimeout(resolve, 64 * this.timers.t1))),
    ]);
    clearTimeout(deadline);
    // Whatever did not finish in time (no ACK yet, no answer to BYE or CANCEL) is dropped without more signalling.
    for (const call of [...this.outgoing]) call.shutdown();
    for (const d of [...this.dialogs.values()]) d.shutdown();
    this.layer?.close();
    await this.transport?.close();
    this.dialogs.clear();
    this.invites.clear();
    this.inProgress.clear();
    this.removeAllListeners();
    this.logger.info('SIP user agent closed');
  }

  // ---- UAS core (§8.2) ----

  private onRequest(req: SipRequest, txn: ServerTransaction): void {
    try {
      this.route(req, txn);
    } catch (err) {
      this.logger.error('SIP request handling failed', {
        method: req.method,
        callId: req.headers.get('Call-ID'),
        err: (err as Error).message,
      });
      txn.respond(createResponse(req, 500, { toTag: newTag(), headers: [['Server', this.userAgentName]] }));
    }
  }

  private route(req: SipRequest, txn: ServerTransaction): void {
    const reply = (status: number, headers: Array<[string, string]> = [], reason?: string): void => {
      txn.respond(
        createResponse(req, status, {
          toTag: this.tagFor(txn),
          headers: [...headers, ['Server', this.userAgentName]],
          ...(reason === undefined ? {} : { reason }),
        }),
      );
    };
    const allow: [string, string] = ['Allow', ALLOWED_METHODS.join(', ')];
    if (!this.admitted(req, txn.source)) return reply(403, [], this.opts.admission?.refusalReason);
    // Max-Forwards 0 is answered 483 whatever the method (OPTIONS included: §11 leaves it to us).
    if (req.headers.get('Max-Forwards')?.trim() === '0') return reply(483);
    // §8.2.1: methods we do not serve.
    if (!(ALLOWED_METHODS as readonly string[]).includes(req.method))
      return reply(KNOWN_METHODS.has(req.method) ? 405 : 501, [allow]);
    // §8.2.2.1: Request-URI scheme.
    const scheme = req.uri.slice(0, Math.max(0, req.uri.indexOf(':'))).toLowerCase();
    if (!URI_SCHEMES.has(scheme)) return reply(416);
    if (req.method === 'CANCEL') return this.onCancel(req, txn);
    // §8.2.2.3: we support no extensions, so any Require is unsupported.
    const required = req.headers.getAll('Require');
    if (required.length > 0) return reply(420, [['Unsupported', required.join(', ')]]);

    const toTag = toTagOf(req);
    if (toTag !== null) {
      // §12.2.2: inside a dialog, or a dialog we no longer know.
      const dialog = this.dialogs.get(dialogKey(callIdOf(req), toTag, fromTagOf(req) ?? ''));
      if (!dialog) return reply(481);
      dialog.handleRequest(req, txn);
      return;
    }
    switch (req.method) {
      case 'INVITE':
        return this.onInvite(req, txn as ServerInviteTransaction, reply);
      case 'OPTIONS':
        // §11.2; while closing, 503 tells Kamailio's dispatcher to stop sending us calls.
        if (this.closing) return reply(503, [['Retry-After', String(this.retryAfter)]]);
        return reply(200, [
          allow,
          ['Accept', ACCEPTED_TYPES.join(', ')],
          ['Accept-Encoding', 'identity'],
          ['Accept-Language', 'en'],
        ]);
      default:
        // §15.1.2 (BYE) and §12.2.2: a request for a dialog that does not exist.
        return reply(481);
    }
  }

  private onInvite(
    req: SipRequest,
    txn: ServerInviteTransaction,
    reply: (status: number, headers?: Array<[string, string]>, reason?: string) => void,
  ): void {
    const retryAfter: [string, string] = ['Retry-After', String(this.retryAfter)];
    // §8.2.2.2: same Call-ID, From tag and CSeq as an INVITE in progress but another branch: a merged request.
    const mergeKey = `${callIdOf(req)}|${fromTagOf(req) ?? ''}|${cseqOf(req).seq}`;
    const other = this.inProgress.get(mergeKey);
    if (other && other !== txn) return reply(482);
    if (this.closing) return reply(503, [retryAfter], 'Shutting Down');
    if (this.listenerCount('invite') === 0) return reply(503, [retryAfter], 'No Application');
    if (this.opts.maxCalls !== undefined && this.activeCalls >= this.opts.maxCalls)
      return reply(503, [retryAfter], 'Too Many Calls');
    // §8.1.1.8: an INVITE must carry Contact (it becomes our remote target).
    if (!req.headers.has('Contact')) return reply(400, [], 'Missing Contact');
    // §8.2.3: we read SDP only, uncompressed.
    if (
      req.body.length > 0 &&
      (req.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase() ?? '') !== 'application/sdp'
    ) {
      return reply(415, [['Accept', 'application/sdp']]);
    }
    const encoding = req.headers.get('Content-Encoding');
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity')
      return reply(415, [['Accept-Encoding', 'identity']]);

    this.inProgress.set(mergeKey, txn);
    txn.once('terminated', () => {
      if (this.inProgress.get(mergeKey) === txn) this.inProgress.delete(mergeKey);
    });
    const call = new IncomingCall(this.context, req, txn, this.opts.ringTimeoutMs ?? 180_000, {
      settled: (c) => this.calls.delete(c),
    });
    this.calls.add(call);
    this.logger.info('incoming call', {
      sip_call_id: call.callId,
      from: call.from.uri,
      to: call.to.uri,
      via: `${call.source.protocol}:${call.source.address}:${call.source.port}`,
    });
    try {
      this.emit('invite', call);
    } catch (err) {
      this.logger.error('invite listener threw', { sip_call_id: call.callId, err: (err as Error).message });
      call.reject(500);
    }
  }

  /** §9.2: CANCEL matches an INVITE transaction; 200 to the CANCEL, 487 to the INVITE if it is unanswered. */
  private onCancel(req: SipRequest, txn: ServerTransaction): void {
    const invite = this.layer?.findInvite(req);
    const owner = invite ? this.invites.get(invite) : undefined;
    if (!invite || !owner) {
      txn.respond(createResponse(req, 481, { toTag: newTag(), headers: [['Server', this.userAgentName]] }));
      return;
    }
    if (this.opts.admission && txn.source.address !== invite.source.address) {
      // The previous hop of the INVITE sends its CANCEL (§9.1); anyone else is guessing transaction ids.
      this.refuse(req, txn.source, 'foreign_cancel');
      txn.respond(
        createResponse(req, 403, {
          toTag: newTag(),
          reason: this.opts.admission.refusalReason,
          headers: [['Server', this.userAgentName]],
        }),
      );
      return;
    }
    txn.respond(createResponse(req, 200, { toTag: owner.tag, headers: [['Server', this.userAgentName]] }));
    if (invite.answered) return;
    invite.respond(
      createResponse(invite.request, 487, { toTag: owner.tag, headers: [['Server', this.userAgentName]] }),
    );
    this.invites.delete(invite);
    owner.onCancel();
  }

  private onAck(req: SipRequest, source: MessageSource): void {
    const toTag = toTagOf(req);
    if (toTag === null) return;
    if (!this.admitted(req, source)) return;
    this.dialogs.get(dialogKey(callIdOf(req), toTag, fromTagOf(req) ?? ''))?.handleAck(req);
  }

  /** Asks the admission (OPTIONS and CANCEL excepted, see {@link RequestAdmission}); logs and reports a refusal. */
  private admitted(req: SipRequest, source: MessageSource): boolean {
    const admission = this.opts.admission;
    if (!admission || req.method === 'OPTIONS' || req.method === 'CANCEL') return true;
    const verdict = admission.admit(req, source);
    if (verdict.ok) return true;
    this.refuse(req, source, verdict.reason);
    return false;
  }

  private refuse(req: SipRequest, source: MessageSource, reason: string): void {
    const callId = req.headers.get('Call-ID') ?? '';
    this.refusals.log({
      method: req.method,
      callId,
      reason,
      from: `${source.protocol}:${source.address}:${source.port}`,
      address: source.address,
    });
    try {
      this.emit('refused', { method: req.method, callId, reason, source });
    } catch (err) {
      this.logger.error('refused listener threw', { sip_call_id: callId, err: (err as Error).message });
    }
  }

  /** The To tag for a response the core sends itself: the dialog's when the request has one. */
  private tagFor(txn: ServerTransaction): string {
    return toTagOf(txn.request) ?? this.invites.get(txn as ServerInviteTransaction)?.tag ?? newTag();
  }

  private get retryAfter(): number {
    return this.opts.retryAfterSeconds ?? 5;
  }

  private get userAgentName(): string {
    return this.opts.userAgent ?? 'sip-ai-bridge media-gateway';
  }

  private get contactHost(): string {
    const host = this.opts.contactHost ?? this.opts.host;
    return isIP(host) === 6 ? `[${host}]` : host;
  }

  /** What calls and dialogs use: built once, after start(). */
  private get context(): UaContext {
    const layer = this.layer;
    if (!layer) throw new SipError('ERR_SIP_INVALID_STATE', 'user agent not started');
    return {
      layer,
      timers: this.timers,
      logger: this.logger,
      resolver: this.opts.resolver ?? systemResolver,
      host: this.contactHost,
      userAgent: this.userAgentName,
      referTimeoutMs: this.opts.referTimeoutMs ?? 64 * this.timers.t1,
      contact: (protocol) =>
        `<sip:${this.opts.contactUser ?? 'gw'}@${this.contactHost}:${this.boundPort}${protocol === 'tcp' ? ';transport=tcp' : ''}>`,
      via: (protocol, branch) =>
        `SIP/2.0/${protocol.toUpperCase()} ${this.contactHost}:${this.boundPort};branch=${branch};rport`,
      trackInvite: (txn, tag, onCancel) => {
        this.invites.set(txn, { tag, onCancel });
        txn.once('terminated', () => this.invites.delete(txn));
      },
      dialogCreated: (d: DialogHandle) => this.dialogs.set(d.key, d as Dialog),
      dialogReleased: (d: DialogHandle) => {
        if (this.dialogs.get(d.key) === d) this.dialogs.delete(d.key);
      },
    };
  }
}
