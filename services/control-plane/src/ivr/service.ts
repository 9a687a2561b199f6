import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { readWav } from '../../../common/src/audio/wav';
import type { Database } from '../../../common/src/db/schema';
import { AppError } from '../../../common/src/errors';
import type { MenuDefinition } from '../../../common/src/ivr/menu';
import type { Logger } from '../../../common/src/logger';
import { isUniqueViolation } from '../../../common/src/db/sqlstate';
import type { CreateMenuInput, ListQuery, UpdateMenuInput } from './schemas';
import type { TargetCheck } from './targets';

export interface MenuView {
  readonly name: string;
  readonly description: string | null;
  readonly definition: MenuDefinition;
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface PromptView {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly duration_ms: number;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface Page<T> {
  readonly items: T[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
}

const MENU_COLUMNS = ['name', 'description', 'definition', 'version', 'created_at', 'updated_at'] as const;

function menuView(r: {
  name: string;
  description: string | null;
  definition: unknown;
  version: number;
  created_at: Date;
  updated_at: Date;
}): MenuView {
  return {
    name: r.name,
    description: r.description,
    definition: r.definition as MenuDefinition,
    version: r.version,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

function menuNotFound(name: string): AppError {
  return new AppError('ERR_IVR_MENU_NOT_FOUND', `no IVR menu '${name}'`);
}

/**
 * IVR menus (ivr_menus). Every save is checked against the current targets and the
 * other menus first; an update bumps `version`, so gateways (which cache menus by
 * name and version) run the new one from the next call on.
 */
export class MenuService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly targets: TargetCheck,
    private readonly logger: Logger,
  ) {}

  async validate(input: CreateMenuInput): Promise<{ valid: true }> {
    await this.targets.checkMenu(input.name, input.definition);
    return { valid: true };
  }

  async create(input: CreateMenuInput): Promise<MenuView> {
    await this.targets.checkMenu(input.name, input.definition);
    try {
      const row = await this.db
        .insertInto('ivr_menus')
        .values({
          name: input.name,
          description: input.description ?? null,
          definition: JSON.stringify(input.definition),
        })
        .returning(MENU_COLUMNS)
        .executeTakeFirstOrThrow();
      this.logger.info('IVR menu created', { menu: input.name });
      return menuView(row);
    } catch (err) {
      if (isUniqueViolation(err))
        throw new AppError('ERR_IVR_MENU_EXISTS', `IVR menu '${input.name}' already exists`, {
          fields: [{ field: 'name', message: 'already exists' }],
        });
      throw err;
    }
  }

  async list(query: ListQuery): Promise<Page<MenuView>> {
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('ivr_menus')
        .select(MENU_COLUMNS)
        .orderBy('name')
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .execute(),
      this.db
        .selectFrom('ivr_menus')
        .select((eb) => eb.fn.countAll<number>().as('total'))
        .executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(menuView), total: Number(count.total), page: query.page, per_page: query.per_page };
  }

  async get(name: string): Promise<MenuView> {
    const row = await this.db.selectFrom('ivr_menus').select(MENU_COLUMNS).where('name', '=', name).executeTakeFirst();
    if (!row) throw menuNotFound(name);
    return menuView(row);
  }

  /** Re-checks a stored menu against the targets and menus as they are now. */
  async recheck(name: string): Promise<{ valid: true }> {
    const menu = await this.get(name);
    await this.targets.checkMenu(name, menu.definition);
    return { valid: true };
  }

  async update(name: string, input: UpdateMenuInput): Promise<MenuView> {
    await this.get(name);
    if (input.definition !== undefined) await this.targets.checkMenu(name, input.definition);
    const row = await this.db
      .updateTable('ivr_menus')
      .set({
        ...(input.description === undefined ? {} : { description: input.description }),
        ...(input.definition === undefined ? {} : { definition: JSON.stringify(input.definition) }),
        version: sql<number>`version + 1`,
        updated_at: sql<Date>`now()`,
      })
      .where('name', '=', name)
      .returning(MENU_COLUMNS)
      .executeTakeFirst();
    if (!row) throw menuNotFound(name);
    this.logger.info('IVR menu updated', { menu: name, version: row.version });
    return menuView(row);
  }

  async remove(name: string): Promise<{ name: string; deleted: true }> {
    await this.get(name);
    const usedBy = await this.targets.usedBy('menu', name);
    if (usedBy.length > 0)
      throw new AppError('ERR_IVR_MENU_IN_USE', `IVR menu '${name}' is still named by ${usedBy.join(', ')}`, {
        used_by: usedBy,
      });
    const row = await this.db.deleteFrom('ivr_menus').where('name', '=', name).returning('name').executeTakeFirst();
    if (!row) throw menuNotFound(name);
    this.logger.info('IVR menu deleted', { menu: name });
    return { name, deleted: true };
  }
}

const PROMPT_COLUMNS = [
  'name',
  'sha256',
  'duration_ms',
  'created_at',
  'updated_at',
  sql<number>`octet_length(audio)`.as('bytes'),
] as const;

function promptView(r: {
  name: string;
  sha256: string;
  duration_ms: number;
  bytes: number;
  created_at: Date;
  updated_at: Date;
}): PromptView {
  return {
    name: r.name,
    bytes: Number(r.bytes),
    sha256: r.sha256.trim(),
    duration_ms: r.duration_ms,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

function promptNotFound(name: string): AppError {
  return new AppError('ERR_IVR_PROMPT_NOT_FOUND', `no IVR prompt '${name}'`);
}

/** Sample rates a prompt may have: what the gateway's resampler takes to 8 kHz. */
const PROMPT_RATES = { min: 8000, max: 48000 };

/**
 * The duration of an uploaded WAV in ms, or 400 ERR_IVR_PROMPT_INVALID saying why
 * (the common WAV reader decides what a WAV is: 16-bit PCM, A-law, μ-law).
 */
export function promptDurationMs(file: Buffer): number {
  let audio;
  try {
    audio = readWav(file);
  } catch (err) {
    const reason = (err as Error).message;
    throw new AppError('ERR_IVR_PROMPT_INVALID', `the prompt is not a usable WAV file: ${reason}`, { reason });
  }
  const problem =
    audio.channels < 1 || audio.channels > 2
      ? `has ${audio.channels} channels (1 or 2 are taken)`
      : audio.sampleRate < PROMPT_RATES.min || audio.sampleRate > PROMPT_RATES.max
        ? `has a sample rate of ${audio.sampleRate} Hz (${PROMPT_RATES.min}..${PROMPT_RATES.max} are taken)`
        : audio.pcm.length < audio.channels
          ? 'holds no audio'
          : undefined;
  if (problem !== undefined) throw new AppError('ERR_IVR_PROMPT_INVALID', `the prompt ${problem}`, { reason: problem });
  return Math.round((audio.pcm.length / audio.channels / audio.sampleRate) * 1000);
}

/** Uploaded prompts (ivr_prompts): every gateway replica reads the WAV from here. */
export class PromptService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly targets: TargetCheck,
    private readonly logger: Logger,
  ) {}

  /** Stores or replaces a prompt; says which (201 / 200). */
  async put(name: string, file: Buffer): Promise<{ status: 200 | 201; body: PromptView }> {
    const durationMs = promptDurationMs(file);
    const sha256 = createHash('sha256').update(file).digest('hex');
    const row = await this.db
      .insertInto('ivr_prompts')
      .values({ name, audio: file, sha256, duration_ms: durationMs })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet((eb) => ({
          audio: eb.ref('excluded.audio'),
          sha256: eb.ref('excluded.sha256'),
          duration_ms: eb.ref('excluded.duration_ms'),
          updated_at: sql<Date>`now()`,
        })),
      )
      // xmax = 0 only for a freshly inserted row (PostgreSQL's upsert idiom).
      .returning([...PROMPT_COLUMNS, sql<boolean>`(xmax = 0)`.as('created')])
      .executeTakeFirstOrThrow();
    this.logger.info('IVR prompt stored', { prompt: name, bytes: file.length, duration_ms: durationMs });
    return { status: row.created ? 201 : 200, body: promptView(row) };
  }

  async list(query: ListQuery): Promise<Page<PromptView>> {
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('ivr_prompts')
        .select(PROMPT_COLUMNS)
        .orderBy('name')
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .execute(),
      this.db
        .selectFrom('ivr_prompts')
        .select((eb) => eb.fn.countAll<number>().as('total'))
        .executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(promptView), total: Number(count.total), page: query.page, per_page: query.per_page };
  }

  async get(name: string): Promise<PromptView> {
    const row = await this.db
      .selectFrom('ivr_prompts')
      .select(PROMPT_COLUMNS)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw promptNotFound(name);
    return promptView(row);
  }

  async audio(name: string): Promise<Buffer> {
    const row = await this.db.selectFrom('ivr_prompts').select('audio').where('name', '=', name).executeTakeFirst();
    if (!row) throw promptNotFound(name);
    return row.audio;
  }

  async remove(name: string): Promise<{ name: string; deleted: true }> {
    await this.get(name);
    const usedBy = await this.targets.usedBy('prompt', name);
    if (usedBy.length > 0)
      throw new AppError('ERR_IVR_PROMPT_IN_USE', `IVR prompt '${name}' is still played by ${usedBy.join(', ')}`, {
        used_by: usedBy,
      });
    const row = await this.db.deleteFrom('ivr_prompts').where('name', '=', name).returning('name').executeTakeFirst();
    if (!row) throw promptNotFound(name);
    this.logger.info('IVR prompt deleted', { prompt: name });
    return { name, deleted: true };
  }
}
