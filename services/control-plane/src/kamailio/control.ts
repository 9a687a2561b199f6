import Ajv, { type ValidateFunction } from 'ajv';
import { CodedError, isCodedError } from '../../../common/src/errors';
import {
  DIALOG_PROFILE_CALLER,
  HTABLE_ACCOUNT_SOURCES,
  HTABLE_AUTH_FAILURES,
  HTABLE_BANS,
  HTABLE_LOCKOUT,
  HTABLE_PAIR_LOCKS,
  HTABLE_SOURCE_ACCOUNTS,
  HTABLE_SOURCE_FAILURES,
  USRLOC_TABLE,
} from '../../../common/src/kamailio/names';
import { KamailioRpcError, type KamailioRpc } from '../../../common/src/kamailio/rpc';

/**
 * The control-plane's view of Kamailio, over JSON-RPC. It knows the conventions of
 * kamailio/ (the brute-force htables, dialog profile and usrloc table of
 * common/src/kamailio/names.ts) and the reply shapes of Kamailio
 * 5.6, checked against real replies kept in ./fixtures.
 *
 * Kamailio being down surfaces as `KamailioUnavailableError` from the RPC client; a
 * reply of an unexpected shape as `KamailioReplyError`.
 */
export class KamailioReplyError extends CodedError<'ERR_KAMAILIO_BAD_REPLY'> {
  constructor(
    readonly method: string,
    detail: string,
  ) {
    super('ERR_KAMAILIO_BAD_REPLY', `${method}: unexpected reply (${detail})`);
  }
}

const KAMAILIO_FAILURES: ReadonlySet<string> = new Set([
  'ERR_KAMAILIO_UNAVAILABLE',
  'ERR_KAMAILIO_RPC',
  'ERR_KAMAILIO_BAD_REPLY',
]);

/**
 * Why Kamailio could not do what was asked (down, an RPC error, a reply we could not
 * read), or undefined for any other error. Callers keep the database change and turn
 * this into a warning: Kamailio catches up on its next reload or expiry.
 */
export function kamailioProblem(err: unknown): string | undefined {
  return isCodedError(err) && KAMAILIO_FAILURES.has(err.code) ? err.message : undefined;
}

/** The htable key of one account as seen from one source. */
export function pairKey(username: string, source: string): string {
  return `${username}@${source}`;
}

/** `<user>@<source>` → its parts; the source (an IP address) has no '@', so the last one splits. */
export function splitPairKey(key: string): { readonly username: string; readonly source: string } | null {
  const at = key.lastIndexOf('@');
  if (at <= 0 || at === key.length - 1) return null;
  return { username: key.slice(0, at), source: key.slice(at + 1) };
}

/** A dispatcher destination as `dispatcher.list` shows it. */
export interface DispatcherDestination {
  readonly setid: number;
  readonly uri: string;
  /** Two letters: A(ctive) / I(nactive) / T(rying) / D(isabled), then P(robing) or X. */
  readonly flags: string;
  readonly state: 'active' | 'inactive' | 'trying' | 'disabled';
  readonly probing: boolean;
  readonly priority: number;
  /** The attrs string as loaded (e.g. `trunk=sky;weight=1;maxcalls=100;cps=10`). */
  readonly attrs: string;
}

export type UacRegistrationState = 'registered' | 'registering' | 'failed' | 'disabled' | 'pending' | 'expired';

/** A uac registration record without its credentials (reg_info also returns the password). */
export interface UacRegistration {
  readonly l_uuid: string;
  readonly state: UacRegistrationState;
  readonly flags: number;
  readonly expires: number;
  /** Seconds until the registration lapses, or until the next attempt. */
  readonly expires_in: number;
}

/** One source locked out of one account. */
export interface SourceLock {
  readonly source: string;
  readonly locked_at: string;
  readonly locked_until: string;
}

export interface LockState {
  /** Locked account-wide (failures from many sources); trusted sources still get in. */
  readonly locked: boolean;
  /** Failed digest attempts in the current window, summed over sources (a source's count restarts when it gets locked). */
  readonly failed_attempts: number;
  /** Failures from one source before that source is locked out of the account. */
  readonly max_failures: number;
  readonly locked_at: string | null;
  readonly locked_until: string | null;
  /** Sources locked out of this account (the others, the owner's among them, are not). */
  readonly locked_sources: SourceLock[];
}

