import { AppError } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { kamailioProblem, type KamailioControl, type LockState, type Registration } from '../kamailio/control';
import { digestHa1, digestHa1b } from './digest';
import { generatePassword } from './password';
import type { CreateSipUserInput, ListSipUsersQuery, UpdateSipUserInput } from './schemas';
import {
  DuplicateUsernamesError,
  type CallTotals,
  type NewSipUserRow,
  type SipUserPatch,
  type SipUserRow,
  type SipUserStore,
} from './store';

export interface SipSettings {
  /** SIP domain and digest realm (SIP_DOMAIN). */
  readonly domain: string;
  /** Where clients send REGISTER (SIP_PROXY_ADDRESS) and its port. */
  readonly proxyAddress: string;
  readonly port: number;
}

export interface OneTimeCredentials {
  readonly username: string;
  readonly password: string;
  readonly domain: string;
  readonly realm: string;
  readonly generated: boolean;
}

export interface SipUserView {
  readonly id: number;
  readonly username: string;
  readonly domain: string;
  readonly display_name: string | null;
  readonly max_concurrent_calls: number;
  readonly enabled: boolean;
  readonly email: string | null;
  readonly notes: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly password_changed_at: string;
  readonly lock: LockState | null;
  readonly lock_error?: string;
  readonly credentials?: OneTimeCredentials;
  readonly warning?: string;
}

export interface SipUserPage {
  readonly items: SipUserView[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
}

export interface ClientConfig {
  readonly username: string;
  readonly auth_username: string;
  readonly domain: string;
  readonly realm: string;
  readonly proxy: string;
  readonly port: number;
  readonly transport: 'UDP';
  readonly transports: ReadonlyArray<'UDP' | 'TCP'>;
  readonly sip_uri: string;
  readonly display_name: string | null;
  readonly password: null;
  readonly password_hint: string;
  readonly enabled: boolean;
}

export interface SipUserStats {
  readonly id: number;
  readonly username: string;
  readonly registrations: Registration[] | null;
  readonly active_calls: number | null;
  readonly max_concurrent_calls: number;
  readonly lock: LockState | null;
  readonly calls: { readonly as_caller: CallTotals; readonly as_callee: CallTotals };
  readonly kamailio_error?: string;
}

export interface DeletedSipUser {
  readonly id: number;
  readonly username: string;
  readonly deleted: true;
  readonly registrations_removed: boolean;
  readonly warning?: string;
}

/** One bad row of a bulk request. */
export interface BulkRowError {
  readonly index: number;
  readonly field: string;
  readonly code: 'ERR_VALIDATION' | 'ERR_SIP_USER_EXISTS';
  readonly message: string;
}

/** Rows whose username appears earlier in the same batch. */
export function duplicateRows(users: ReadonlyArray<{ readonly username?: unknown }>): BulkRowError[] {
  const firstIndex = new Map<string, number>();
  const errors: BulkRowError[] = [];
  users.forEach((user, index) => {
    if (typeof user?.username !== 'string') return;
    const first = firstIndex.get(user.username);
    if (first === undefined) firstIndex.set(user.username, index);
    else
      errors.push({
        index,
        field: 'username',
        code: 'ERR_SIP_USER_EXISTS',
        message: `duplicates users[${first}].username`,
      });
  });
  return errors;
}

function iso(value: Date): string {
  return value.toISOString();
}

/**
 * SIP user management. The user IS Kamailio's subscriber row, so auth_db sees every
 * change on the next request; what Kamailio keeps in memory (registrations, lockout
 * counters, dialogs) is changed or read over JSON-RPC.
 */
export class SipUserService {
  constructor(
    private readonly store: SipUserStore,
    private readonly kamailio: KamailioControl,
    private readonly sip: SipSettings,
    private readonly logger: Logger,
  ) {}

  private hashes(username: string, password: string): { ha1: string; ha1b: string } {
    const realm = this.sip.domain;
    return { ha1: digestHa1(username, realm, password), ha1b: digestHa1b(username, this.sip.domain, realm, password) };
  }

  private credentials(username: string, password: string, generated: boolean): OneTimeCredentials {
    return { username, password, domain: this.sip.domain, realm: this.sip.domain, generated };
  }

