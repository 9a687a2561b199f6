import { Call, type AiTarget, type CallDeps, type CallRequest } from './call';
import type { AiAdmission, CallRoutes } from './routes';
import type { AiNumberSettings } from './store';

export interface CallManagerOptions {
  readonly maxCalls: number;
  readonly defaultTarget: { readonly url: string; readonly dialect: AiTarget['dialect'] };
  /** The built-in demo agent serves each dialect on its own path (/olib, /twilio, /binary). */
  readonly demoAgentUrl?: string;
  /** Builds a call's dependencies once its target is known. */
  readonly callDeps: (request: CallRequest, target: AiTarget) => CallDeps;
  readonly numberSettings: (digits: string) => Promise<AiNumberSettings | null>;
  /**
   * Menus, queues and AI admission (routes.ts). Without `ivr` / `queue`, `ivr|x` and
   * `queue|x` go to the default AI; without `admitAi`, every AI call is taken.
   */
  readonly routes?: CallRoutes;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

/** Why calls still up when a gateway stops are ended (calls.end_reason). */
export const GATEWAY_SHUTDOWN = 'gateway_shutdown';

/** How a drain went: calls that ended on their own within the grace period, and those ended at its end. */
export interface DrainResult {
  readonly finished: number;
  readonly cut: number;
  readonly waitedMs: number;
}

/**
 * The gateway's calls: admits INVITEs up to `maxCalls` (beyond that 503, so
 * Kamailio's dispatcher tries another gateway), resolves where each call's AI lives
 * from the number Kamailio routed (X-Route), and ends every call on shutdown.
 * With `routes`: `ivr|<menu>` and `queue|<queue>` calls are answered without an AI
 * and handed to the menu or the queue; an `ai|<digits>` call is first put to
 * `admitAi` (a concurrency limit): taken, queued (answered without an AI, handed to
 * the queue) or refused with 486 Busy Here.
 *
 *   taking calls ──drain()──► draining ──(all ended, or grace over: the rest ended)──► closed
 *
 * Draining and closed both answer new INVITEs 503 at once.
 */
export class CallManager {
  private readonly calls = new Map<string, Call>();
  private closing = false;
  private draining: Promise<DrainResult> | null = null;

  constructor(private readonly options: CallManagerOptions) {}

  get active(): number {
    return this.calls.size;
  }

  list(): Call[] {
    return [...this.calls.values()];
  }

  /** A live call of this gateway by its call_id (calls.call_id). */
  get(callId: string): Call | undefined {
    return this.calls.get(callId);
  }

  async handle(request: CallRequest): Promise<void> {
    if (this.closing) {
      // 503 (with Retry-After, see sip-adapter.ts): Kamailio's GATEWAY_FAILOVER tries the next gateway.
      request.reject(503, 'Gateway Shutting Down');
      return;
    }
    if (this.calls.size >= this.options.maxCalls) {
      request.reject(503, 'Gateway At Capacity');
      return;
    }
    let target: AiTarget;
    try {
      target = await this.resolveTarget(request.route);
    } catch (err) {
      this.options.logger.warn('number settings unavailable', {
        sip_call_id: request.sipCallId,
        route: request.route,
        error: (err as Error).message,
      });
      request.reject(503, 'Number Settings Unavailable');
      return;
    }
    const [kind = '', name = ''] = request.route.split('|');
    const routes = this.options.routes;
    if (kind === 'ivr' && routes?.ivr && name)
      return this.withoutAi(request, target, (call) => routes.ivr?.(call, name));
    if (kind === 'queue' && routes?.queue && name)
      return this.withoutAi(request, target, (call) => routes.queue?.(call, name));
    let admission: AiAdmission = { kind: 'ai' };
    if (kind === 'ai' && routes?.admitAi) {
      try {
        const { sipCallId, fromUser, toUser, route } = request;
        admission = await routes.admitAi(name, { sipCallId, fromUser, toUser, route });
      } catch (err) {
        this.options.logger.warn('AI admission failed; the call is refused', {
          sip_call_id: request.sipCallId,
          route: request.route,
          error: (err as Error).message,
        });
        request.reject(503, 'Admission Unavailable');
        return;
      }
    }
    if (admission.kind === 'queue' && routes?.queue) {
      const { queue: into, priority } = admission;
      return this.withoutAi(request, target, (call) => routes.queue?.(call, into, { priority }));
    }
    if (admission.kind !== 'ai') {
      // Full, and no queue to wait in.
      this.options.logger.info('AI route full: busy', { sip_call_id: request.sipCallId, route: request.route });
      request.reject(486, 'Busy Here');
      return;
    }
    const call = this.admit(request, target);
    const release = admission.release;
    if (release)
      void call.ended.then(() =>
        release().catch((err: Error) =>
          this.options.logger.warn('AI route seat not released', { call_id: call.id, error: err.message }),
        ),
      );
    await call.answer(request);
  }

