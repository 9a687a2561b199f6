import { AppError, type FieldError } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { HTABLE_BLOCK_HITS, HTABLE_BLOCKED, HTABLE_DID } from '../../../common/src/kamailio/names';
import type { KamailioControl } from '../kamailio/control';
import { kamailioProblem } from '../kamailio/control';
import { reloadWarning, type KamailioSync } from '../trunks/kamailio-sync';
import { parseE164, parseE164Path } from './e164';
import { checkRoute, forwardsToUser, kamailioRouteValue, type NumberRoute } from './route-target';
import type {
  BlockNumberInput,
  CreateNumberInput,
  ListBlockedQuery,
  ListNumbersQuery,
  UpdateNumberInput,
} from './schemas';
import {
  NumberExistsError,
  UnknownTrunkError,
  type BlockedNumberRow,
  type NumberPatch,
  type NumberRow,
  type NumberStore,
} from './store';

export interface NumberView {
  readonly number: string;
  readonly route_type: NumberRow['route_type'];
  readonly target: string | null;
  readonly ai_dialect: string | null;
  readonly ai_agent_url: string | null;
  readonly ai_options: Record<string, unknown> | null;
  readonly forward_timeout_seconds: number | null;
  readonly forward_fallback: NumberRow['forward_fallback'];
  readonly trunk_id: string | null;
  readonly recording_enabled: boolean;
  readonly enabled: boolean;
  readonly description: string | null;
  readonly hold_music: string | null;
  readonly max_concurrent_calls: number | null;
  readonly queue: string | null;
  readonly queue_priority: number;
  readonly kamailio_route: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly warning?: string;
}

export interface NumberPage {
  readonly items: NumberView[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
}

export interface BlockedNumberView {
  readonly number: string;
  readonly reason: string | null;
  readonly blocked_at: string;
  readonly updated_at: string;
  readonly blocked_calls: number | null;
  readonly already_blocked?: boolean;
  readonly warning?: string;
}

export interface BlockedPage {
  readonly items: BlockedNumberView[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
  readonly kamailio_error?: string;
}

function invalid(source: 'body' | 'path', fields: FieldError[]): AppError {
  const first = fields[0] as FieldError;
  const where = source === 'body' ? 'request body' : 'path';
  return new AppError('ERR_VALIDATION', `${where} is invalid: ${first.field} ${first.message}`, { fields });
}

/** An E.164 number from a body field, or 400 naming that field. */
export function bodyNumber(value: string, field = 'number'): { e164: string; valid: boolean } {
  const parsed = parseE164(value);
  if (!parsed.ok) throw invalid('body', [{ field, message: parsed.problem }]);
  return { e164: parsed.e164, valid: parsed.valid };
}

/** An E.164 number from the path, or 400. */
export function pathNumber(value: string): string {
  const parsed = parseE164Path(value);
  if (!parsed.ok) throw invalid('path', [{ field: 'number', message: parsed.problem }]);
  return parsed.e164;
}

function unassignedWarning(e164: string): string {
  return `${e164} is well-formed but not a number its country assigns (checked with libphonenumber's metadata); stored as given`;
}

function iso(value: Date): string {
  return value.toISOString();
}

function joinWarnings(...warnings: Array<string | undefined>): { warning?: string } {
  const present = warnings.filter((w): w is string => w !== undefined);
  return present.length > 0 ? { warning: present.join('; ') } : {};
}

/**
 * DIDs and their routes. Kamailio reads them from the view did_htable into its
 * htable `did`; every change is followed by `htable.reload did`. When Kamailio cannot
 * be told, the change stands and the response carries a `warning`.
 */
export class NumberService {
  constructor(
    private readonly store: NumberStore,
    private readonly sync: KamailioSync,
    private readonly logger: Logger,
  ) {}

  private view(row: NumberRow, ...warnings: Array<string | undefined>): NumberView {
    return {
      number: row.number,
      route_type: row.route_type,
      target: row.target,
      ai_dialect: row.ai_dialect,
      ai_agent_url: row.ai_agent_url,
      ai_options: row.ai_options,
      forward_timeout_seconds: row.forward_timeout_seconds,
      forward_fallback: row.forward_fallback,
      trunk_id: row.trunk_id,
      recording_enabled: row.recording_enabled,
      enabled: row.enabled,
      description: row.description,
      hold_music: row.hold_music,
      max_concurrent_calls: row.max_concurrent_calls,
      queue: row.queue,
      queue_priority: row.queue_priority,
      kamailio_route: row.enabled ? kamailioRouteValue(row.number, row) : null,
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
      ...joinWarnings(...warnings),
    };
  }