  private view(row: SipUserRow, lock: LockState | null, lockError?: string): SipUserView {
    return {
      id: row.id,
      username: row.username,
      domain: row.domain,
      display_name: row.display_name,
      max_concurrent_calls: row.max_concurrent_calls,
      enabled: row.enabled === 1,
      email: row.email,
      notes: row.notes,
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
      password_changed_at: iso(row.password_changed_at),
      lock,
      ...(lockError === undefined ? {} : { lock_error: lockError }),
    };
  }

  /** Rows with their lock state; when Kamailio cannot say, lock is null with the reason. */
  private async views(rows: readonly SipUserRow[]): Promise<SipUserView[]> {
    try {
      const states = await this.kamailio.lockStates(rows.map((r) => r.username));
      return rows.map((r) => this.view(r, states.get(r.username) ?? null));
    } catch (err) {
      const problem = kamailioProblem(err);
      if (problem === undefined) throw err;
      return rows.map((r) => this.view(r, null, problem));
    }
  }

  private async require(id: number): Promise<SipUserRow> {
    const row = await this.store.findById(id);
    if (!row) throw new AppError('ERR_SIP_USER_NOT_FOUND', `no SIP user with id ${id}`);
    return row;
  }

  /** Drops registrations; a Kamailio failure becomes a warning, the DB change stands. */
  private async dropRegistrations(username: string, why: string): Promise<string | undefined> {
    try {
      await this.kamailio.dropRegistrations(username);
      return undefined;
    } catch (err) {
      const problem = kamailioProblem(err);
      if (problem === undefined) throw err;
      this.logger.warn('registrations not removed', { username, why, reason: problem });
      return `saved, but registrations were not removed (${problem}); they end when they expire`;
    }
  }

  private newRow(input: CreateSipUserInput): { row: NewSipUserRow; credentials: OneTimeCredentials } {
    const generated = input.password === undefined;
    const password = input.password ?? generatePassword();
    return {
      row: {
        username: input.username,
        domain: this.sip.domain,
        password: '',
        ...this.hashes(input.username, password),
        display_name: input.display_name ?? null,
        max_concurrent_calls: input.max_concurrent_calls,
        enabled: input.enabled ? 1 : 0,
        email: input.email ?? null,
        notes: input.notes ?? null,
      },
      credentials: this.credentials(input.username, password, generated),
    };
  }

  async create(input: CreateSipUserInput): Promise<SipUserView> {
    const [created] = await this.bulkCreate([input]);
    return created as SipUserView;
  }

  /** All or nothing: one transaction; any existing username fails the whole batch. */
  async bulkCreate(inputs: readonly CreateSipUserInput[]): Promise<SipUserView[]> {
    const duplicates = duplicateRows(inputs);
    if (duplicates.length > 0) throw bulkConflict(duplicates, inputs.length);
    const prepared = inputs.map((i) => this.newRow(i));
    let rows: SipUserRow[];
    try {
      rows = await this.store.insertMany(prepared.map((p) => p.row));
    } catch (err) {
      if (!(err instanceof DuplicateUsernamesError)) throw err;
      if (inputs.length === 1) {
        throw new AppError('ERR_SIP_USER_EXISTS', `a SIP user named ${inputs[0]?.username} already exists`, {
          fields: [{ field: 'username', message: 'already exists' }],
        });
      }
      const taken = new Set(err.usernames);
      const errors: BulkRowError[] = inputs.flatMap((u, index) =>
        taken.has(u.username)
          ? [{ index, field: 'username', code: 'ERR_SIP_USER_EXISTS' as const, message: 'already exists' }]
          : [],
      );
      throw bulkConflict(errors, inputs.length);
    }
    this.logger.info('SIP users created', { count: rows.length, usernames: rows.slice(0, 20).map((r) => r.username) });
    const views = await this.views(rows);
    return views.map((v, i) => ({ ...v, credentials: (prepared[i] as (typeof prepared)[number]).credentials }));
  }

  async get(id: number): Promise<SipUserView> {
    const [view] = await this.views([await this.require(id)]);
    return view as SipUserView;
  }

  async list(query: ListSipUsersQuery): Promise<SipUserPage> {
    const filter = {
      ...(query.search === undefined ? {} : { search: query.search }),
      ...(query.enabled === undefined ? {} : { enabled: query.enabled }),
    };
    const { rows, total } = await this.store.list(filter, query.page, query.per_page);
    return { items: await this.views(rows), total, page: query.page, per_page: query.per_page };
  }