export type BanReason = 'flood' | 'brute_force' | 'credential_stuffing';

/** A source Kamailio drops unanswered. */
export interface SourceBan {
  readonly source: string;
  readonly reason: BanReason | 'unknown';
  readonly banned_at: string | null;
  readonly banned_until: string | null;
}

/** Every lock and ban Kamailio holds now. */
export interface SecurityLocks {
  readonly accounts: Array<{ readonly username: string; readonly locked_at: string; readonly locked_until: string }>;
  readonly account_sources: Array<{ readonly username: string } & SourceLock>;
  readonly sources: SourceBan[];
}

export type ContactState = 'active' | 'permanent' | 'expired' | 'deleted';

export interface Registration {
  readonly contact: string;
  readonly state: ContactState;
  /** Seconds until the contact expires (null unless `active`). */
  readonly expires_in: number | null;
  readonly expires_at: string | null;
  readonly user_agent: string | null;
  readonly received: string | null;
  readonly socket: string | null;
  readonly instance: string | null;
  readonly call_id: string | null;
  readonly last_modified: string | null;
}

export interface KamailioInfo {
  readonly version: string;
  readonly uptime_seconds: number;
  readonly up_since: string | null;
}

export interface LockoutPolicy {
  readonly maxFailures: number;
  readonly lockSeconds: number;
  /** How long a source banned for brute force or credential stuffing stays banned. */
  readonly sourceBanSeconds: number;
  /** How long a source banned for flooding stays banned. */
  readonly floodBanSeconds: number;
}

// ----- reply shapes (Kamailio 5.6) -----

interface HtableItem {
  name: string;
  value: number | string;
}
type HtableDumpReply = Array<{ slot: HtableItem[] }>;
interface UlContact {
  Address: string;
  Expires: number | string;
  'User-Agent'?: string;
  Received?: string;
  Socket?: string;
  Instance?: string;
  'Call-ID'?: string;
  'Last-Modified'?: number;
}
interface UlLookupReply {
  AoR: string;
  Contacts: Array<{ Contact: UlContact }>;
}
interface UptimeReply {
  uptime: number;
  up_since?: string;
}

const ajv = new Ajv({ allErrors: false, allowUnionTypes: true });
const htableItem = {
  type: 'object',
  properties: { name: { type: 'string' }, value: { type: ['integer', 'string'] } },
  required: ['name', 'value'],
} as const;
const validateHtableDump = ajv.compile<HtableDumpReply>({
  type: 'array',
  items: { type: 'object', properties: { slot: { type: 'array', items: htableItem } }, required: ['slot'] },
});
const validateUlLookup = ajv.compile<UlLookupReply>({
  type: 'object',
  properties: {
    AoR: { type: 'string' },
    Contacts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          Contact: {
            type: 'object',
            properties: {
              Address: { type: 'string' },
              Expires: { type: ['integer', 'string'] },
              'User-Agent': { type: 'string' },
              Received: { type: 'string' },
              Socket: { type: 'string' },
              Instance: { type: 'string' },
              'Call-ID': { type: 'string' },
              'Last-Modified': { type: 'integer' },
            },
            required: ['Address', 'Expires'],
          },
        },
        required: ['Contact'],
      },
    },
  },
  required: ['AoR', 'Contacts'],
});
const validateUptime = ajv.compile<UptimeReply>({
  type: 'object',
  properties: { uptime: { type: 'integer' }, up_since: { type: 'string' } },
  required: ['uptime'],
});
const validateStats = ajv.compile<Record<string, string | number>>({
  type: 'object',
  additionalProperties: { type: ['string', 'number'] },
});

interface DispatcherListReply {
  RECORDS: Array<{
    SET: {
      ID: number;
      TARGETS?: Array<{ DEST: { URI: string; FLAGS: string; PRIORITY: number; ATTRS?: { BODY?: string | null } } }>;
    };
  }>;
}
const validateDispatcherList = ajv.compile<DispatcherListReply>({
  type: 'object',
  properties: {
    RECORDS: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          SET: {
            type: 'object',
            properties: {
              ID: { type: 'integer' },
              TARGETS: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    DEST: {
                      type: 'object',
                      properties: {
                        URI: { type: 'string' },
                        FLAGS: { type: 'string' },
                        PRIORITY: { type: 'integer' },
                        ATTRS: { type: 'object', properties: { BODY: { type: ['string', 'null'] } } },
                      },
                      required: ['URI', 'FLAGS', 'PRIORITY'],
                    },
                  },
                  required: ['DEST'],
                },
              },
            },
            required: ['ID'],
          },
        },
        required: ['SET'],
      },
    },
  },
  required: ['RECORDS'],
});

