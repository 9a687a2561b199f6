import { DIALECTS } from '../ai-protocol/dialect';
import type { Action, MenuDefinition, MenuKey, Prompt } from './menu';

/**
 * JSON Schemas (draft-07, ajv strict mode) of the menu and action JSON in
 * ./menu.ts: the control-plane checks every body with them before it stores one,
 * and a gateway may check what it reads back. They check shape only; whether the
 * names exist (and menus do not loop) is the API's referential check.
 */

/** ai_routes, ivr_menus and queues names (db/migrations/0053_ivr_queues.sql CHECKs). */
export const ROUTE_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
/** ivr_prompts names: a dot is allowed (`welcome.en`). */
export const PROMPT_NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,63}$';
/** A SIP user name as the users API allows it (control-plane sip-users/schemas.ts USERNAME_PATTERN). */
export const SIP_USERNAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$';
/** An E.164 number's shape; the API checks it with libphonenumber too. */
export const E164_PATTERN = '^\\+[1-9][0-9]{1,14}$';
export const MENU_KEYS: readonly MenuKey[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];

const routeName = { type: 'string', pattern: ROUTE_NAME_PATTERN } as const;
const ringTimeout = {
  type: 'integer',
  minimum: 5,
  maximum: 300,
  description: 'How long the target rings (5..300 s).',
} as const;
const priority = { type: 'integer', minimum: 0, maximum: 100, description: 'Higher first (0..100).' } as const;

