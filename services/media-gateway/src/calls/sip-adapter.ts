import {
  NOT_THROUGH_PROXY,
  parseUri,
  PROXY_PROOF_HEADER,
  ProxyProofVerifier,
  signProxyProof,
  type Dialog,
  type IncomingCall,
  type RequestAdmission,
  type UserAgent,
} from '../../../common/src/sip';
import { HEADER_ROUTE } from '../../../common/src/kamailio/names';
import { SdpAnswerer } from '../sdp/negotiate';
import type { CallRequest, DialogLike, Negotiate } from './call';
import type { Dial } from './outbound';

/**
 * The SIP layer seen the way a call wants it: an incoming INVITE becomes a
 * CallRequest, its dialog a DialogLike, and SDP offers go through one SdpAnswerer per
 * call. The calls never import the SIP stack; this module is the only bridge.
 */

/** Retry-After on the gateway's own 503s (the user agent's are 5 s too). */
const RETRY_AFTER_SECONDS = '5';

/** The user part of a From/To URI (the caller's number or name). */
function userOf(uri: string): string {
  try {
    return parseUri(uri).user ?? '';
  } catch {
    return '';
  }
}

/** The SIP layer's incoming call, seen the way a call wants it. */
export function callRequest(inc: IncomingCall): CallRequest {
  return {
    sipCallId: inc.callId,
    fromUser: userOf(inc.from.uri),
    toUser: userOf(inc.to.uri),
    route: inc.headers.get(HEADER_ROUTE.toLowerCase())?.[0]?.trim() ?? '',
    offer: inc.offer,
    progress: (status) => inc.progress(status),
    accept: async (answer) => dialogPort(await inc.accept(answer)),
    // A 503 means "not here, not now": Retry-After tells the caller's side so (RFC 3261 §21.5.4)
    // while Kamailio's GATEWAY_FAILOVER tries the next gateway.
    reject: (status, reason) =>
      inc.reject(status, reason, status === 503 ? [['Retry-After', RETRY_AFTER_SECONDS]] : []),
    onCancel: (listener) => void inc.once('cancel', listener),
  };
}

function dialogPort(d: Dialog): DialogLike {
  return {
    onReinvite: (listener) =>
      void d.on('reinvite', (offer, reply, reject) => {
        listener(offer, (answer) => (answer ? reply(answer) : reject(488, 'Not Acceptable Here')));
      }),
    onInfoDtmf: (listener) => void d.on('info', (dtmf) => dtmf && listener(dtmf.digit, dtmf.durationMs)),
    onTerminated: (listener) =>
      void d.on('terminated', (reason) => listener(`${reason.by}${reason.reason ? `: ${reason.reason}` : ''}`)),
    bye: () => d.bye(),
    // The REFER's own status, and the transfer's outcome (the NOTIFYs' final sipfrag status) when accepted.
    refer: (target) => d.refer(target),
    reinvite: (sdp) => d.reinvite(sdp),
  };
}

/**
 * Only Kamailio's requests reach the UA: each carries its X-Bridge-Proof (see
 * proxy-proof.ts); the rest, sent straight to our port, bypass digest auth, limits,
 * blocklist and CDRs and get 403.
 */
export function proxyAdmission(options: { readonly secret: string; readonly maxAgeSeconds: number }): RequestAdmission {
  const verifier = new ProxyProofVerifier(options);
  return {
    admit: (req) => verifier.verify(req.headers.get(PROXY_PROOF_HEADER), req.headers.get('Call-ID') ?? ''),
    refusalReason: NOT_THROUGH_PROXY,
  };
}

/**
 * One SdpAnswerer per call: it keeps the session version across re-INVITEs (RFC 3264 §8).
 * A call we placed passes the answerer of the session its offer began.
 */
export function negotiator(first?: SdpAnswerer): Negotiate {
  let answerer: SdpAnswerer | null = first ?? null;
  const negotiate = (offer: string, local: { address: string; port: number }): ReturnType<Negotiate> => {
    answerer ??= new SdpAnswerer({ address: local.address, port: local.port });
    const r = answerer.answer(offer);
    if (!r.ok) return { ok: false, status: r.status, reason: r.reason };
    const m = r.media;
    return {
      ok: true,
      sdp: r.sdp,
      codec: m.codec.name,
      telephoneEventPt: m.telephoneEvent?.payloadType ?? null,
      remote: { address: m.remote.address, port: m.remote.port },
      remoteDirection: m.hold ? 'sendonly' : 'sendrecv',
    };
  };
  return Object.assign(negotiate, {
    reoffer: (direction: 'sendonly' | 'sendrecv') => answerer?.reoffer(direction) ?? null,
  });
}

/** What routeCalls needs of the call manager and the metrics. */
export interface CallRouting {
  readonly calls: { handle(request: CallRequest): Promise<unknown> };
  readonly metrics: { sipRejected(reason: string): void };
  readonly logger: { warn(message: string, meta?: object): unknown };
}

/**
 * Hands every INVITE the UA admits to the call manager (a setup that throws is
 * answered 500 if still unanswered) and counts the requests it refused.
 */
export function routeCalls(ua: Pick<UserAgent, 'on'>, { calls, metrics, logger }: CallRouting): void {
  ua.on('refused', (r) => metrics.sipRejected(r.reason));
  ua.on('invite', (inc) => {
    calls.handle(callRequest(inc)).catch((err: Error) => {
      logger.warn('call setup failed', { sip_call_id: inc.callId, error: err.message });
      if (inc.pending) inc.reject(500, 'Gateway Error');
    });
  });
}

export interface DialerOptions {
  /** Kamailio's SIP address and port: every call we place goes through it (contract §2). */
  readonly proxy: { readonly host: string; readonly port: number };
  /** Our SIP domain: the host of the Request-URI and of From. */
  readonly domain: string;
  /** PROXY_SHARED_SECRET: Kamailio takes a gateway's INVITE only with a fresh X-Bridge-Proof. */
  readonly proofSecret: string;
}

/**
 * Places calls through Kamailio: `sip:<to>@<domain>` to Kamailio's address over UDP,
 * From the caller ID, signed with our X-Bridge-Proof over the Call-ID (the same proof
 * Kamailio adds towards gateways), from our own SIP socket (Kamailio also checks the
 * source is one of its gateways).
 */
export function dialer(ua: Pick<UserAgent, 'invite'>, o: DialerOptions): Dial {
  return ({ sipCallId, from, to, sdp }) => {
    const out = ua.invite({
      requestUri: `sip:${to}@${o.domain}`,
      nextHop: { host: o.proxy.host, port: o.proxy.port, transport: 'udp' },
      from: { user: from, host: o.domain },
      sdp,
      headers: { [PROXY_PROOF_HEADER]: signProxyProof(o.proofSecret, sipCallId) },
      callId: sipCallId,
    });
    return {
      onProgress: (listener) => void out.on('progress', (status) => listener(status)),
      result: out.result.then((r) =>
        r.ok
          ? { ok: true as const, dialog: dialogPort(r.dialog), answer: r.answer }
          : { ok: false as const, status: r.status, reason: r.reason },
      ),
      cancel: () => out.cancel(),
    };
  };
}
