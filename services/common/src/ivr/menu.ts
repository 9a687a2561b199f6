import type { Dialect } from '../ai-protocol/dialect';

/**
 * IVR menus and the actions menus and queues take (docs/ivr-and-queues.md). The
 * control-plane checks a menu against these types (ajv) before it stores it, and
 * the media gateway runs the stored JSON as typed here.
 */

/** What a caller hears when a menu starts (and on every repeat). */
export type Prompt =
  /** Spoken by espeak-ng on the gateway; the rendered audio is cached by its text and voice. */
  | { readonly text: string; readonly voice?: string }
  /** An uploaded WAV prompt (ivr_prompts.name). */
  | { readonly file: string }
  /** Spoken by the AI platform's own TTS: the gateway sends the text over the AI WebSocket (the ivr_prompt event). */
  | { readonly ai_tts: string; readonly ai_route?: string };

/** Where an AI action sends the caller. Exactly one of `ai_route`, `number`, `url`. */
export interface AiAction {
  readonly type: 'ai';
  /** ai_routes.name: its URL, dialect, options and concurrency limit. */
  readonly ai_route?: string;
  /** A number of ours routed to the AI: its AI settings and its concurrency limit. */
  readonly number?: string;
  /** An AI WebSocket URL, with `dialect` (default olib). */
  readonly url?: string;
  readonly dialect?: Dialect;
}

export type Action =
  | AiAction
  | { readonly type: 'sip_user'; readonly username: string; readonly ring_timeout_seconds?: number }
  | { readonly type: 'queue'; readonly queue: string; readonly priority?: number }
  /** An E.164 number dialled through the trunks (the gateway bridges the caller to it). */
  | { readonly type: 'external'; readonly number: string; readonly ring_timeout_seconds?: number }
  | { readonly type: 'menu'; readonly menu: string }
  | { readonly type: 'repeat' }
  | { readonly type: 'hangup'; readonly reason?: string }
  /** Queue overflow only: the caller gets 486 Busy Here before answer, or hears a busy tone and a BYE after. */
  | { readonly type: 'busy' }
  /** Queue overflow: the AI takes a message (the AI's start frame carries custom parameter mode=voicemail). */
  | { readonly type: 'voicemail'; readonly ai_route?: string };

export type ActionType = Action['type'];

/** Digits a caller can press: 0-9, *, #. */
export type MenuKey = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#';

export interface MenuDefinition {
  readonly prompt: Prompt;
  /** Digit → action. */
  readonly options: Readonly<Partial<Record<MenuKey, Action>>>;
  /** How long after the prompt the menu waits for a digit (1..60 s, default 5). */
  readonly timeout_seconds?: number;
  /** What silence does (default repeat). */
  readonly timeout_action?: Action;
  /** What a digit with no option does (default repeat). */
  readonly invalid_action?: Action;
  /** How many repeats (timeouts and invalid digits together) before `retries_exhausted_action` (default 3). */
  readonly max_retries?: number;
  /** Default: hang up with reason `ivr_retries_exhausted`. */
  readonly retries_exhausted_action?: Action;
}

export const DEFAULT_MENU_TIMEOUT_SECONDS = 5;
export const DEFAULT_MENU_MAX_RETRIES = 3;
export const RETRIES_EXHAUSTED_REASON = 'ivr_retries_exhausted';
