import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { Action, AiAction } from '../../../common/src/ivr/menu';
import type { AiTarget } from '../calls/call';
import type { CallHandle } from '../calls/handle';
import { MusicLoop } from '../moh/library';
import { promptClip } from '../ivr/prompts';
import type { AiRouteRow } from '../ivr/store';
import { busyTone, ringingTone } from './tones';

/**
 * What a menu choice, a timeout, a queue overflow or a caller leaving a queue does
 * with a call no AI holds yet (common/src/ivr/menu.ts `Action`):
 *
 * - `ai`, `voicemail`: through an {@link AiConnector} (the plain one below; the queues
 *   add concurrency limits and overflow). Voicemail is the AI with custom parameter
 *   mode=voicemail.
 * - `sip_user`, `external`: the caller hears ringing while `bridgeTo` dials the user
 *   (or the E.164 number, out through the trunks); busy / no answer / failed → back
 *   to the menu (outcome `replay`, event `ivr_action_failed`).
 * - `queue`: {@link QueueEntry} (the queues); none → hung up, reason `queue_unavailable`.
 * - `menu`, `repeat`: the menu runner's; outside a menu, `menu` runs one (`runMenu`).
 * - `hangup`: BYE with the action's reason (default `ivr_hangup`).
 * - `busy`: three seconds of busy tone, then BYE with reason `busy`.
 */

/** Where the call went. `replay` and `menu` are for the menu runner. */
export type ActionOutcome =
  /** An AI, a person or a queue has the call now (or had it, and let go). */
  | { readonly kind: 'handed_off'; readonly to: string }
  /** The call was hung up (or the caller hung up meanwhile). */
  | { readonly kind: 'ended'; readonly reason: string }
  /** Back to the menu: `repeat`, or the target could not take the call. */
  | { readonly kind: 'replay'; readonly reason: string }
  | { readonly kind: 'menu'; readonly menu: string };

/** How handing a call to an AI went. */
export type AiConnectResult = 'connected' | 'queued' | 'busy' | 'failed';

/** Hands a call to the AI an `ai` or `voicemail` action names. */
export interface AiConnector {
  connect(
    call: CallHandle,
    action: AiAction,
    options?: { readonly customParameters?: Readonly<Record<string, string>> },
  ): Promise<AiConnectResult>;
}

/** Puts a call in a queue; resolves when the queue let go of the call (the queues implement it). */
export interface QueueEntry {
  enter(
    call: CallHandle,
    queue: string,
    options: { readonly priority: number; readonly source: 'menu' | 'number' | 'vip' | 'api' | 'none' },
  ): Promise<void>;
}

/** Default reason of a `hangup` action without one. */
export const HANGUP_REASON = 'ivr_hangup';
export const BUSY_REASON = 'busy';
export const QUEUE_UNAVAILABLE_REASON = 'queue_unavailable';
/** An AI route at its limit with no queue to wait in. */
export const AI_BUSY_REASON = 'ai_busy';

export interface ActionDeps {
  readonly ai: AiConnector;
  /** Absent: `queue` actions hang up with reason `queue_unavailable`. */
  readonly queue?: QueueEntry;
  /** Runs a menu on the call (the runner), for `menu` actions taken outside a menu (a queue's leave action). */
  readonly runMenu?: (call: CallHandle, menu: string) => Promise<void>;
  /** Ring time of sip_user / external actions without ring_timeout_seconds (IVR_RING_TIMEOUT_SECONDS). */
  readonly ringTimeoutMs: number;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
}

/**
 * The `ivr_action` event's data: the action's type and its fields, as stored in
 * call_events. A `menu` action's target is `next_menu` (`menu` is the menu the caller is in).
 */
export function describeAction(action: Action): Record<string, unknown> {
  if (action.type === 'menu') return { action: 'menu', next_menu: action.menu };
  const { type, ...rest } = action;
  return { action: type, ...rest };
}

