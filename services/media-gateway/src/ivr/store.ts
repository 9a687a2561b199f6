import Ajv from 'ajv';
import type { Kysely } from 'kysely';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { Database } from '../../../common/src/db/schema';
import type { MenuDefinition } from '../../../common/src/ivr/menu';
import { MENU_DEFINITION_SCHEMA } from '../../../common/src/ivr/schema';
import type { PromptRows } from './prompts';

/** A menu as the runner plays it: its definition at one version. */
export interface LoadedMenu {
  readonly name: string;
  readonly version: number;
  readonly definition: MenuDefinition;
}

/** An AI route (ai_routes) as an AI action resolves it. */
export interface AiRouteRow {
  readonly name: string;
  /** null: the platform's default AI. */
  readonly agentUrl: string | null;
  readonly dialect: Dialect;
  readonly options: Readonly<Record<string, unknown>>;
}

/** What the IVR reads of PostgreSQL. */
export interface IvrRows extends PromptRows {
  /** The menu's current version, or null when there is no such menu. */
  menuVersion(name: string): Promise<number | null>;
  menu(name: string): Promise<LoadedMenu | null>;
  aiRoute(name: string): Promise<AiRouteRow | null>;
}

/**
 * Checked again here with the schema the API saved it under (common/src/ivr/schema.ts):
 * a row written past the API hangs the call up with a reason instead of failing mid-menu.
 */
const validMenu = new Ajv({ allErrors: false }).compile<MenuDefinition>(MENU_DEFINITION_SCHEMA);

export function isMenuDefinition(value: unknown): value is MenuDefinition {
  return validMenu(value);
}

export class PgIvrRows implements IvrRows {
  constructor(private readonly db: Kysely<Database>) {}

  async menuVersion(name: string): Promise<number | null> {
    const row = await this.db.selectFrom('ivr_menus').select('version').where('name', '=', name).executeTakeFirst();
    return row?.version ?? null;
  }

  async menu(name: string): Promise<LoadedMenu | null> {
    const row = await this.db
      .selectFrom('ivr_menus')
      .select(['name', 'version', 'definition'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) return null;
    if (!isMenuDefinition(row.definition)) throw new TypeError(`menu '${name}' version ${row.version} is malformed`);
    return { name: row.name, version: row.version, definition: row.definition };
  }

  async aiRoute(name: string): Promise<AiRouteRow | null> {
    const row = await this.db
      .selectFrom('ai_routes')
      .select(['name', 'agent_url', 'dialect', 'options'])
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? { name: row.name, agentUrl: row.agent_url, dialect: row.dialect, options: row.options ?? {} } : null;
  }

  async promptHash(name: string): Promise<string | null> {
    const row = await this.db.selectFrom('ivr_prompts').select('sha256').where('name', '=', name).executeTakeFirst();
    return row?.sha256 ?? null;
  }

  async promptAudio(name: string): Promise<{ audio: Buffer; sha256: string } | null> {
    const row = await this.db
      .selectFrom('ivr_prompts')
      .select(['audio', 'sha256'])
      .where('name', '=', name)
      .executeTakeFirst();
    return row ?? null;
  }
}

/**
 * Menus by name and version: each call asks the version (one small row) and reads the
 * definition only when it changed, so an update applies from the next call on.
 */
export class MenuCache {
  private readonly menus = new Map<string, LoadedMenu>();

  constructor(private readonly rows: Pick<IvrRows, 'menuVersion' | 'menu'>) {}

  /** The menu's current definition, or null when there is no such menu. */
  async get(name: string): Promise<LoadedMenu | null> {
    const version = await this.rows.menuVersion(name);
    if (version === null) {
      this.menus.delete(name);
      return null;
    }
    const cached = this.menus.get(name);
    if (cached && cached.version === version) return cached;
    const menu = await this.rows.menu(name);
    if (menu) this.menus.set(name, menu);
    else this.menus.delete(name);
    return menu;
  }
}
