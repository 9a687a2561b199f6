import Ajv from 'ajv';
import type { MenuDefinition } from './menu';
import { ACTION_SCHEMA, MENU_DEFINITION_SCHEMA, OVERFLOW_ACTION_SCHEMA, findSilentLoop, menuTargets } from './schema';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const menuValid = ajv.compile(MENU_DEFINITION_SCHEMA);
const actionValid = ajv.compile(ACTION_SCHEMA);
const overflowValid = ajv.compile(OVERFLOW_ACTION_SCHEMA);

const menu = (m: Partial<MenuDefinition> = {}): MenuDefinition => ({ prompt: { text: 'Hi' }, options: {}, ...m });

describe('menu and action schemas', () => {
  test('a menu with every action type → valid', () => {
    expect(
      menuValid({
        prompt: { file: 'welcome.en' },
        options: {
          '0': { type: 'ai', ai_route: 'sales' },
          '1': { type: 'ai', url: 'wss://a.example/x', dialect: 'twilio' },
          '2': { type: 'ai', number: '+14155550123' },
          '3': { type: 'sip_user', username: 'alice', ring_timeout_seconds: 20 },
          '4': { type: 'queue', queue: 'sales', priority: 5 },
          '5': { type: 'external', number: '+442079460000' },
          '6': { type: 'menu', menu: 'sub' },
          '*': { type: 'repeat' },
          '#': { type: 'hangup', reason: 'bye' },
        },
        timeout_action: { type: 'repeat' },
        max_retries: 2,
      }),
    ).toBe(true);
  });

  test('an ai action with two targets, a dialect without url, or an unknown field → invalid', () => {
    expect(actionValid({ type: 'ai', ai_route: 'a', url: 'ws://x' })).toBe(false);
    expect(actionValid({ type: 'ai', ai_route: 'a', dialect: 'olib' })).toBe(false);
    expect(actionValid({ type: 'queue', queue: 'a', username: 'b' })).toBe(false);
    expect(actionValid({ type: 'queue' })).toBe(false);
    expect(actionValid({ type: 'nope' })).toBe(false);
  });

  test('busy and voicemail → only as overflow actions', () => {
    expect(actionValid({ type: 'busy' })).toBe(false);
    expect(overflowValid({ type: 'busy' })).toBe(true);
    expect(overflowValid({ type: 'voicemail', ai_route: 'x' })).toBe(true);
  });

  test('a key that is not a digit, * or # → invalid', () => {
    expect(menuValid({ prompt: { text: 'x' }, options: { a: { type: 'repeat' } } })).toBe(false);
  });

  test('menuTargets → each named thing with its field', () => {
    expect(
      menuTargets(
        menu({
          prompt: { file: 'p' },
          options: { '1': { type: 'queue', queue: 'q' } },
          timeout_action: { type: 'menu', menu: 'm' },
        }),
      ),
    ).toEqual([
      { kind: 'prompt', name: 'p', field: 'prompt.file' },
      { kind: 'queue', name: 'q', field: 'options[1].queue' },
      { kind: 'menu', name: 'm', field: 'timeout_action.menu' },
    ]);
  });
});

describe('findSilentLoop', () => {
  test('a → b → a through timeout and invalid actions → the loop with its fields', () => {
    const menus = new Map([
      ['a', menu({ timeout_action: { type: 'menu', menu: 'b' } })],
      ['b', menu({ invalid_action: { type: 'menu', menu: 'a' } })],
    ]);
    expect(findSilentLoop(menus)).toEqual({ menus: ['a', 'b', 'a'], fields: ['timeout_action', 'invalid_action'] });
  });

  test('a loop closed by a key press → none', () => {
    const menus = new Map([
      ['a', menu({ timeout_action: { type: 'menu', menu: 'b' } })],
      ['b', menu({ options: { '1': { type: 'menu', menu: 'a' } } })],
    ]);
    expect(findSilentLoop(menus)).toBeUndefined();
  });

  test('a menu timing out into itself → a loop of one', () => {
    const menus = new Map([['a', menu({ retries_exhausted_action: { type: 'menu', menu: 'a' } })]]);
    expect(findSilentLoop(menus)).toEqual({ menus: ['a', 'a'], fields: ['retries_exhausted_action'] });
  });

  test('from a menu outside a loop it cannot reach → none', () => {
    const menus = new Map([
      ['a', menu({ timeout_action: { type: 'menu', menu: 'a' } })],
      ['c', menu({ timeout_action: { type: 'hangup' } })],
    ]);
    expect(findSilentLoop(menus, 'c')).toBeUndefined();
    expect(findSilentLoop(menus, 'a')).toBeDefined();
  });
});