  private async route(fields: Parameters<typeof checkRoute>[0], number: string): Promise<NumberRoute> {
    const checked = checkRoute(fields, number);
    if (!checked.ok) throw invalid('body', checked.fields);
    if (checked.route.route_type === 'sip_user' && !(await this.store.sipUserExists(checked.route.target as string))) {
      throw invalid('body', [{ field: 'target', message: `names no SIP user (${checked.route.target})` }]);
    }
    if (forwardsToUser(checked.route) && !(await this.store.sipUserExists(checked.route.target as string))) {
      throw invalid('body', [
        {
          field: 'target',
          message: `is neither an E.164 number (they start with "+") nor a SIP user (${checked.route.target})`,
        },
      ]);
    }
    return checked.route;
  }

  private async reload(): Promise<string | undefined> {
    return reloadWarning(await this.sync.apply([{ kind: 'htable', table: HTABLE_DID }]));
  }

  private async checkQueue(queue: string | null | undefined): Promise<void> {
    if (queue !== undefined && queue !== null && !(await this.store.queueExists(queue)))
      throw invalid('body', [{ field: 'queue', message: `names no queue (${queue})` }]);
  }

  async create(input: CreateNumberInput): Promise<NumberView> {
    const { e164, valid } = bodyNumber(input.number);
    const route = await this.route(input, e164);
    await this.checkQueue(input.queue);
    let row: NumberRow;
    try {
      row = await this.store.insert({
        number: e164,
        ...route,
        trunk_id: input.trunk_id ?? null,
        recording_enabled: input.recording_enabled,
        enabled: input.enabled,
        description: input.description ?? null,
        hold_music: input.hold_music ?? null,
        max_concurrent_calls: input.max_concurrent_calls ?? null,
        queue: input.queue ?? null,
        ...(input.queue_priority === undefined ? {} : { queue_priority: input.queue_priority }),
      });
    } catch (err) {
      if (err instanceof NumberExistsError) {
        throw new AppError('ERR_NUMBER_EXISTS', `${e164} already exists`, {
          fields: [{ field: 'number', message: 'already exists' }],
        });
      }
      if (err instanceof UnknownTrunkError)
        throw invalid('body', [{ field: 'trunk_id', message: `names no trunk (${input.trunk_id})` }]);
      throw err;
    }
    this.logger.info('number created', { number: e164, route_type: route.route_type });
    return this.view(row, valid ? undefined : unassignedWarning(e164), await this.reload());
  }

  async get(pathValue: string): Promise<NumberView> {
    const number = pathNumber(pathValue);
    const row = await this.store.find(number);
    if (!row) throw notFound(number);
    return this.view(row);
  }

  async list(query: ListNumbersQuery): Promise<NumberPage> {
    const filter = {
      ...(query.route_type === undefined ? {} : { route_type: query.route_type }),
      ...(query.trunk_id === undefined ? {} : { trunk_id: query.trunk_id }),
      ...(query.enabled === undefined ? {} : { enabled: query.enabled }),
      ...(query.search === undefined ? {} : { search: query.search }),
    };
    const { rows, total } = await this.store.list(filter, query.page, query.per_page);
    return { items: rows.map((r) => this.view(r)), total, page: query.page, per_page: query.per_page };
  }

  async update(pathValue: string, input: UpdateNumberInput): Promise<NumberView> {
    const number = pathNumber(pathValue);
    // The route is checked against the current row inside the transaction; a SIP user
    // target is looked up first (outside it: a read of another table).
    const current = await this.store.find(number);
    if (!current) throw notFound(number);
    const routeFields = {
      route_type: input.route_type ?? current.route_type,
      // A new route type starts from the fields given; the same type keeps the rest.
      ...(input.route_type === undefined || input.route_type === current.route_type
        ? {
            target: current.target,
            ai_dialect: current.ai_dialect,
            ai_agent_url: current.ai_agent_url,
            ai_options: current.ai_options,
            forward_timeout_seconds: current.forward_timeout_seconds,
            forward_fallback: current.forward_fallback,
          }
        : {}),
      ...pick(input, [
        'target',
        'ai_dialect',
        'ai_agent_url',
        'ai_options',
        'forward_timeout_seconds',
        'forward_fallback',
      ]),
    };
    const route = await this.route(routeFields, number);
    await this.checkQueue(input.queue);
    let row: NumberRow | undefined;
    try {
      row = await this.store.update(number, () => {
        const patch: NumberPatch = { ...route };
        if (input.trunk_id !== undefined) patch.trunk_id = input.trunk_id;
        if (input.recording_enabled !== undefined) patch.recording_enabled = input.recording_enabled;
        if (input.enabled !== undefined) patch.enabled = input.enabled;
        if (input.description !== undefined) patch.description = input.description;
        if (input.hold_music !== undefined) patch.hold_music = input.hold_music;
        if (input.max_concurrent_calls !== undefined) patch.max_concurrent_calls = input.max_concurrent_calls;
        if (input.queue !== undefined) patch.queue = input.queue;
        if (input.queue_priority !== undefined) patch.queue_priority = input.queue_priority;
        return patch;
      });
    } catch (err) {
      if (err instanceof UnknownTrunkError)
        throw invalid('body', [{ field: 'trunk_id', message: `names no trunk (${input.trunk_id ?? ''})` }]);
      throw err;
    }
    if (!row) throw notFound(number);
    this.logger.info('number updated', { number, fields: Object.keys(input) });
    return this.view(row, await this.reload());
  }

