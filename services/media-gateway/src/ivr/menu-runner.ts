import {
  DEFAULT_MENU_MAX_RETRIES,
  DEFAULT_MENU_TIMEOUT_SECONDS,
  RETRIES_EXHAUSTED_REASON,
  type Action,
  type MenuDefinition,
  type MenuKey,
  type Prompt,
} from '../../../common/src/ivr/menu';
import type { CallHandle } from '../calls/handle';
import { describeAction, type ActionOutcome, type Actions, type AiTargets } from '../routing/actions';
import { promptClip, promptErrorCode, type PlayablePrompt, type PromptErrorCode, type PromptLibrary } from './prompts';
import type { LoadedMenu, MenuCache } from './store';

/**
 * One caller's way through IVR menus (ivr_menus), as an explicit state machine:
 *
 *   starting ──menu loaded──► prompting ──prompt played──► collecting
 *      │                       │    ▲                          │
 *      │             digit (barge-in: the prompt stops)   digit, or timeout_seconds of silence
 *      │                       ▼    │ replay / sub-menu        ▼
 *      │                      acting ◄─────────────────────────┘
 *      │                       │
 *      └──no such menu──► done ◄──handed off (AI, person, queue) / hung up ── any state: the caller hung up
 *
 * A digit with an option takes it; a digit without one is invalid (invalid_action,
 * default repeat), silence is a timeout (timeout_action, default repeat). Timeouts and
 * invalid digits together count as retries: past max_retries the menu takes
 * retries_exhausted_action (default: hang up, reason `ivr_retries_exhausted`). A
 * sub-menu starts with no retries. Digits pressed while an action runs (the ringing of a
 * bridge) are dropped. The path is stored as call events: `ivr_menu`, `ivr_digit`,
 * `ivr_timeout`, `ivr_invalid`, `ivr_action`, `ivr_hangup` (and `ivr_prompt_failed`,
 * `ivr_action_failed`).
 */
export type MenuState = 'starting' | 'prompting' | 'collecting' | 'acting' | 'done';

const EDGES: Readonly<Record<MenuState, readonly MenuState[]>> = {
  starting: ['prompting', 'done'],
  prompting: ['collecting', 'acting', 'done'],
  collecting: ['acting', 'done'],
  acting: ['prompting', 'done'],
  done: [],
};

/** Why the menu took an action. */
export type Trigger = 'digit' | 'timeout' | 'invalid' | 'retries_exhausted';

/** A call hung up because its menu does not exist (or cannot be read). */
export const MENU_NOT_FOUND_REASON = 'ivr_menu_not_found';
/** More menus entered without the caller leaving than any menu tree needs: a loop. */
export const MENU_LOOP_REASON = 'ivr_loop';
const MAX_MENUS_PER_CALL = 100;

