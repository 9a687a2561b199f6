import { randomUUID } from 'node:crypto';
import Ajv, { type JSONSchemaType } from 'ajv';
import { DIALECTS, type Dialect } from '../../../common/src/ai-protocol/dialect';
import { CodedError } from '../../../common/src/errors';
import { e164Of } from '../../../common/src/sip-number';
import type { SdpAnswerer } from '../sdp/negotiate';
import { SdpOfferer } from '../sdp/offer';
import type { AiTarget, Call, CallDeps, CallParties, DialogLike, Negotiate, Negotiation } from './call';
import type { RtpSocket } from './media-leg';
import type { OutboundFailure, OutboundRecords } from './outbound-store';
import type { CallStore } from './store';

/**
 * Calls the gateway places (POST /api/calls/initiate → the `originate` command).
 *
 *   dialing ──18x──► ringing ──2xx──► answered (a Call runs it from here, like an incoming one)
 *      │                │
 *      └────────────────┴──non-2xx final, ring timeout (CANCEL → 487), hangup, shutdown──► failed
 *
 * The INVITE goes to Kamailio with our proof (X-Bridge-Proof, contract §2), which routes
 * it like a user's call: our DID, a trunk (limits, failover, digest answers, caller-ID
 * rules) or a registered user. Each state change updates the calls row and queues its
 * webhook event in one transaction (outbound-store.ts); the writes of one call land in
 * the order they happened (OrderedCallStore).
 */
export type OutboundState = 'dialing' | 'ringing' | 'answered' | 'failed';

const EDGES: Record<OutboundState, readonly OutboundState[]> = {
  dialing: ['ringing', 'answered', 'failed'],
  ringing: ['answered', 'failed'],
  answered: [],
  failed: [],
};

/** The `originate` command's arguments (contract §3), as the control-plane wrote them. */
export interface OriginateArgs {
  readonly from: string;
  readonly to: string;
  readonly webhook_url?: string | null;
  readonly ai?: {
    readonly url?: string | null;
    readonly dialect?: Dialect | null;
    readonly custom_parameters?: Record<string, string> | null;
  } | null;
  readonly record?: boolean | null;
  readonly ring_timeout_seconds?: number | null;
}

/** A SIP user part we put in a Request-URI or From: an E.164 number or a user name (RFC 3261 §25.1 unreserved). */
const SIP_USER = "^\\+?[A-Za-z0-9_.!~*'()&=$,;?/-]{1,64}$";

const ARGS_SCHEMA: JSONSchemaType<OriginateArgs> = {
  type: 'object',
  required: ['from', 'to'],
  properties: {
    from: { type: 'string', pattern: SIP_USER },
    to: { type: 'string', pattern: SIP_USER },
    webhook_url: { type: 'string', nullable: true },
    ai: {
      type: 'object',
      nullable: true,
      required: [],
      properties: {
        url: { type: 'string', nullable: true, pattern: '^wss?://' },
        // ajv: a nullable enum lists null too.
        dialect: { type: 'string', nullable: true, enum: [...DIALECTS, null] as Dialect[] },
        custom_parameters: {
          type: 'object',
          nullable: true,
          required: [],
          additionalProperties: { type: 'string' },
        },
      },
    },
    record: { type: 'boolean', nullable: true },
    ring_timeout_seconds: { type: 'integer', nullable: true, minimum: 1, maximum: 600 },
  },
};
const validateArgs = new Ajv({ allErrors: false }).compile(ARGS_SCHEMA);

/** Why calls still ringing when the gateway stops are cancelled. */
const SHUTDOWN = 'gateway_shutdown';

/** Default ring time when the command does not say. */
export const DEFAULT_RING_TIMEOUT_SECONDS = 30;

/** How the dial ended, when it did not end with an answer. */
export type DialResult =
  | { readonly ok: true; readonly dialog: DialogLike; readonly answer: string }
  | { readonly ok: false; readonly status: number; readonly reason: string };

/** An INVITE on its way (the SIP layer's OutgoingCall, seen through sip-adapter.ts). */
export interface OutgoingLeg {
  onProgress(listener: (status: number) => void): void;
  readonly result: Promise<DialResult>;
  /** CANCEL (RFC 3261 §9.1): after a provisional, or as soon as one arrives. */
  cancel(): void;
}

