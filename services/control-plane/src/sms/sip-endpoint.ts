import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { SipError } from '../../../common/src/sip/errors';
import type { SipLogger } from '../../../common/src/sip/logger';
import { SipHeaders } from '../../../common/src/sip/message/headers';
import type { SipRequest, SipResponse } from '../../../common/src/sip/message/message';
import { createResponse } from '../../../common/src/sip/message/response';
import { MAGIC_COOKIE } from '../../../common/src/sip/message/via';
import { TransactionLayer, type ServerTransaction } from '../../../common/src/sip/transaction/layer';
import { timerValues, type TimerOverrides } from '../../../common/src/sip/transaction/timers';
import { NetworkTransport } from '../../../common/src/sip/transport/network';
import type { MessageSource, TransportTarget } from '../../../common/src/sip/transport/transport';
import type { RefusedRequest, RequestAdmission } from '../../../common/src/sip/user-agent';
import { RefusalLog } from '../../../common/src/sip/refusal-log';

const SERVER = 'sip-ai-bridge sms';
const ALLOW = 'MESSAGE, NOTIFY, OPTIONS';

/** What the application answers an incoming MESSAGE / NOTIFY with. */
export interface SmsSipAnswer {
  readonly status: number;
  readonly reason?: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

/** An incoming MESSAGE or NOTIFY, answered once the handler's promise settles (a throw is a 500). */
export type SmsSipHandler = (req: SipRequest, source: MessageSource) => Promise<SmsSipAnswer>;

/**
 * A MESSAGE we send. `callId`, `cseq` and `branch` are the caller's so a message can
 * be re-sent after a crash with the very same transaction identifiers: Kamailio's tm
 * then takes it for a retransmission (RFC 3261 §17.2.3) and answers from the
 * transaction instead of relaying a second copy.
 */
export interface OutgoingSms {
  readonly requestUri: string;
  readonly from: string;
  readonly fromTag: string;
  readonly to: string;
  readonly callId: string;
  readonly cseq: number;
  readonly branch: string;
  readonly body: string;
  readonly contentType?: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

/** The final answer to a MESSAGE: a SIP response, or 408 when none came in time (Timer F) or the transport failed. */
export interface SmsSendResult {
  readonly status: number;
  readonly reason: string;
  readonly headers: SipHeaders | null;
}

export interface SmsSipEndpointOptions {
  /** Address to bind (an IP literal). */
  readonly host: string;
  readonly port: number;
  /** Where every MESSAGE we send goes first (Kamailio). */
  readonly proxy: { readonly address: string; readonly port: number };
  readonly logger: SipLogger;
  readonly timers?: TimerOverrides;
  /**
   * Who may hand us a MESSAGE or NOTIFY (the control-plane: only Kamailio, by its
   * X-Bridge-Proof). Refused requests get `403 <refusalReason>`; OPTIONS (the
   * dispatcher's probe, which carries no proof) is always answered.
   */
  readonly admission?: RequestAdmission;
  /** Told of every refused request (after it is logged), e.g. to count it. */
  readonly onRefused?: (refused: RefusedRequest) => void;
}

/** Deterministic RFC 3261 branch (§8.1.1.7) for one attempt of one message. */
export function smsBranch(...parts: ReadonlyArray<string | number>): string {
  return `${MAGIC_COOKIE}${createHash('sha256').update(parts.join('|')).digest('base64url').slice(0, 22)}`;
}

/**
 * The control-plane's SIP endpoint for SMS (RFC 3428): receives the MESSAGEs (and
 * delivery-report NOTIFYs) Kamailio routes to it, answers the dispatcher's OPTIONS
 * probes, and sends MESSAGEs to Kamailio, which relays them to a trunk or a user. It
 * is built on the shared SIP stack (services/common/src/sip): transport, transaction
 * layer (server and client non-INVITE transactions with their timers) and messages.
 */
export class SmsSipEndpoint {
  private transport: NetworkTransport | undefined;
  private layer: TransactionLayer | undefined;
  private readonly proxyTarget: TransportTarget;
  private boundPort: number;
  private closing = false;
  private readonly refusals: RefusalLog;

  constructor(
    private readonly opts: SmsSipEndpointOptions,
    private readonly handler: SmsSipHandler,
  ) {
    if (isIP(opts.host) === 0) throw new TypeError(`SMS SIP host must be an IP address, got "${opts.host}"`);
    this.proxyTarget = { protocol: 'udp', address: opts.proxy.address, port: opts.proxy.port };
    this.boundPort = opts.port;
    this.refusals = new RefusalLog(opts.logger, 'SMS request refused');
  }