const KEYS = new Set(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#']);

export interface MenuRunnerDeps {
  readonly menus: Pick<MenuCache, 'get'>;
  readonly prompts: Pick<PromptLibrary, 'encoded'>;
  readonly actions: Pick<Actions, 'run' | 'hangup'>;
  /** Resolves the AI an `ai_tts` prompt speaks through. */
  readonly aiTargets: Pick<AiTargets, 'resolve'>;
  readonly logger: { info(m: string, meta?: object): unknown; warn(m: string, meta?: object): unknown };
  readonly metrics?: {
    ivrPromptFailed(code: PromptErrorCode): void;
    ivrAiTtsFallback(): void;
    ivrMenuEnded(outcome: 'handed_off' | 'ended' | 'caller_gone'): void;
  };
}

type Wake =
  | { readonly kind: 'digit'; readonly digit: string; readonly source: string }
  | { readonly kind: 'prompt_done' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'ended' };

/** The menus of one call: its state, digits and timers. */
class MenuSession {
  state: MenuState = 'starting';
  retries = 0;
  menusEntered = 0;
  private readonly digits: Array<{ digit: string; source: string }> = [];
  private waiter: ((w: Wake | null) => void) | null = null;
  private ended = false;

  constructor(readonly call: CallHandle) {
    void call.ended.then(() => {
      this.ended = true;
      this.wake({ kind: 'ended' });
    });
  }

  /** Moves to `to`; an edge not in the table is a bug. */
  transition(to: MenuState): void {
    if (!EDGES[this.state].includes(to)) throw new TypeError(`menu state ${this.state} → ${to} is not an edge`);
    this.state = to;
  }

  get gone(): boolean {
    return this.ended || !this.call.live;
  }

  digit(digit: string, source: string): void {
    // While an action runs (a bridge rings), keys are not the menu's.
    if (this.state !== 'prompting' && this.state !== 'collecting') return;
    this.digits.push({ digit, source });
    this.wake(null);
  }

  dropDigits(): void {
    this.digits.length = 0;
  }

  /** The next thing that happens: a buffered digit first, the call's end, or what `others` bring. */
  async next(others: ReadonlyArray<Promise<Wake>>): Promise<Wake> {
    for (;;) {
      if (this.gone) return { kind: 'ended' };
      const d = this.digits.shift();
      if (d) return { kind: 'digit', ...d };
      const woken = await new Promise<Wake | null>((resolve) => {
        this.waiter = resolve;
        for (const p of others) void p.then(resolve);
      });
      this.waiter = null;
      if (woken) return woken;
    }
  }

  private wake(w: Wake | null): void {
    this.waiter?.(w);
  }
}

/** Runs menus on calls (CallRoutes.ivr, and `menu` actions of queues). */
export class MenuRunner {
  constructor(private readonly deps: MenuRunnerDeps) {}

  /** Runs menu `name` on `call`; resolves when the menu let go of the call (handed off or hung up). */
  async run(call: CallHandle, name: string): Promise<void> {
    const session = new MenuSession(call);
    const unsubscribe = call.onDigit((digit, source) => session.digit(digit, source));
    try {
      const outcome = await this.loop(session, name);
      this.deps.metrics?.ivrMenuEnded(outcome);
    } catch (err) {
      this.deps.logger.warn('menu failed: hanging up', { call_id: call.id, menu: name, error: (err as Error).message });
      if (call.live) await call.end('ivr_error', 'gateway');
    } finally {
      unsubscribe();
      if (session.state !== 'done') session.state = 'done';
    }
  }

  private async loop(s: MenuSession, first: string): Promise<'handed_off' | 'ended' | 'caller_gone'> {
    const { call } = s;
    let menu = await this.enter(s, first);
    if (!menu) return 'ended';
    s.transition('prompting');
    for (;;) {
      if (s.gone) return this.finish(s, 'caller_gone');
      const def = menu.definition;
      // prompting: the prompt plays; a digit barges in.
      s.dropDigits();
      const played = await this.play(s, menu);
      let wake = await s.next([played.done.then((): Wake => ({ kind: 'prompt_done' }))]);
      played.stop();
      if (wake.kind === 'ended') return this.finish(s, 'caller_gone');
      const bargeIn = wake.kind === 'digit';
      if (wake.kind === 'prompt_done') {
        // collecting: timeout_seconds from the prompt's end.
        s.transition('collecting');
        call.play(null);
        const seconds = def.timeout_seconds ?? DEFAULT_MENU_TIMEOUT_SECONDS;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<Wake>(
          (resolve) => (timer = setTimeout(() => resolve({ kind: 'timeout' }), seconds * 1000)),
        );
        wake = await s.next([timeout]);
        clearTimeout(timer);
        if (wake.kind === 'ended') return this.finish(s, 'caller_gone');
      }
      s.transition('acting');
      const chosen = this.choose(s, menu, wake, bargeIn);
      const outcome = await this.act(s, menu, chosen.action, chosen.trigger);
      if (outcome.kind === 'handed_off') return this.finish(s, 'handed_off');
      if (outcome.kind === 'ended')
        return this.finish(s, s.gone && outcome.reason === 'caller_gone' ? 'caller_gone' : 'ended');
      if (outcome.kind === 'menu') {
        const next = await this.enter(s, outcome.menu);
        if (!next) return this.finish(s, 'ended');
        menu = next;
      }
      s.transition('prompting');
    }
  }

  private finish(
    s: MenuSession,
    outcome: 'handed_off' | 'ended' | 'caller_gone',
  ): 'handed_off' | 'ended' | 'caller_gone' {
    if (s.state !== 'done') s.transition('done');
    s.call.play(null);
    return outcome;
  }

  /** Loads a menu and records it; a missing one (or a loop) hangs up. */
  private async enter(s: MenuSession, name: string): Promise<LoadedMenu | null> {
    const { call } = s;
    s.menusEntered++;
    s.retries = 0;
    if (s.menusEntered > MAX_MENUS_PER_CALL) {
      await this.hangup(s, name, MENU_LOOP_REASON);
      return null;
    }
    let menu: LoadedMenu | null;
    try {
      menu = await this.deps.menus.get(name);
    } catch (err) {
      this.deps.logger.warn('menu unreadable', { call_id: call.id, menu: name, error: (err as Error).message });
      menu = null;
    }
    if (!menu) {
      this.deps.logger.warn('menu not found: hanging up', { call_id: call.id, menu: name });
      await this.hangup(s, name, MENU_NOT_FOUND_REASON);
      return null;
    }
    call.event('ivr_menu', { menu: menu.name, version: menu.version });
    return menu;
  }

  private async hangup(s: MenuSession, menu: string, reason: string): Promise<void> {
    s.call.event('ivr_hangup', { menu, reason });
    if (s.state !== 'done') s.transition('done');
    await this.deps.actions.hangup(s.call, reason);
  }

  /** What the wake-up means in this menu: an option, an invalid digit, a timeout; past the retries, the exhausted action. */
  private choose(s: MenuSession, menu: LoadedMenu, wake: Wake, bargeIn: boolean): { action: Action; trigger: Trigger } {
    const def: MenuDefinition = menu.definition;
    const { call } = s;
    if (wake.kind === 'digit') {
      const option = KEYS.has(wake.digit) ? def.options[wake.digit as MenuKey] : undefined;
      call.event('ivr_digit', {
        menu: menu.name,
        digit: wake.digit,
        source: wake.source,
        barge_in: bargeIn,
      });
      if (option) return { action: option, trigger: 'digit' };
      s.retries++;
      call.event('ivr_invalid', { menu: menu.name, digit: wake.digit, retries: s.retries });
      return this.retry(s, def, def.invalid_action, 'invalid');
    }
    s.retries++;
    call.event('ivr_timeout', { menu: menu.name, retries: s.retries });
    return this.retry(s, def, def.timeout_action, 'timeout');
  }

  private retry(
    s: MenuSession,
    def: MenuDefinition,
    action: Action | undefined,
    trigger: 'timeout' | 'invalid',
  ): { action: Action; trigger: Trigger } {
    if (s.retries > (def.max_retries ?? DEFAULT_MENU_MAX_RETRIES))
      return {
        action: def.retries_exhausted_action ?? { type: 'hangup', reason: RETRIES_EXHAUSTED_REASON },
        trigger: 'retries_exhausted',
      };
    return { action: action ?? { type: 'repeat' }, trigger };
  }

  private async act(s: MenuSession, menu: LoadedMenu, action: Action, trigger: Trigger): Promise<ActionOutcome> {
    const { call } = s;
    call.event('ivr_action', { menu: menu.name, trigger, ...describeAction(action) });
    if (action.type === 'menu') return { kind: 'menu', menu: action.menu };
    if (action.type === 'repeat') return { kind: 'replay', reason: 'repeat' };
    if (action.type === 'hangup') {
      const reason = action.reason ?? 'ivr_hangup';
      call.event('ivr_hangup', { menu: menu.name, reason });
      s.transition('done');
      return this.deps.actions.hangup(call, reason);
    }
    return this.deps.actions.run(call, action, {
      beforeHangup: (reason) => call.event('ivr_hangup', { menu: menu.name, reason }),
    });
  }

  /** Starts the menu's prompt; `done` resolves when it played (at once when it cannot be played). */
  private async play(s: MenuSession, menu: LoadedMenu): Promise<{ done: Promise<void>; stop(): void }> {
    const { call } = s;
    const prompt: Prompt = menu.definition.prompt;
    if ('ai_tts' in prompt && call.sayThroughAi) {
      const say = call.sayThroughAi.bind(call);
      const target = await this.deps.aiTargets.resolve(call, prompt.ai_route ? { ai_route: prompt.ai_route } : {});
      if (target) {
        const done = say(target, prompt.ai_tts).catch((err: Error) =>
          this.promptFailed(call, menu, 'ERR_IVR_TTS_FAILED', err),
        );
        return { done, stop: () => undefined };
      }
    }
    let playable: PlayablePrompt;
    if ('ai_tts' in prompt) {
      this.deps.metrics?.ivrAiTtsFallback();
      this.deps.logger.info('ai_tts prompt spoken by espeak-ng: the call cannot speak through the AI', {
        call_id: call.id,
        menu: menu.name,
      });
      playable = { text: prompt.ai_tts };
    } else playable = prompt;
    let payload: Uint8Array;
    try {
      payload = await this.deps.prompts.encoded(playable, call.codec);
    } catch (err) {
      this.promptFailed(call, menu, promptErrorCode(err), err as Error);
      return { done: Promise.resolve(), stop: () => undefined };
    }
    const clip = promptClip(payload, call.codec);
    call.play(clip);
    return {
      done: clip.done,
      stop: () => {
        if (clip.ended) return;
        clip.stop();
        call.play(null);
      },
    };
  }

  private promptFailed(call: CallHandle, menu: LoadedMenu, code: PromptErrorCode, err: Error): void {
    this.deps.metrics?.ivrPromptFailed(code);
    this.deps.logger.warn('menu prompt cannot be played: the menu waits for keys without it', {
      call_id: call.id,
      menu: menu.name,
      code,
      error: err.message,
    });
    call.event('ivr_prompt_failed', { menu: menu.name, code });
  }
}