export interface RunHooks {
  readonly beforeHangup?: (reason: string) => void;
}

export class Actions {
  constructor(private readonly deps: ActionDeps) {}

  /**
   * Executes `action` on `call`; a target that cannot take the call is an outcome, not
   * an error. `beforeHangup` is told the reason just before the gateway hangs up.
   */
  async run(call: CallHandle, action: Action, hooks: RunHooks = {}): Promise<ActionOutcome> {
    if (!call.live) return { kind: 'ended', reason: 'caller_gone' };
    switch (action.type) {
      case 'ai':
        return this.ai(call, action, action.ai_route ?? action.number ?? action.url ?? 'default', hooks);
      case 'voicemail':
        return this.ai(
          call,
          { type: 'ai', ...(action.ai_route ? { ai_route: action.ai_route } : {}) },
          'voicemail',
          hooks,
          { mode: 'voicemail' },
        );
      case 'sip_user':
        return this.bridge(call, action.username, action.ring_timeout_seconds);
      case 'external':
        return this.bridge(call, action.number, action.ring_timeout_seconds);
      case 'queue':
        return this.queue(call, action.queue, action.priority ?? 0, hooks);
      case 'menu':
        if (!this.deps.runMenu) return { kind: 'menu', menu: action.menu };
        await this.deps.runMenu(call, action.menu);
        return { kind: 'handed_off', to: `menu:${action.menu}` };
      case 'repeat':
        return { kind: 'replay', reason: 'repeat' };
      case 'hangup':
        hooks.beforeHangup?.(action.reason ?? HANGUP_REASON);
        return this.hangup(call, action.reason ?? HANGUP_REASON);
      case 'busy':
        return this.busy(call, BUSY_REASON, hooks);
    }
  }

  /** Hangs the call up with `reason` (BYE from the gateway). */
  async hangup(call: CallHandle, reason: string): Promise<ActionOutcome> {
    await call.end(reason, 'gateway');
    return { kind: 'ended', reason };
  }

  private async ai(
    call: CallHandle,
    action: AiAction,
    label: string,
    hooks: RunHooks,
    customParameters?: Record<string, string>,
  ): Promise<ActionOutcome> {
    let result: AiConnectResult;
    try {
      result = await this.deps.ai.connect(call, action, customParameters ? { customParameters } : undefined);
    } catch (err) {
      this.deps.logger.warn('AI action failed', { call_id: call.id, target: label, error: (err as Error).message });
      result = 'failed';
    }
    if (result === 'connected' || result === 'queued') return { kind: 'handed_off', to: `ai:${label}` };
    if (result === 'busy') return this.busy(call, AI_BUSY_REASON, hooks);
    call.event('ivr_action_failed', { action: 'ai', target: label, reason: 'ai_unavailable' });
    return { kind: 'replay', reason: 'ai_unavailable' };
  }

  private async bridge(call: CallHandle, target: string, ringSeconds: number | undefined): Promise<ActionOutcome> {
    call.play(new MusicLoop(ringingTone(call.codec)));
    const ringTimeoutMs = ringSeconds !== undefined ? ringSeconds * 1000 : this.deps.ringTimeoutMs;
    let outcome;
    try {
      outcome = await call.bridgeTo([target], { ringTimeoutMs });
    } catch (err) {
      this.deps.logger.warn('bridge failed', { call_id: call.id, target, error: (err as Error).message });
      outcome = { ok: false as const, sipStatus: 500, reason: 'failed' as const };
    }
    if (outcome.ok) return { kind: 'handed_off', to: target };
    call.play(null);
    if (!call.live) return { kind: 'ended', reason: 'caller_gone' };
    call.event('ivr_action_failed', { target, reason: outcome.reason, sip_status: outcome.sipStatus });
    return { kind: 'replay', reason: outcome.reason };
  }

