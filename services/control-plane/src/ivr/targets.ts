import type { Kysely } from 'kysely';
import type { Database } from '../../../common/src/db/schema';
import { AppError } from '../../../common/src/errors';
import type { Action, MenuDefinition } from '../../../common/src/ivr/menu';
import {
  actionTargets,
  findSilentLoop,
  menuTargets,
  optionField,
  type TargetKind,
  type TargetRef,
} from '../../../common/src/ivr/schema';
import { parseE164 } from '../numbers/e164';

/** How a target is named in messages and in `details.target`: `queue 'sales'`. */
export function targetLabel(kind: TargetKind, name: string): string {
  const noun: Record<TargetKind, string> = {
    ai_route: 'AI route',
    queue: 'queue',
    menu: 'menu',
    sip_user: 'SIP user',
    prompt: 'prompt',
    number: 'AI number',
  };
  return `${noun[kind]} '${name}'`;
}

/** A queue's stored actions, by column. */
export const QUEUE_ACTION_FIELDS = ['max_wait_action', 'max_length_action', 'leave_action'] as const;

/** The actions a queue row holds (null columns left out). */
export function queueActions(row: Readonly<Record<(typeof QUEUE_ACTION_FIELDS)[number], unknown>>): Array<{
  field: string;
  action: Action;
}> {
  return QUEUE_ACTION_FIELDS.filter((f) => row[f] !== null && row[f] !== undefined).map((f) => ({
    field: f,
    action: row[f] as Action,
  }));
}

/**
 * The referential checks of menus, queue actions, queue agents and routes: every
 * AI route, queue, menu, SIP user, uploaded prompt and AI number an action names
 * exists (400 ERR_IVR_TARGET_NOT_FOUND naming it), every external number is E.164,
 * and menus never loop without a key press (400 ERR_IVR_CYCLE). Also answers who
 * still names a thing, for the 409s of deletes.
 */
export class TargetCheck {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Throws for the first ref that names nothing. `pending` are names being saved in
   * the same request (a menu may name itself).
   */
  async assertExist(refs: readonly TargetRef[], pending: Partial<Record<TargetKind, string>> = {}): Promise<void> {
    const wanted = new Map<TargetKind, Set<string>>();
    for (const ref of refs) {
      if (pending[ref.kind] === ref.name) continue;
      const set = wanted.get(ref.kind) ?? new Set<string>();
      set.add(ref.name);
      wanted.set(ref.kind, set);
    }
    const found = new Map<TargetKind, Set<string>>();
    await Promise.all([...wanted].map(async ([kind, names]) => found.set(kind, await this.existing(kind, [...names]))));
    for (const ref of refs) {
      if (pending[ref.kind] === ref.name) continue;
      if (found.get(ref.kind)?.has(ref.name)) continue;
      const target = targetLabel(ref.kind, ref.name);
      throw new AppError('ERR_IVR_TARGET_NOT_FOUND', `${ref.field} names ${target}, which does not exist`, {
        target,
        field: ref.field,
      });
    }
  }

  private async existing(kind: TargetKind, names: string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    let rows: Array<{ name: string }>;
    switch (kind) {
      case 'ai_route':
        rows = await this.db.selectFrom('ai_routes').select('name').where('name', 'in', names).execute();
        break;
      case 'queue':
        rows = await this.db.selectFrom('queues').select('name').where('name', 'in', names).execute();
        break;
      case 'menu':
        rows = await this.db.selectFrom('ivr_menus').select('name').where('name', 'in', names).execute();
        break;
      case 'prompt':
        rows = await this.db.selectFrom('ivr_prompts').select('name').where('name', 'in', names).execute();
        break;
      case 'sip_user':
        rows = await this.db
          .selectFrom('subscriber')
          .select('username as name')
          .where('username', 'in', names)
          .execute();
        break;
      case 'number':
        rows = await this.db
          .selectFrom('numbers')
          .select('number as name')
          .where('number', 'in', names)
          .where('route_type', '=', 'ai')
          .execute();
        break;
    }
    return new Set(rows.map((r) => r.name));
  }

  /** External and AI numbers must be E.164 numbers libphonenumber can parse (400 naming the field). */
  assertNumbers(actions: ReadonlyArray<{ field: string; action: Action }>): void {
    for (const { field, action } of actions) {
      if (action.type !== 'external' && !(action.type === 'ai' && action.number !== undefined)) continue;
      const number = action.number as string;
      const parsed = parseE164(number);
      if (!parsed.ok) {
        throw new AppError('ERR_VALIDATION', `request body is invalid: ${field}.number ${parsed.problem}`, {
          fields: [{ field: `${field}.number`, message: parsed.problem }],
        });
      }
    }
  }