/** Sends the INVITE to Kamailio, with our proof. */
export type Dial = (request: { sipCallId: string; from: string; to: string; sdp: string }) => OutgoingLeg;

/** A failure an operator sees in the command result (the calls row says the same). */
export class OriginateError extends CodedError<'ERR_CALL_NOT_ACTIVE' | 'ERR_ORIGINATE_REFUSED'> {}

export interface OutboundCallsOptions {
  readonly gatewayId: string;
  readonly dial: Dial;
  readonly openSocket: () => Promise<RtpSocket>;
  readonly rtpAddress: string;
  /** The call's own SDP answerer for the far end's re-offers, in the session our offer started. */
  readonly negotiator: (answerer: SdpAnswerer) => Negotiate;
  readonly records: OutboundRecords;
  /** Where call records of placed calls go once answered: answered / events / completed (ordered with the writes above). */
  readonly callStore: CallStore;
  /** Runs a write of a call after its earlier ones (OrderedCallStore.run). */
  readonly ordered: (callId: string, what: string, write: () => Promise<void>) => void;
  /** The number's AI settings, as for calls to it (`ai|<digits>`); the command's own AI target wins. */
  readonly resolveTarget: (route: string) => Promise<AiTarget>;
  /** The built-in demo agent's base URL, when it is the default AI (it serves each dialect on its own path). */
  readonly demoAgentUrl?: string;
  readonly callDeps: (parties: CallParties, target: AiTarget) => CallDeps;
  /** Builds the Call (the call manager counts it with the others and ends it on shutdown). */
  readonly adopt: (deps: CallDeps) => Pick<Call, 'connect'>;
  /** Whether another call fits (capacity) and the gateway is not draining. */
  readonly canTake: () => boolean;
  readonly metrics?: { outbound(outcome: string): void };
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

/** One dial in progress. */
class Dialing {
  state: OutboundState = 'dialing';
  timedOut = false;
  hungUp: string | null = null;
  timer: NodeJS.Timeout | null = null;

  constructor(
    readonly callId: string,
    readonly leg: OutgoingLeg,
  ) {}

  transition(to: OutboundState): void {
    if (!EDGES[this.state].includes(to)) throw new Error(`outbound call ${this.callId}: illegal ${this.state} → ${to}`);
    this.state = to;
  }
}

/**
 * The gateway's placed calls until they are answered: the `originate` handler, ring
 * timeouts, hangup before answer, and cancelling what still rings at shutdown.
 */
export class OutboundCalls {
  private readonly dialing = new Map<string, Dialing>();
  private closed = false;

  constructor(private readonly options: OutboundCallsOptions) {}

  /** Dials not yet answered or failed (they count against the gateway's capacity). */
  get pending(): number {
    return this.dialing.size;
  }