// Only the fields read here: the record also carries auth_password, which must go no further.
interface UacRegReply {
  l_uuid: string;
  flags: number;
  expires: number;
  diff_expires: number;
  timer_expires: number;
}
const uacRegSchema = {
  type: 'object',
  properties: {
    l_uuid: { type: 'string' },
    flags: { type: 'integer' },
    expires: { type: 'integer' },
    diff_expires: { type: 'integer' },
    timer_expires: { type: 'integer' },
  },
  required: ['l_uuid', 'flags', 'expires', 'diff_expires', 'timer_expires'],
} as const;
const validateUacReg = ajv.compile<UacRegReply>(uacRegSchema);
const validateUacRegDump = ajv.compile<UacRegReply[]>({ type: 'array', items: uacRegSchema });

// uac_reg.c record flags.
const UAC_REG_DISABLED = 1 << 0;
const UAC_REG_ONGOING = 1 << 1;
const UAC_REG_ONLINE = 1 << 2;
const UAC_REG_INIT = 1 << 4;

/**
 * A uac record's state from its flags, as uac_reg_status() reads them: online and not
 * yet expired = registered. A record that was tried (INIT) and is neither online nor
 * in progress had its last attempt refused or timed out (retried after
 * reg_retry_interval, or DISABLED when that is 0).
 */
export function uacRegistrationState(flags: number, secondsLeft: number): UacRegistrationState {
  if (flags & UAC_REG_DISABLED) return 'disabled';
  if (flags & UAC_REG_ONLINE) return secondsLeft > 0 ? 'registered' : 'expired';
  if (flags & UAC_REG_ONGOING) return 'registering';
  if (flags & UAC_REG_INIT) return 'failed';
  return 'pending';
}

function uacRegistration(reply: UacRegReply): UacRegistration {
  return {
    l_uuid: reply.l_uuid,
    state: uacRegistrationState(reply.flags, reply.diff_expires),
    flags: reply.flags,
    expires: reply.expires,
    expires_in: reply.diff_expires,
  };
}

const DISPATCHER_STATES = { A: 'active', I: 'inactive', T: 'trying', D: 'disabled' } as const;

/** `dispatcher.list` → one entry per destination of every set. */
export function dispatcherDestinations(reply: DispatcherListReply): DispatcherDestination[] {
  const out: DispatcherDestination[] = [];
  for (const record of reply.RECORDS) {
    for (const { DEST: d } of record.SET.TARGETS ?? []) {
      const first = d.FLAGS.charAt(0) as keyof typeof DISPATCHER_STATES;
      out.push({
        setid: record.SET.ID,
        uri: d.URI,
        flags: d.FLAGS,
        state: DISPATCHER_STATES[first] ?? 'disabled',
        probing: d.FLAGS.charAt(1) === 'P',
        priority: d.PRIORITY,
        attrs: d.ATTRS?.BODY ?? '',
      });
    }
  }
  return out;
}

function checked<T>(method: string, validate: ValidateFunction<T>, reply: unknown): T {
  if (validate(reply)) return reply;
  const first = validate.errors?.[0];
  throw new KamailioReplyError(method, `${first?.instancePath || '(root)'} ${first?.message ?? 'is invalid'}`);
}