  /** The full check of a menu about to be stored under `name` (or re-checked as stored). */
  async checkMenu(name: string, menu: MenuDefinition, prefix = 'definition'): Promise<void> {
    const placed = menuPlaced(menu, prefix);
    this.assertNumbers(placed);
    await this.assertExist(
      menuTargets(menu).map((r) => ({ ...r, field: `${prefix}.${r.field}` })),
      { menu: name },
    );
    const menus = await this.allMenus();
    menus.set(name, menu);
    const loop = findSilentLoop(menus, name);
    if (loop) {
      const steps = loop.menus
        .slice(0, -1)
        .map((m, i) => `${m} (${loop.fields[i] ?? ''})`)
        .join(' → ');
      throw new AppError(
        'ERR_IVR_CYCLE',
        `menus loop without a key press: ${steps} → ${loop.menus[loop.menus.length - 1] ?? ''}`,
        { cycle: loop.menus, fields: loop.fields },
      );
    }
  }

  /** The checks of a queue's actions (`fields` prefix: the body's field names). */
  async checkActions(actions: ReadonlyArray<{ field: string; action: Action }>): Promise<void> {
    this.assertNumbers(actions);
    await this.assertExist(actions.flatMap(({ field, action }) => actionTargets(action, field)));
  }

  async allMenus(): Promise<Map<string, MenuDefinition>> {
    const rows = await this.db.selectFrom('ivr_menus').select(['name', 'definition']).execute();
    return new Map(rows.map((r) => [r.name, r.definition as MenuDefinition]));
  }

  /**
   * Who still names `kind` `name`: numbers, AI routes, menus, queue actions and queue
   * agents, each as a short label (`menu 'main' (options[1].menu)`). Empty when nothing does.
   */
  async usedBy(kind: 'ai_route' | 'queue' | 'menu' | 'prompt', name: string): Promise<string[]> {
    const out: string[] = [];
    if (kind === 'queue' || kind === 'menu') {
      const numbers = await this.db
        .selectFrom('numbers')
        .select('number')
        .where((w) =>
          kind === 'queue'
            ? w.or([w('queue', '=', name), w.and([w('route_type', '=', 'queue'), w('target', '=', name)])])
            : w.and([w('route_type', '=', 'ivr'), w('target', '=', name)]),
        )
        .orderBy('number')
        .execute();
      out.push(...numbers.map((n) => `number ${n.number}`));
    }
    if (kind === 'queue') {
      const routes = await this.db.selectFrom('ai_routes').select('name').where('queue', '=', name).execute();
      out.push(...routes.map((r) => `AI route '${r.name}'`));
    }
    if (kind === 'ai_route') {
      const agents = await this.db.selectFrom('queue_agents').select('queue').where('ai_route', '=', name).execute();
      out.push(...agents.map((a) => `queue '${a.queue}' (agent)`));
    }
    const names = (refs: TargetRef[]): string[] =>
      refs.filter((r) => r.kind === kind && r.name === name).map((r) => r.field);
    for (const [menu, definition] of await this.allMenus()) {
      if (kind === 'menu' && menu === name) continue;
      for (const field of names(menuTargets(definition))) out.push(`menu '${menu}' (${field})`);
    }
    if (kind !== 'prompt') {
      const queues = await this.db
        .selectFrom('queues')
        .select(['name', 'max_wait_action', 'max_length_action', 'leave_action'])
        .execute();
      for (const q of queues) {
        if (kind === 'queue' && q.name === name) continue;
        for (const { field, action } of queueActions(q))
          for (const f of names(actionTargets(action, field))) out.push(`queue '${q.name}' (${f})`);
      }
    }
    return out;
  }
}

function menuPlaced(menu: MenuDefinition, prefix: string): Array<{ field: string; action: Action }> {
  const out: Array<{ field: string; action: Action }> = [];
  for (const [key, action] of Object.entries(menu.options))
    if (action) out.push({ field: optionField(key, `${prefix}.options`), action });
  for (const f of ['timeout_action', 'invalid_action', 'retries_exhausted_action'] as const) {
    const action = menu[f];
    if (action) out.push({ field: `${prefix}.${f}`, action });
  }
  return out;
}