  async remove(pathValue: string): Promise<{ number: string; deleted: true; warning?: string }> {
    const number = pathNumber(pathValue);
    if (!(await this.store.delete(number))) throw notFound(number);
    this.logger.info('number deleted', { number });
    return { number, deleted: true, ...joinWarnings(await this.reload()) };
  }
}

/**
 * Blocked numbers, refused by Kamailio inbound (caller) and outbound (dialled) with
 * 603 / 403 and counted in htable `blockhits`. Kamailio reads them from the view
 * blocked_htable into its htable `blocked`; every change is followed by
 * `htable.reload blocked`, so it applies to the next call.
 */
export class BlocklistService {
  constructor(
    private readonly store: NumberStore,
    private readonly kamailio: KamailioControl,
    private readonly sync: KamailioSync,
    private readonly logger: Logger,
  ) {}

  private view(row: BlockedNumberRow, blockedCalls: number | null): BlockedNumberView {
    return {
      number: row.number,
      reason: row.reason,
      blocked_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
      blocked_calls: blockedCalls,
    };
  }

  /** Refused-call counts by E.164 number; null with the reason when Kamailio cannot say. */
  private async hits(): Promise<{ counts: Map<string, number> | null; problem?: string }> {
    try {
      const items = await this.kamailio.htableItems(HTABLE_BLOCK_HITS);
      const counts = new Map<string, number>();
      for (const [key, value] of items) {
        const n = typeof value === 'number' ? value : Number(value);
        if (Number.isFinite(n)) counts.set(`+${key.replace(/^\+/, '')}`, n);
      }
      return { counts };
    } catch (err) {
      const problem = kamailioProblem(err);
      if (problem === undefined) throw err;
      return { counts: null, problem };
    }
  }

  async block(input: BlockNumberInput): Promise<{ status: 200 | 201; body: BlockedNumberView }> {
    // Spam often comes from numbers nobody assigned: any well-formed number can be blocked.
    const { e164 } = bodyNumber(input.number);
    const { row, created } = await this.store.block(e164, input.reason);
    this.logger.info('number blocked', { number: e164, already_blocked: !created });
    // Reloaded even when it was blocked already: blocking again also repairs a reload that failed.
    const warning = reloadWarning(await this.sync.apply([{ kind: 'htable', table: HTABLE_BLOCKED }]));
    const { counts } = await this.hits();
    return {
      status: created ? 201 : 200,
      body: {
        ...this.view(row, counts ? (counts.get(e164) ?? 0) : null),
        already_blocked: !created,
        ...joinWarnings(warning),
      },
    };
  }

  async unblock(pathValue: string): Promise<{ number: string; unblocked: true; warning?: string }> {
    const number = pathNumber(pathValue);
    if (!(await this.store.unblock(number))) throw new AppError('ERR_NUMBER_NOT_BLOCKED', `${number} is not blocked`);
    this.logger.info('number unblocked', { number });
    const warning = reloadWarning(await this.sync.apply([{ kind: 'htable', table: HTABLE_BLOCKED }]));
    // The count restarts if the number is blocked again; a stale counter is harmless.
    try {
      await this.kamailio.htableDeleteKey(HTABLE_BLOCK_HITS, number.slice(1));
    } catch (err) {
      if (kamailioProblem(err) === undefined) throw err;
    }
    return { number, unblocked: true, ...joinWarnings(warning) };
  }

  async list(query: ListBlockedQuery): Promise<BlockedPage> {
    const [{ rows, total }, hits] = await Promise.all([this.store.blocked(query.page, query.per_page), this.hits()]);
    return {
      items: rows.map((r) => this.view(r, hits.counts ? (hits.counts.get(r.number) ?? 0) : null)),
      total,
      page: query.page,
      per_page: query.per_page,
      ...(hits.problem === undefined ? {} : { kamailio_error: hits.problem }),
    };
  }
}

function notFound(number: string): AppError {
  return new AppError('ERR_NUMBER_NOT_FOUND', `no number ${number}`);
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