  /**
   * The `originate` command: claims the call, sends the INVITE and returns at once
   * (the outcome comes as call states and webhooks). Throws {@link OriginateError}
   * when the call is no longer waiting or cannot be placed here.
   */
  async originate(cmd: { id: number | string; callId: string; args: unknown }): Promise<Record<string, unknown>> {
    const { callId } = cmd;
    if (!validateArgs(cmd.args)) {
      // The control-plane validated the body; a row that still fails here was not written by it.
      const message = `originate arguments rejected: ${validateArgs.errors?.[0]?.instancePath ?? ''} ${validateArgs.errors?.[0]?.message ?? ''}`;
      this.options.logger.warn(message, { call_id: callId });
      this.options.metrics?.outbound('bad_command');
      // No other gateway would do better: the call fails here rather than wait forever.
      if (await this.options.records.claim(callId, this.options.gatewayId, ''))
        this.fail(callId, { status: null, reason: 'refused by the gateway', disposition: 'failed', endedBy: 'system' });
      throw new OriginateError('ERR_ORIGINATE_REFUSED', message.trim());
    }
    const args = cmd.args;
    if (this.closed || !this.options.canTake()) {
      // Claimed just as this gateway began to drain or filled up: back to the others.
      await this.options.records.release(String(cmd.id));
      throw new OriginateError('ERR_ORIGINATE_REFUSED', 'gateway draining or at capacity; left for another gateway');
    }
    const sipCallId = randomUUID();
    const claimed = await this.options.records.claim(callId, this.options.gatewayId, sipCallId);
    if (!claimed) throw new OriginateError('ERR_CALL_NOT_ACTIVE', 'the call is no longer waiting to be placed');

    let target: AiTarget;
    let socket: RtpSocket;
    try {
      target = await this.target(args);
      socket = await this.options.openSocket();
    } catch (err) {
      this.fail(callId, {
        status: 503,
        reason: `not placed: ${(err as Error).message}`,
        disposition: 'failed',
        endedBy: 'system',
      });
      return { ok: false, sip_status: 503 };
    }
    const offerer = new SdpOfferer({ address: this.options.rtpAddress, port: socket.localPort });
    const leg = this.options.dial({ sipCallId, from: args.from, to: args.to, sdp: offerer.offer });
    const d = new Dialing(callId, leg);
    this.dialing.set(callId, d);
    const ringSeconds = args.ring_timeout_seconds ?? DEFAULT_RING_TIMEOUT_SECONDS;
    d.timer = setTimeout(() => {
      d.timedOut = true;
      leg.cancel();
    }, ringSeconds * 1000);
    leg.onProgress((status) => {
      // 180/183 and the rest of 18x: the far end is alerted (RFC 3261 §21.1); 100 is hop by hop.
      if (status < 180 || d.state !== 'dialing') return;
      d.transition('ringing');
      this.options.ordered(callId, 'ringing', () => this.options.records.ringing(callId));
    });
    this.options.logger.info('placing call', {
      call_id: callId,
      sip_call_id: sipCallId,
      from: args.from,
      to: args.to,
      ring_timeout_seconds: ringSeconds,
    });
    void leg.result
      .then((r) => this.settle(d, r, { args, target, socket, offerer, sipCallId }))
      .catch((err: Error) => {
        this.options.logger.warn('placed call failed unexpectedly', { call_id: callId, error: err.message });
        socket.close();
        this.finishFailed(d, { status: 500, reason: err.message, disposition: 'failed', endedBy: 'system' });
      });
    return { ok: true, sip_call_id: sipCallId, gateway: this.options.gatewayId };
  }

  /**
   * Hangs up a call still dialing or ringing (CANCEL); false when this gateway has no
   * such call (it was answered: end the Call instead).
   */
  hangup(callId: string, reason = 'hangup'): boolean {
    const d = this.dialing.get(callId);
    if (!d) return false;
    d.hungUp = reason;
    d.leg.cancel();
    return true;
  }

  /**
   * Calls still dialing or ringing, as the hangup command sees live calls. Ending one
   * sends the CANCEL; the outcome (487, or a 200 that crossed it) follows as the call's
   * state and webhook event.
   */
  list(): Array<{ readonly id: string; readonly state: OutboundState; end(reason: string): Promise<void> }> {
    return [...this.dialing.values()].map((d) => ({
      id: d.callId,
      state: d.state,
      end: (reason: string) => {
        this.hangup(d.callId, reason);
        return Promise.resolve();
      },
    }));
  }

  /** Cancels every call still ringing and refuses new ones; resolves once they have settled. */
  async close(): Promise<void> {
    this.closed = true;
    const waits = [...this.dialing.values()].map(
      (d) =>
        new Promise<void>((resolve) => {
          d.hungUp ??= SHUTDOWN;
          d.leg.cancel();
          void d.leg.result.finally(() => setImmediate(resolve));
        }),
    );
    await Promise.all(waits);
  }

  /** The command's AI target, else the calling number's settings, else the default AI. */
  private async target(args: OriginateArgs): Promise<AiTarget> {
    const digits = e164Of(args.from)?.slice(1);
    const base = await this.options.resolveTarget(digits ? `ai|${digits}` : '');
    const ai = args.ai ?? {};
    const customParameters: Record<string, string> = {
      ...base.customParameters,
      route: 'outbound',
      route_type: 'outbound',
      route_target: args.to,
      ...(ai.custom_parameters ?? {}),
    };
    const dialect = ai.dialect ?? base.dialect;
    let url = ai.url ?? base.url;
    // The demo agent serves each dialect on its own path.
    const demo = this.options.demoAgentUrl;
    if (!ai.url && demo && base.url === `${demo}/${base.dialect}`) url = `${demo}/${dialect}`;
    return { url, dialect, customParameters, record: args.record ?? base.record };
  }