  get port(): number {
    return this.boundPort;
  }

  /** `sip:<host>:<port>`: what Kamailio's dispatcher set lists for this endpoint. */
  get uri(): string {
    return `sip:${this.hostPart}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    const transport = new NetworkTransport({
      host: this.opts.host,
      port: this.opts.port,
      protocols: ['udp', 'tcp'],
      logger: this.opts.logger,
    });
    this.boundPort = await transport.start();
    this.transport = transport;
    this.layer = new TransactionLayer({
      transport,
      timers: timerValues(this.opts.timers),
      logger: this.opts.logger,
      tu: { onRequest: (req, txn) => this.onRequest(req, txn), onAck: () => undefined },
    });
  }

  /** Sends one MESSAGE through a client transaction; resolves with its final answer (never rejects). */
  send(sms: OutgoingSms): Promise<SmsSendResult> {
    const layer = this.layer;
    if (!layer || this.closing) return Promise.resolve({ status: 503, reason: 'SMS endpoint closed', headers: null });
    const headers = new SipHeaders([
      ['Via', `SIP/2.0/UDP ${this.hostPart}:${this.boundPort};branch=${sms.branch};rport`],
      ['Max-Forwards', '70'],
      ['From', `<${sms.from}>;tag=${sms.fromTag}`],
      ['To', `<${sms.to}>`],
      ['Call-ID', sms.callId],
      ['CSeq', `${sms.cseq} MESSAGE`],
      ['User-Agent', SERVER],
      ...(sms.headers ?? []),
      ['Content-Type', sms.contentType ?? 'text/plain;charset=UTF-8'],
    ]);
    const req: SipRequest = {
      type: 'request',
      method: 'MESSAGE',
      uri: sms.requestUri,
      headers,
      body: Buffer.from(sms.body, 'utf8'),
    };
    return new Promise((resolve) => {
      let txn;
      try {
        txn = layer.request(req, this.proxyTarget);
      } catch (err) {
        // A transaction with this branch is still alive here: the same attempt is already in flight.
        resolve({ status: 482, reason: (err as Error).message, headers: null });
        return;
      }
      txn.on('response', (res: SipResponse) => {
        if (res.status >= 200) resolve({ status: res.status, reason: res.reason, headers: res.headers });
      });
      txn.once('failed', (err: SipError) => resolve({ status: err.status ?? 408, reason: err.message, headers: null }));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.layer?.close();
    await this.transport?.close();
  }

  private get hostPart(): string {
    return isIP(this.opts.host) === 6 ? `[${this.opts.host}]` : this.opts.host;
  }

  private onRequest(req: SipRequest, txn: ServerTransaction): void {
    const reply = (status: number, reason?: string, headers: ReadonlyArray<readonly [string, string]> = []): void => {
      txn.respond(
        createResponse(req, status, {
          toTag: smsBranch(req.headers.get('Call-ID') ?? '', 'to').slice(7, 19),
          headers: [...headers, ['Server', SERVER]],
          ...(reason ? { reason } : {}),
        }),
      );
    };
    if (req.method === 'OPTIONS') return reply(this.closing ? 503 : 200, undefined, [['Allow', ALLOW]]);
    if (req.method !== 'MESSAGE' && req.method !== 'NOTIFY') return reply(405, undefined, [['Allow', ALLOW]]);
    const admission = this.opts.admission;
    const verdict = admission?.admit(req, txn.source) ?? { ok: true };
    if (!verdict.ok) {
      const callId = req.headers.get('Call-ID') ?? '';
      const source = txn.source;
      this.refusals.log({
        method: req.method,
        callId,
        reason: verdict.reason,
        from: `${source.protocol}:${source.address}:${source.port}`,
        address: source.address,
      });
      this.opts.onRefused?.({ method: req.method, callId, reason: verdict.reason, source });
      return reply(403, admission?.refusalReason);
    }
    if (this.closing) return reply(503, 'Shutting Down', [['Retry-After', '5']]);
    this.handler(req, txn.source)
      .then((answer) => reply(answer.status, answer.reason, answer.headers ?? []))
      .catch((err: unknown) => {
        this.opts.logger.error('SMS request handling failed', {
          method: req.method,
          callId: req.headers.get('Call-ID'),
          err: (err as Error).message,
        });
        reply(500, 'Server Internal Error');
      });
  }
}