  private async queue(call: CallHandle, queue: string, priority: number, hooks: RunHooks): Promise<ActionOutcome> {
    if (!this.deps.queue) {
      this.deps.logger.warn('queue action with no queues on this gateway: hanging up', { call_id: call.id, queue });
      call.event('ivr_action_failed', { action: 'queue', queue, reason: QUEUE_UNAVAILABLE_REASON });
      hooks.beforeHangup?.(QUEUE_UNAVAILABLE_REASON);
      return this.hangup(call, QUEUE_UNAVAILABLE_REASON);
    }
    await this.deps.queue.enter(call, queue, { priority, source: 'menu' });
    return { kind: 'handed_off', to: `queue:${queue}` };
  }

  private async busy(call: CallHandle, reason: string, hooks: RunHooks): Promise<ActionOutcome> {
    const clip = promptClip(busyTone(call.codec).payload, call.codec);
    call.play(clip);
    await Promise.race([clip.done, call.ended]);
    if (!call.live) return { kind: 'ended', reason: 'caller_gone' };
    hooks.beforeHangup?.(reason);
    return this.hangup(call, reason);
  }
}

export interface AiTargetsOptions {
  readonly aiRoute: (name: string) => Promise<AiRouteRow | null>;
  /** A number's AI settings, as an `ai|<digits>` call gets them (CallManager.resolveTarget). */
  readonly numberTarget: (digits: string) => Promise<AiTarget>;
  /** AI_PLATFORM_WS_URL (or the demo agent) and AI_DIALECT. */
  readonly defaultTarget: { readonly url: string; readonly dialect: Dialect };
  /** The built-in demo agent serves each dialect on its own path (/olib, /twilio, /binary). */
  readonly demoAgentUrl?: string;
}

/**
 * Where an AI action points: an AI route (ai_routes: its URL or the default AI, its
 * dialect, its options as custom parameters), a number's AI settings, a bare URL and
 * dialect, or (none named) the default AI. Null: the route does not exist.
 */
export class AiTargets {
  constructor(private readonly options: AiTargetsOptions) {}

  async resolve(
    call: CallHandle,
    action: Omit<AiAction, 'type'>,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<AiTarget | null> {
    const custom: Record<string, string> = { route: call.parties.route || 'direct', route_type: 'ivr' };
    const { defaultTarget } = this.options;
    if (action.number) {
      const target = await this.options.numberTarget(action.number.replace(/^\+/, ''));
      return { ...target, customParameters: { ...target.customParameters, ...custom, ...extra } };
    }
    let url = defaultTarget.url;
    let dialect = action.dialect ?? defaultTarget.dialect;
    if (action.ai_route) {
      const row = await this.options.aiRoute(action.ai_route);
      if (!row) return null;
      url = row.agentUrl ?? defaultTarget.url;
      dialect = row.dialect;
      custom['ai_route'] = row.name;
      for (const [k, v] of Object.entries(row.options))
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') custom[k] = String(v);
    } else if (action.url) {
      url = action.url;
      dialect = action.dialect ?? 'olib';
    }
    const demo = this.options.demoAgentUrl;
    if (demo && url === demo) url = `${demo}/${dialect}`;
    return { url, dialect, customParameters: { ...custom, ...extra }, record: false };
  }
}

/** The AI connector without limits: resolve the target, `call.connectAi`. */
export class DirectAiConnector implements AiConnector {
  constructor(
    private readonly targets: AiTargets,
    private readonly logger: { warn(m: string, meta?: object): unknown },
  ) {}

  async connect(
    call: CallHandle,
    action: AiAction,
    options?: { readonly customParameters?: Readonly<Record<string, string>> },
  ): Promise<AiConnectResult> {
    const target = await this.targets.resolve(call, action, options?.customParameters);
    if (!target) {
      this.logger.warn('AI route not found', { call_id: call.id, ai_route: action.ai_route });
      return 'failed';
    }
    return (await call.connectAi(target)) ? 'connected' : 'failed';
  }
}