  private admit(request: CallRequest, target: AiTarget): Call {
    const call = new Call(this.options.callDeps(request, target));
    this.calls.set(call.id, call);
    void call.ended.then(() => this.calls.delete(call.id));
    return call;
  }

  /**
   * Answers without an AI, then hands the call to a menu or a queue. When the hook
   * fails, or lets go of a call nobody took (no AI, no bridge), the call is ended.
   */
  private async withoutAi(
    request: CallRequest,
    target: AiTarget,
    hook: (call: Call) => Promise<void> | undefined,
  ): Promise<void> {
    const call = this.admit(request, target);
    await call.answerWithoutAi(request);
    if (!call.live) return;
    void Promise.resolve()
      .then(() => hook(call))
      .then(
        () => {
          if (!call.live || call.attended) return;
          this.options.logger.info('the route let go of a call nobody took: ending it', {
            call_id: call.id,
            route: request.route,
          });
          return call.end('route finished', 'gateway');
        },
        (err: Error) => {
          this.options.logger.warn('the call route failed: ending the call', {
            call_id: call.id,
            route: request.route,
            error: err.message,
          });
          return call.end('route failed', 'gateway');
        },
      );
  }

  /**
   * Runs a call this gateway placed (outbound.ts) once answered: counted, listed and
   * ended on shutdown with the others.
   */
  adopt(deps: CallDeps): Call {
    const call = new Call(deps);
    this.calls.set(call.id, call);
    void call.ended.then(() => this.calls.delete(call.id));
    return call;
  }

  /**
   * `ai|<digits>`: the number's own dialect and agent URL when it has them; queue and
   * IVR names, and calls dialled straight at the gateway, go to the default AI with
   * the route passed along so the agent can tell them apart.
   */
  async resolveTarget(route: string): Promise<AiTarget> {
    const [kind = '', name = ''] = route.split('|');
    const base: AiTarget = {
      url: this.options.defaultTarget.url,
      dialect: this.options.defaultTarget.dialect,
      customParameters: {
        route: route || 'direct',
        ...(kind ? { route_type: kind } : {}),
        ...(name ? { route_target: name } : {}),
      },
      record: false,
    };
    if (kind !== 'ai' || !/^[0-9]{3,15}$/.test(name)) return this.withDemoPath(base);
    const settings = await this.options.numberSettings(name);
    if (!settings) return this.withDemoPath(base);
    const custom: Record<string, string> = { ...base.customParameters, number: `+${name}` };
    for (const [k, v] of Object.entries(settings.options ?? {})) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') custom[k] = String(v);
    }
    return this.withDemoPath({
      url: settings.agentUrl ?? base.url,
      dialect: settings.dialect ?? base.dialect,
      customParameters: custom,
      record: settings.recordingEnabled,
      ...(settings.holdMusic ? { holdMusic: settings.holdMusic } : {}),
    });
  }

  private withDemoPath(t: AiTarget): AiTarget {
    const demo = this.options.demoAgentUrl;
    return demo && t.url === demo ? { ...t, url: `${demo}/${t.dialect}` } : t;
  }

  /** Whether new calls are refused because the gateway is stopping. */
  get refusing(): boolean {
    return this.closing;
  }

  /**
   * Refuses new calls at once, lets the live ones run for up to `graceMs`, then ends
   * those still up (BYE to the caller, AI stream closed, end reason
   * {@link GATEWAY_SHUTDOWN}). Idempotent: a second call returns the first drain.
   */
  drain(graceMs: number): Promise<DrainResult> {
    this.closing = true;
    this.draining ??= (async () => {
      const started = Date.now();
      const live = [...this.calls.values()];
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([Promise.all(live.map((c) => c.ended)), graceOver]);
      clearTimeout(timer);
      const left = [...this.calls.values()];
      await Promise.all(left.map((c) => c.end(GATEWAY_SHUTDOWN, 'gateway')));
      // Calls admitted while the drain began (answer in flight) count with the live ones.
      const total = new Set([...live, ...left]).size;
      return { finished: total - left.length, cut: left.length, waitedMs: Date.now() - started };
    })();
    return this.draining;
  }

  /** Ends every call (BYE to each caller) and refuses new ones. */
  async close(): Promise<void> {
    await this.drain(0);
  }
}