/** One action type's own fields (besides `type`). */
const ACTION_FIELDS = {
  ai: {
    ai_route: { ...routeName, description: 'An AI route (ai_routes.name): its URL, dialect, options and limit.' },
    number: {
      type: 'string',
      pattern: E164_PATTERN,
      description: 'A number of ours routed to the AI: its AI settings and its concurrency limit.',
    },
    url: { type: 'string', maxLength: 1024, pattern: '^wss?://[^\\s]+$', description: 'An AI WebSocket URL.' },
    dialect: { type: 'string', enum: [...DIALECTS], description: 'With `url` only (default olib).' },
  },
  sip_user: {
    username: { type: 'string', pattern: SIP_USERNAME_PATTERN },
    ring_timeout_seconds: ringTimeout,
  },
  queue: { queue: routeName, priority },
  external: {
    number: { type: 'string', pattern: E164_PATTERN, description: 'E.164, dialled through the trunks.' },
    ring_timeout_seconds: ringTimeout,
  },
  menu: { menu: routeName },
  repeat: {},
  hangup: { reason: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' } },
  busy: {},
  voicemail: { ai_route: routeName },
} as const;

const REQUIRED: Partial<Record<keyof typeof ACTION_FIELDS, readonly string[]>> = {
  sip_user: ['username'],
  queue: ['queue'],
  external: ['number'],
  menu: ['menu'],
};

/** Types a menu option, timeout, invalid-input or leave action may take. */
export const MENU_ACTION_TYPES = ['ai', 'sip_user', 'queue', 'external', 'menu', 'repeat', 'hangup'] as const;
/** A queue overflow (max wait, max length) may also answer busy or take a voicemail. */
export const OVERFLOW_ACTION_TYPES = [...MENU_ACTION_TYPES, 'busy', 'voicemail'] as const;

function actionSchema(types: readonly (keyof typeof ACTION_FIELDS)[], description: string): object {
  return {
    type: 'object',
    description,
    required: ['type'],
    properties: { type: { type: 'string', enum: [...types] } },
    // One if/then per type: errors name the field of the type given, not every type's.
    allOf: types.map((t) => ({
      if: { properties: { type: { const: t } }, required: ['type'] },
      then: {
        type: 'object',
        properties: { type: { const: t }, ...ACTION_FIELDS[t] },
        required: ['type', ...(REQUIRED[t] ?? [])],
        additionalProperties: false,
        ...(t === 'ai'
          ? {
              // Exactly one of ai_route, number, url; a dialect goes with a url.
              oneOf: (['ai_route', 'number', 'url'] as const).map((k) => ({
                properties: { [k]: true },
                required: [k],
              })),
              dependencies: { dialect: ['url'] },
            }
          : {}),
      },
    })),
  };
}

/** An Action a menu option, timeout, invalid digit, retry limit or queue leave digit takes. */
export const ACTION_SCHEMA = actionSchema(
  MENU_ACTION_TYPES,
  'ai (exactly one of ai_route, number, url [+ dialect]), sip_user (username), queue (queue [+ priority]), external (number, E.164), menu (menu), repeat, hangup [reason].',
);
/** A queue's max-wait or max-length action: an ACTION_SCHEMA action, busy or voicemail [ai_route]. */
export const OVERFLOW_ACTION_SCHEMA = actionSchema(
  OVERFLOW_ACTION_TYPES,
  'Any menu action, or busy (486 before answer, a busy tone after), or voicemail [ai_route] (the AI takes a message).',
);

export const PROMPT_SCHEMA = {
  type: 'object',
  description:
    'text [+ voice] (espeak-ng on the gateway, cached), file (an uploaded prompt) or ai_tts [+ ai_route] (spoken by the AI platform).',
  oneOf: [
    {
      type: 'object',
      properties: {
        text: { type: 'string', minLength: 1, maxLength: 2000 },
        voice: { type: 'string', minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9_+-]+$' },
      },
      required: ['text'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { file: { type: 'string', pattern: PROMPT_NAME_PATTERN } },
      required: ['file'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { ai_tts: { type: 'string', minLength: 1, maxLength: 2000 }, ai_route: routeName },
      required: ['ai_tts'],
      additionalProperties: false,
    },
  ],
} as const;

export const MENU_DEFINITION_SCHEMA = {
  type: 'object',
  properties: {
    prompt: PROMPT_SCHEMA,
    options: {
      type: 'object',
      description: 'Digit (0-9, *, #) → action.',
      propertyNames: { pattern: '^[0-9*#]$' },
      additionalProperties: ACTION_SCHEMA,
    },
    timeout_seconds: { type: 'integer', minimum: 1, maximum: 60, description: 'Default 5.' },
    timeout_action: ACTION_SCHEMA,
    invalid_action: ACTION_SCHEMA,
    max_retries: { type: 'integer', minimum: 0, maximum: 10, description: 'Default 3.' },
    retries_exhausted_action: ACTION_SCHEMA,
  },
  required: ['prompt', 'options'],
  additionalProperties: false,
} as const;

/** How a caller gets from a menu to an action: a key press, or pressing nothing useful. */
export type ActionTrigger = 'key' | 'timeout' | 'invalid' | 'retries_exhausted';

export interface PlacedAction {
  /** Where in the definition, e.g. `options[1]`, `options.*`, `timeout_action`. */
  readonly field: string;
  readonly trigger: ActionTrigger;
  readonly action: Action;
}

/** `options[1]`, `options.*`: field names as the API's validation errors spell them (digits in brackets). */
export function optionField(key: string, prefix = 'options'): string {
  return /^[0-9]+$/.test(key) ? `${prefix}[${key}]` : `${prefix}.${key}`;
}

/** Every action of a menu with where it sits and what triggers it. */
export function menuActions(menu: MenuDefinition): PlacedAction[] {
  const out: PlacedAction[] = [];
  for (const key of MENU_KEYS) {
    const action = menu.options[key];
    if (action) out.push({ field: optionField(key), trigger: 'key', action });
  }
  if (menu.timeout_action) out.push({ field: 'timeout_action', trigger: 'timeout', action: menu.timeout_action });
  if (menu.invalid_action) out.push({ field: 'invalid_action', trigger: 'invalid', action: menu.invalid_action });
  if (menu.retries_exhausted_action)
    out.push({
      field: 'retries_exhausted_action',
      trigger: 'retries_exhausted',
      action: menu.retries_exhausted_action,
    });
  return out;
}

/** What an action or prompt names that must exist. */
export type TargetKind = 'ai_route' | 'queue' | 'menu' | 'sip_user' | 'prompt' | 'number';

export interface TargetRef {
  readonly kind: TargetKind;
  readonly name: string;
  readonly field: string;
}

/** The names an action refers to (`field` is where the action sits). */
export function actionTargets(action: Action, field: string): TargetRef[] {
  switch (action.type) {
    case 'ai':
      if (action.ai_route !== undefined)
        return [{ kind: 'ai_route', name: action.ai_route, field: `${field}.ai_route` }];
      if (action.number !== undefined) return [{ kind: 'number', name: action.number, field: `${field}.number` }];
      return [];
    case 'sip_user':
      return [{ kind: 'sip_user', name: action.username, field: `${field}.username` }];
    case 'queue':
      return [{ kind: 'queue', name: action.queue, field: `${field}.queue` }];
    case 'menu':
      return [{ kind: 'menu', name: action.menu, field: `${field}.menu` }];
    case 'voicemail':
      return action.ai_route === undefined
        ? []
        : [{ kind: 'ai_route', name: action.ai_route, field: `${field}.ai_route` }];
    default:
      return [];
  }
}

/** The names a prompt refers to. */
export function promptTargets(prompt: Prompt, field = 'prompt'): TargetRef[] {
  if ('file' in prompt) return [{ kind: 'prompt', name: prompt.file, field: `${field}.file` }];
  if ('ai_tts' in prompt && prompt.ai_route !== undefined)
    return [{ kind: 'ai_route', name: prompt.ai_route, field: `${field}.ai_route` }];
  return [];
}

/** Everything a menu names: its prompt's file or AI route, and each action's target. */
export function menuTargets(menu: MenuDefinition): TargetRef[] {
  return [...promptTargets(menu.prompt), ...menuActions(menu).flatMap((p) => actionTargets(p.action, p.field))];
}

/**
 * A loop of menus a caller who presses nothing useful would go round for ever: each
 * step a timeout, invalid-input or retries-exhausted action of type menu (each menu
 * starts its retry count afresh, so the retry limit never ends it). Key presses are
 * not edges: a caller who presses a key chose to go round. Returns the first loop
 * found as its menu names with the first repeated at the end (`['a', 'b', 'a']`),
 * with the field of each step, or undefined. With `from`, only loops a caller can
 * reach from that menu without a key press.
 */
export function findSilentLoop(
  menus: ReadonlyMap<string, MenuDefinition>,
  from?: string,
): { readonly menus: string[]; readonly fields: string[] } | undefined {
  const edges = new Map<string, Array<{ to: string; field: string }>>();
  for (const [name, menu] of menus) {
    edges.set(
      name,
      menuActions(menu)
        .filter((p) => p.trigger !== 'key' && p.action.type === 'menu')
        .map((p) => ({ to: (p.action as { menu: string }).menu, field: p.field })),
    );
  }
  // Depth-first search with colours (white: unseen, grey: on the path, black: done); iterative.
  const colour = new Map<string, 'grey' | 'black'>();
  for (const start of from === undefined ? [...menus.keys()].sort() : [from]) {
    if (colour.has(start)) continue;
    const path: Array<{ name: string; next: number; field?: string }> = [{ name: start, next: 0 }];
    colour.set(start, 'grey');
    while (path.length > 0) {
      const top = path[path.length - 1] as { name: string; next: number; field?: string };
      const out = edges.get(top.name) ?? [];
      if (top.next >= out.length) {
        colour.set(top.name, 'black');
        path.pop();
        continue;
      }
      const edge = out[top.next++] as { to: string; field: string };
      if (!edges.has(edge.to)) continue;
      const seen = colour.get(edge.to);
      if (seen === 'grey') {
        const from = path.findIndex((p) => p.name === edge.to);
        const loop = path.slice(from);
        const fields = [...loop.slice(1).map((p) => p.field as string), edge.field];
        return { menus: [...loop.map((p) => p.name), edge.to], fields };
      }
      if (seen === undefined) {
        colour.set(edge.to, 'grey');
        path.push({ name: edge.to, next: 0, field: edge.field });
      }
    }
  }
  return undefined;
}