// Kamailio's RPC layer answers "no such key / AOR" with error 500 or 404 depending on
// the module (htable.get: 500 "Key name doesn't exist in htable."; htable.delete:
// 404 "Key not found in htable."; ul.lookup: 500 "AOR not found in location table").
function isNotFound(err: unknown): boolean {
  return (
    err instanceof KamailioRpcError &&
    (err.rpcCode === 404 || (err.rpcCode === 500 && /doesn't exist|not found/i.test(err.message)))
  );
}

// usrloc prints "[not set]" for empty optional contact fields.
function optional(value: string | undefined): string | null {
  return value === undefined || value === '' || value === '[not set]' ? null : value;
}

function htableNumber(item: HtableItem): number {
  const n = typeof item.value === 'number' ? item.value : Number(item.value);
  return Number.isFinite(n) ? n : 0;
}

export class KamailioControl {
  constructor(
    private readonly rpc: KamailioRpc,
    private readonly lockout: LockoutPolicy,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async htableDump(table: string): Promise<Map<string, HtableItem>> {
    const reply = checked('htable.dump', validateHtableDump, await this.rpc.call('htable.dump', table));
    const items = new Map<string, HtableItem>();
    for (const entry of reply) for (const item of entry.slot) items.set(item.name, item);
    return items;
  }

  private iso(unixSeconds: number): string {
    return new Date(unixSeconds * 1000).toISOString();
  }

  /** Lock state of one user (three htable dumps; see lockStates). */
  async lockState(username: string): Promise<LockState> {
    return (await this.lockStates([username])).get(username) as LockState;
  }

  /** Lock states of many users with three RPC calls (one dump per htable). */
  async lockStates(usernames: readonly string[]): Promise<Map<string, LockState>> {
    const states = new Map<string, LockState>();
    if (usernames.length === 0) return states;
    const [failures, pairLocks, locks] = await Promise.all([
      this.htableDump(HTABLE_AUTH_FAILURES),
      this.htableDump(HTABLE_PAIR_LOCKS),
      this.htableDump(HTABLE_LOCKOUT),
    ]);
    const failuresOf = new Map<string, number>();
    for (const [key, item] of failures) {
      const pair = splitPairKey(key);
      if (pair) failuresOf.set(pair.username, (failuresOf.get(pair.username) ?? 0) + htableNumber(item));
    }
    const sourceLocksOf = new Map<string, SourceLock[]>();
    for (const [key, item] of pairLocks) {
      const pair = splitPairKey(key);
      if (!pair) continue;
      const at = htableNumber(item);
      const list = sourceLocksOf.get(pair.username) ?? [];
      list.push({
        source: pair.source,
        locked_at: this.iso(at),
        locked_until: this.iso(at + this.lockout.lockSeconds),
      });
      sourceLocksOf.set(pair.username, list);
    }
    for (const name of usernames) {
      const lock = locks.get(name);
      const lockedAt = lock ? htableNumber(lock) : null;
      states.set(name, {
        locked: lock !== undefined,
        failed_attempts: failuresOf.get(name) ?? 0,
        max_failures: this.lockout.maxFailures,
        locked_at: lockedAt === null ? null : this.iso(lockedAt),
        locked_until: lockedAt === null ? null : this.iso(lockedAt + this.lockout.lockSeconds),
        locked_sources: (sourceLocksOf.get(name) ?? []).sort((a, b) => a.source.localeCompare(b.source)),
      });
    }
    return states;
  }

  /** Every account-wide lock, source lock of an account and banned source (three dumps). */
  async securityLocks(): Promise<SecurityLocks> {
    const [pairLocks, locks, bans] = await Promise.all([
      this.htableDump(HTABLE_PAIR_LOCKS),
      this.htableDump(HTABLE_LOCKOUT),
      this.htableDump(HTABLE_BANS),
    ]);
    const { lockSeconds } = this.lockout;
    const accounts = [...locks].map(([username, item]) => {
      const at = htableNumber(item);
      return { username, locked_at: this.iso(at), locked_until: this.iso(at + lockSeconds) };
    });
    const accountSources: SecurityLocks['account_sources'] = [];
    for (const [key, item] of pairLocks) {
      const pair = splitPairKey(key);
      if (!pair) continue;
      const at = htableNumber(item);
      accountSources.push({ ...pair, locked_at: this.iso(at), locked_until: this.iso(at + lockSeconds) });
    }
    const sources = [...bans].map(([source, item]) => this.banOf(source, item));
    const byName = <T extends { username?: string; source?: string }>(a: T, b: T): number =>
      `${a.username ?? ''}@${a.source ?? ''}`.localeCompare(`${b.username ?? ''}@${b.source ?? ''}`);
    return {
      accounts: accounts.sort(byName),
      account_sources: accountSources.sort(byName),
      sources: sources.sort(byName),
    };
  }

  // kamailio.cfg writes `<reason>:<unix time>`; a bare number is a ban from before reasons were recorded.
  private banOf(source: string, item: HtableItem): SourceBan {
    const m = /^(flood|brute_force|credential_stuffing):(\d+)$/.exec(String(item.value));
    if (!m) return { source, reason: 'unknown', banned_at: null, banned_until: null };
    const reason = m[1] as BanReason;
    const at = Number(m[2]);
    const seconds = reason === 'flood' ? this.lockout.floodBanSeconds : this.lockout.sourceBanSeconds;
    return { source, reason, banned_at: this.iso(at), banned_until: this.iso(at + seconds) };
  }

  /** Every lock of an account: account-wide, per source, and the failure counts behind them. */
  async unlock(username: string): Promise<void> {
    const [failures, pairLocks] = await Promise.all([
      this.htableDump(HTABLE_AUTH_FAILURES),
      this.htableDump(HTABLE_PAIR_LOCKS),
    ]);
    const prefix = `${username}@`;
    const pairs = new Set(
      [...failures.keys(), ...pairLocks.keys()].filter(
        (k) => k.startsWith(prefix) && splitPairKey(k)?.username === username,
      ),
    );
    await this.clearAccountLock(username);
    for (const key of pairs) {
      await this.htableDeleteKey(HTABLE_PAIR_LOCKS, key);
      await this.htableDeleteKey(HTABLE_AUTH_FAILURES, key);
    }
  }

  /** Clears the account-wide lock and its count of failing sources; true if the account was locked. */
  async clearAccountLock(username: string): Promise<boolean> {
    const locked = await this.htableDeleteKey(HTABLE_LOCKOUT, username);
    await this.htableDeleteKey(HTABLE_ACCOUNT_SOURCES, username);
    return locked;
  }

  /** Lets one source try the account again; true if it was locked out of it. */
  async clearSourceLock(username: string, source: string): Promise<boolean> {
    const key = pairKey(username, source);
    const locked = await this.htableDeleteKey(HTABLE_PAIR_LOCKS, key);
    await this.htableDeleteKey(HTABLE_AUTH_FAILURES, key);
    return locked;
  }

  /** Lifts a source's ban and forgets its failure counts; true if it was banned. */
  async clearBan(source: string): Promise<boolean> {
    const banned = await this.htableDeleteKey(HTABLE_BANS, source);
    await this.htableDeleteKey(HTABLE_SOURCE_FAILURES, source);
    await this.htableDeleteKey(HTABLE_SOURCE_ACCOUNTS, source);
    return banned;
  }

  /** Early and confirmed calls the user has placed (dialog profile `caller`). */
  async activeCalls(username: string): Promise<number> {
    const reply = await this.rpc.call('dlg.profile_get_size', DIALOG_PROFILE_CALLER, username);
    if (typeof reply !== 'number' || !Number.isInteger(reply) || reply < 0) {
      throw new KamailioReplyError('dlg.profile_get_size', `expected a count, got ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  /** The user's contacts in usrloc; [] when not registered. */
  async registrations(username: string): Promise<Registration[]> {
    let reply: unknown;
    try {
      reply = await this.rpc.call('ul.lookup', USRLOC_TABLE, username);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const now = this.now().getTime();
    return checked('ul.lookup', validateUlLookup, reply).Contacts.map(({ Contact: c }) => {
      // usrloc prints seconds left, or "permanent" / "expired" / "deleted".
      const active = typeof c.Expires === 'number';
      const state: ContactState = active
        ? 'active'
        : ((['permanent', 'expired', 'deleted'] as const).find((s) => s === c.Expires) ?? 'expired');
      const expiresIn = typeof c.Expires === 'number' ? c.Expires : null;
      return {
        contact: c.Address,
        state,
        expires_in: expiresIn,
        expires_at: expiresIn === null ? null : new Date(now + expiresIn * 1000).toISOString(),
        user_agent: optional(c['User-Agent']),
        received: optional(c.Received),
        socket: optional(c.Socket),
        instance: optional(c.Instance),
        call_id: optional(c['Call-ID']),
        last_modified: c['Last-Modified'] ? new Date(c['Last-Modified'] * 1000).toISOString() : null,
      };
    });
  }

  /** Removes every contact of the user at once (nothing to remove is fine). */
  async dropRegistrations(username: string): Promise<void> {
    try {
      await this.rpc.call('ul.rm', USRLOC_TABLE, username);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Every statistic as a number, keyed `group.name` (e.g. `usrloc.registered_users`). */
  async stats(): Promise<Map<string, number>> {
    const reply = checked('stats.fetch', validateStats, await this.rpc.call('stats.fetch', 'all'));
    const stats = new Map<string, number>();
    for (const [name, value] of Object.entries(reply)) {
      const n = typeof value === 'number' ? value : Number(value);
      if (Number.isFinite(n)) stats.set(name, n);
    }
    return stats;
  }

  /** Every item of an htable as name → value (one `htable.dump`). */
  async htableItems(table: string): Promise<Map<string, number | string>> {
    const items = await this.htableDump(table);
    return new Map([...items].map(([name, item]) => [name, item.value]));
  }

  /** Removes a key from an htable; an absent key is fine. True if the key was there. */
  async htableDeleteKey(table: string, key: string): Promise<boolean> {
    try {
      await this.rpc.call('htable.delete', table, key);
      return true;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return false;
    }
  }

  /** Re-reads a DB-backed htable (`htable.reload`). */
  async reloadHtable(table: string): Promise<void> {
    await this.rpc.call('htable.reload', table);
  }

  /** Re-reads the dispatcher table; answers "Reload Failed" when it skipped a destination. */
  async reloadDispatcher(): Promise<void> {
    await this.rpc.call('dispatcher.reload');
  }

  /** Re-reads the permissions `address` table. */
  async reloadAddresses(): Promise<void> {
    await this.rpc.call('permissions.addressReload');
  }

  /**
   * Brings one uac registration in line with its uacreg row: `uac.reg_refresh` loads
   * (or replaces) it, and when the row is gone (404) `uac.reg_remove` drops it from
   * memory. Nothing to drop is fine.
   */
  async refreshRegistration(lUuid: string): Promise<'refreshed' | 'removed'> {
    try {
      await this.rpc.call('uac.reg_refresh', lUuid);
      return 'refreshed';
    } catch (err) {
      if (!(err instanceof KamailioRpcError && err.rpcCode === 404)) throw err;
    }
    try {
      await this.rpc.call('uac.reg_remove', lUuid);
    } catch (err) {
      if (!(err instanceof KamailioRpcError && err.rpcCode === 404)) throw err;
    }
    return 'removed';
  }

  /** The destinations dispatcher holds now (none loaded: []). */
  async dispatcherList(): Promise<DispatcherDestination[]> {
    let reply: unknown;
    try {
      reply = await this.rpc.call('dispatcher.list');
    } catch (err) {
      if (err instanceof KamailioRpcError && /no destination sets/i.test(err.message)) return [];
      throw err;
    }
    return dispatcherDestinations(checked('dispatcher.list', validateDispatcherList, reply));
  }

  /** One uac registration by l_uuid; undefined when Kamailio holds no such record. */
  async registration(lUuid: string): Promise<UacRegistration | undefined> {
    let reply: unknown;
    try {
      reply = await this.rpc.call('uac.reg_info', 'l_uuid', lUuid);
    } catch (err) {
      if (err instanceof KamailioRpcError && err.rpcCode === 404) return undefined;
      throw err;
    }
    return uacRegistration(checked('uac.reg_info', validateUacReg, reply));
  }

  /** Every uac registration record (credentials stripped). */
  async registrationList(): Promise<UacRegistration[]> {
    return checked('uac.reg_dump', validateUacRegDump, await this.rpc.call('uac.reg_dump')).map(uacRegistration);
  }

  /** Dialogs in a profile, or in one value of a profile with values. */
  async profileSize(profile: string, value?: string): Promise<number> {
    const reply =
      value === undefined
        ? await this.rpc.call('dlg.profile_get_size', profile)
        : await this.rpc.call('dlg.profile_get_size', profile, value);
    if (typeof reply !== 'number' || !Number.isInteger(reply) || reply < 0) {
      throw new KamailioReplyError('dlg.profile_get_size', `expected a count, got ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  async info(): Promise<KamailioInfo> {
    const [version, uptime] = await Promise.all([this.rpc.call('core.version'), this.rpc.call('core.uptime')]);
    if (typeof version !== 'string') throw new KamailioReplyError('core.version', 'expected a string');
    const up = checked('core.uptime', validateUptime, uptime);
    return { version: version.trim(), uptime_seconds: up.uptime, up_since: up.up_since ?? null };
  }
}