  private async settle(
    d: Dialing,
    r: DialResult,
    ctx: { args: OriginateArgs; target: AiTarget; socket: RtpSocket; offerer: SdpOfferer; sipCallId: string },
  ): Promise<void> {
    if (d.timer) clearTimeout(d.timer);
    const { callId } = d;
    if (!r.ok) {
      ctx.socket.close();
      this.finishFailed(d, outcome(r.status, r.reason, d));
      return;
    }
    // A 2xx crossing our CANCEL (RFC 3261 §9.1: the INVITE completes normally): hang up at once.
    if (d.hungUp) {
      ctx.socket.close();
      await r.dialog.bye().catch(() => undefined);
      this.finishFailed(d, outcome(487, d.hungUp, d));
      return;
    }
    const taken = ctx.offerer.takeAnswer(r.answer);
    if (!taken.ok) {
      this.options.logger.warn('answer unusable; hanging up', { call_id: callId, reason: taken.reason });
      ctx.socket.close();
      await r.dialog.bye().catch(() => undefined);
      this.finishFailed(d, { status: 488, reason: taken.reason, disposition: 'failed', endedBy: 'system' });
      return;
    }
    d.transition('answered');
    this.dialing.delete(callId);
    this.options.metrics?.outbound('answered');
    const m = taken.media;
    const negotiation: Extract<Negotiation, { ok: true }> = {
      ok: true,
      sdp: ctx.offerer.offer,
      codec: m.codec.name,
      telephoneEventPt: m.telephoneEvent?.payloadType ?? null,
      remote: { address: m.remote.address, port: m.remote.port },
      remoteDirection: m.hold ? 'sendonly' : 'sendrecv',
    };
    const parties: CallParties = {
      sipCallId: ctx.sipCallId,
      fromUser: ctx.args.from,
      toUser: ctx.args.to,
      route: 'outbound',
    };
    const call = this.options.adopt({
      ...this.options.callDeps(parties, ctx.target),
      callId,
      direction: 'outgoing',
      negotiate: this.options.negotiator(ctx.offerer.answerer()),
      store: this.options.callStore,
    });
    await call.connect({ socket: ctx.socket, negotiation, dialog: r.dialog });
  }

  private finishFailed(d: Dialing, failure: OutboundFailure): void {
    if (d.state === 'failed' || d.state === 'answered') return;
    d.transition('failed');
    if (d.timer) clearTimeout(d.timer);
    this.dialing.delete(d.callId);
    this.options.metrics?.outbound(failure.disposition);
    this.options.logger.info('placed call not answered', {
      call_id: d.callId,
      sip_status: failure.status,
      reason: failure.reason,
      disposition: failure.disposition,
    });
    this.fail(d.callId, failure);
  }

  private fail(callId: string, failure: OutboundFailure): void {
    this.options.ordered(callId, 'failed', () => this.options.records.failed(callId, failure));
  }
}

/**
 * What a final status means for the caller of the API: busy (486, 600), no answer
 * (480, 408, or our ring timeout: CANCEL → 487), cancelled (hung up through the API,
 * or the gateway stopped, before an answer), or failed (403, 404, 503 and the rest).
 */
export function outcome(
  status: number,
  reason: string,
  d: { readonly timedOut: boolean; readonly hungUp: string | null },
): OutboundFailure {
  if (status === 487 && d.hungUp)
    return { status, reason: d.hungUp, disposition: 'cancelled', endedBy: d.hungUp === SHUTDOWN ? 'system' : 'api' };
  if (status === 487 && d.timedOut)
    return { status, reason: 'ring timeout', disposition: 'no_answer', endedBy: 'system' };
  if (status === 486 || status === 600) return { status, reason, disposition: 'busy', endedBy: 'callee' };
  if (status === 480 || status === 408) return { status, reason, disposition: 'no_answer', endedBy: 'callee' };
  return { status, reason, disposition: 'failed', endedBy: 'callee' };
}