  async update(id: number, input: UpdateSipUserInput): Promise<SipUserView> {
    if (input.password !== undefined && input.reset_password === true) {
      throw new AppError('ERR_VALIDATION', 'give either password or reset_password, not both', {
        fields: [{ field: 'reset_password', message: 'cannot be combined with password' }],
      });
    }
    const current = await this.require(id);
    const patch: SipUserPatch = {};
    if (input.display_name !== undefined) patch.display_name = input.display_name;
    if (input.max_concurrent_calls !== undefined) patch.max_concurrent_calls = input.max_concurrent_calls;
    if (input.enabled !== undefined) patch.enabled = input.enabled ? 1 : 0;
    if (input.email !== undefined) patch.email = input.email;
    if (input.notes !== undefined) patch.notes = input.notes;
    let credentials: OneTimeCredentials | undefined;
    if (input.password !== undefined || input.reset_password === true) {
      const password = input.password ?? generatePassword();
      Object.assign(patch, this.hashes(current.username, password), { password_changed_at: new Date() });
      credentials = this.credentials(current.username, password, input.password === undefined);
    }
    const row = await this.store.update(id, patch);
    if (!row) throw new AppError('ERR_SIP_USER_NOT_FOUND', `no SIP user with id ${id}`);
    this.logger.info('SIP user updated', { id, username: row.username, fields: Object.keys(input) });

    // Disabling, or a new password (often set because the old one leaked), ends the
    // registrations made so far; auth_db already refuses new ones.
    let warning: string | undefined;
    if (input.enabled === false) warning = await this.dropRegistrations(row.username, 'disabled');
    else if (credentials) warning = await this.dropRegistrations(row.username, 'password changed');
    const [view] = await this.views([row]);
    return {
      ...(view as SipUserView),
      ...(credentials ? { credentials } : {}),
      ...(warning === undefined ? {} : { warning }),
    };
  }

  async remove(id: number): Promise<DeletedSipUser> {
    const row = await this.store.delete(id);
    if (!row) throw new AppError('ERR_SIP_USER_NOT_FOUND', `no SIP user with id ${id}`);
    this.logger.info('SIP user deleted', { id, username: row.username });
    const warning = await this.dropRegistrations(row.username, 'deleted');
    return {
      id: row.id,
      username: row.username,
      deleted: true,
      registrations_removed: warning === undefined,
      ...(warning === undefined ? {} : { warning }),
    };
  }

  /** Clears the lockout; Kamailio must answer (this is all the call does). */
  async unlock(id: number): Promise<SipUserView> {
    const row = await this.require(id);
    await this.kamailio.unlock(row.username);
    this.logger.info('SIP user unlocked', { id, username: row.username });
    return this.view(row, await this.kamailio.lockState(row.username));
  }

  async clientConfig(id: number): Promise<ClientConfig> {
    const row = await this.require(id);
    return {
      username: row.username,
      auth_username: row.username,
      domain: this.sip.domain,
      realm: this.sip.domain,
      proxy: this.sip.proxyAddress,
      port: this.sip.port,
      transport: 'UDP',
      transports: ['UDP', 'TCP'],
      sip_uri: `sip:${row.username}@${this.sip.domain}`,
      display_name: row.display_name,
      password: null,
      password_hint:
        `The password was shown once, when it was set (${iso(row.password_changed_at)}); it is not stored and cannot be shown again. ` +
        `To issue a new one: PUT /api/sip-users/${row.id} with {"reset_password": true}.`,
      enabled: row.enabled === 1,
    };
  }

  async stats(id: number): Promise<SipUserStats> {
    const row = await this.require(id);
    const calls = await this.store.callTotals(row.username);
    const base = { id: row.id, username: row.username, max_concurrent_calls: row.max_concurrent_calls, calls };
    try {
      const [registrations, activeCalls, lock] = await Promise.all([
        this.kamailio.registrations(row.username),
        this.kamailio.activeCalls(row.username),
        this.kamailio.lockState(row.username),
      ]);
      return { ...base, registrations, active_calls: activeCalls, lock };
    } catch (err) {
      const problem = kamailioProblem(err);
      if (problem === undefined) throw err;
      return { ...base, registrations: null, active_calls: null, lock: null, kamailio_error: problem };
    }
  }
}

function bulkConflict(errors: BulkRowError[], total: number): AppError {
  return new AppError(
    'ERR_SIP_USER_EXISTS',
    `${errors.length} of ${total} users have a username that is taken; nothing was created`,
    {
      errors,
    },
  );
}
