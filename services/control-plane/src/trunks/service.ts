import { AppError, type FieldError } from '../../../common/src/errors';
import type { TrunkStatus } from '../../../common/src/db/schema';
import type { Logger } from '../../../common/src/logger';
import { DIALOG_PROFILE_TRUNK, DISPATCHER_SET_TRUNKS } from '../../../common/src/kamailio/names';
import type { DispatcherDestination, KamailioControl, UacRegistration } from '../kamailio/control';
import {
  dispatcherDestination,
  dispatcherPriority,
  effectiveAllowedIps,
  isHostOrIp,
  parseAllowedIp,
  parseDispatcherAttrs,
  registrarUri,
  sipHost,
} from './kamailio-rows';
import { kamailioProblem } from '../kamailio/control';
import { reloadWarning, type KamailioSync, type ReloadOutcome } from './kamailio-sync';
import type { CreateTrunkInput, ListTrunksQuery, UpdateTrunkInput } from './schemas';
import {
  TrunkExistsError,
  type NewTrunkRow,
  type TrunkPatch,
  type TrunkRow,
  type TrunkSecretRow,
  type TrunkStore,
} from './store';

export interface TrunkView {
  readonly trunk_id: string;
  readonly name: string;
  readonly provider: string;
  readonly proxy_address: string;
  readonly proxy_port: number;
  readonly transport: TrunkRow['transport'];
  readonly username: string | null;
  readonly has_password: boolean;
  readonly realm: string | null;
  readonly supports_inbound: boolean;
  readonly supports_outbound: boolean;
  readonly preferred_codecs: string[];
  readonly max_concurrent_calls: number;
  readonly calls_per_second_limit: number;
  readonly sms_rate_limit: number;
  readonly sms_split_segments: boolean;
  readonly rate_per_minute: number;
  readonly billing_increment_seconds: number;
  readonly minimum_billable_seconds: number;
  readonly currency: string;
  readonly allowed_ips: string[];
  readonly allowed_ips_default: boolean;
  readonly priority: number;
  readonly weight: number;
  readonly requires_registration: boolean;
  readonly status: TrunkStatus;
  readonly created_at: string;
  readonly updated_at: string;
  readonly warning?: string;
}

export interface TrunkPage {
  readonly items: TrunkView[];
  readonly total: number;
  readonly page: number;
  readonly per_page: number;
}

export interface DeletedTrunk {
  readonly trunk_id: string;
  readonly deleted: true;
  readonly numbers_detached: number;
  readonly warning?: string;
}

export interface TrunkCredentials {
  readonly trunk_id: string;
  readonly username: string | null;
  readonly auth_username: string | null;
  readonly password: string | null;
  readonly realm: string | null;
  readonly proxy_address: string;
  readonly proxy_port: number;
  readonly transport: TrunkRow['transport'];
  readonly registrar: string;
  readonly sip_uri: string | null;
  readonly requires_registration: boolean;
}

export interface TrunkStatusReport {
  readonly trunk_id: string;
  readonly status: TrunkStatus;
  readonly dispatcher: {
    readonly state: DispatcherDestination['state'] | 'not_loaded';
    readonly flags: string | null;
    readonly probing: boolean;
    readonly uri: string;
    readonly priority: number | null;
  } | null;
  readonly registration: {
    readonly state: UacRegistration['state'] | 'not_loaded';
    readonly flags: number | null;
    readonly expires_in: number | null;
    readonly expires: number | null;
  } | null;
  readonly active_calls: number | null;
  readonly max_concurrent_calls: number;
  readonly calls_per_second_limit: number;
  readonly cps: { readonly last_minute_attempts: number; readonly average: number };
  readonly calls: {
    readonly today: number;
    readonly total: number;
    readonly total_duration_seconds: number;
    readonly last_call_at: string | null;
  };
  readonly last_error: { sip_code: number; sip_reason: string; at: string; call_id: string } | null;
  readonly kamailio_error?: string;
}

export interface TrunkSummary {
  readonly total: number;
  readonly by_status: { readonly active: number; readonly inactive: number };
  readonly by_provider: Record<string, number>;
  readonly outbound_active: number;
  readonly inbound_active: number;
  readonly registrations: { readonly required: number; readonly registered: number | null };
  readonly active_calls: number | null;
  readonly calls_today: number;
  readonly kamailio_error?: string;
}

/** The default SIP port of a transport (RFC 3261 §19.1.2: 5060, 5061 for TLS). */
export function defaultPort(transport: TrunkRow['transport']): number {
  return transport === 'TLS' ? 5061 : 5060;
}

/** Allowlist entries in canonical form; 400 naming each bad entry. */
export function normaliseAllowedIps(entries: readonly string[]): string[] {
  const out: string[] = [];
  const fields: FieldError[] = [];
  entries.forEach((entry, i) => {
    const parsed = parseAllowedIp(entry);
    if (!parsed.ok)
      fields.push({
        field: `allowed_ips[${i}]`,
        message: 'must be an IPv4/IPv6 address or CIDR range (e.g. 203.0.113.7 or 203.0.113.0/24)',
      });
    else if (!out.includes(parsed.text)) out.push(parsed.text);
  });
  if (fields.length > 0) throw invalid(fields);
  return out;
}

function invalid(fields: FieldError[]): AppError {
  const first = fields[0] as FieldError;
  return new AppError('ERR_VALIDATION', `request body is invalid: ${first.field} ${first.message}`, { fields });
}

/** The trunk's own configuration problems, as the sentence a `warning` starts with. */
export function configurationWarnings(
  row: Pick<TrunkRow, 'supports_inbound' | 'allowed_ips' | 'proxy_address' | 'status'>,
): string[] {
  const warnings: string[] = [];
  if (row.supports_inbound && effectiveAllowedIps(row).length === 0) {
    warnings.push(
      `supports_inbound is true but no source address is allowed: proxy_address ${row.proxy_address} is a host name, ` +
        "so list the provider's signalling addresses in allowed_ips (inbound calls from it are refused until then)",
    );
  }
  return warnings;
}

function iso(value: Date): string {
  return value.toISOString();
}

/**
 * A rate as the NUMERIC(12,6) column takes it, or undefined when it has more than 6
 * decimals (PostgreSQL would round it silently). JSON numbers are binary fractions:
 * 0.0125 × 10⁶ is 12500.000000000002, hence the tolerance.
 */
export function rateText(rate: number): string | undefined {
  const micros = rate * 1e6;
  return Math.abs(micros - Math.round(micros)) < 1e-3 ? (Math.round(micros) / 1e6).toFixed(6) : undefined;
}

function rateField(rate: number): string {
  const text = rateText(rate);
  if (text === undefined) throw invalid([{ field: 'rate_per_minute', message: 'must have at most 6 decimals' }]);
  return text;
}

/** Checks what the schema cannot, on the row as it would be stored. */
function checkConsistency(
  row: Pick<TrunkSecretRow, 'proxy_address' | 'username' | 'password' | 'requires_registration'>,
): void {
  const fields: FieldError[] = [];
  if (!isHostOrIp(row.proxy_address))
    fields.push({ field: 'proxy_address', message: 'must be a host name or an IP address' });
  if (row.username !== null && row.password === null)
    fields.push({ field: 'password', message: 'is required when username is set' });
  if (row.password !== null && row.username === null)
    fields.push({ field: 'username', message: 'is required when password is set' });
  if (row.requires_registration && (row.username === null || row.password === null)) {
    fields.push({ field: 'requires_registration', message: 'needs username and password' });
  }
  if (fields.length > 0) throw invalid(fields);
}

/**
 * Carrier trunks. Each change is one transaction over the trunks table and Kamailio's
 * own tables (dispatcher, address, uacreg); after the commit Kamailio is told to
 * reload what changed. When it cannot be told, the change stands and the response
 * carries a `warning` (Kamailio reads every table when it starts).
 */
export class TrunkService {
  constructor(
    private readonly store: TrunkStore,
    private readonly kamailio: KamailioControl,
    private readonly sync: KamailioSync,
    private readonly logger: Logger,
  ) {}

  private view(row: TrunkRow, extraWarnings: readonly string[] = []): TrunkView {
    const warnings = [...configurationWarnings(row), ...extraWarnings];
    return {
      trunk_id: row.trunk_id,
      name: row.name,
      provider: row.provider,
      proxy_address: row.proxy_address,
      proxy_port: row.proxy_port,
      transport: row.transport,
      username: row.username,
      has_password: row.has_password,
      realm: row.realm,
      supports_inbound: row.supports_inbound,
      supports_outbound: row.supports_outbound,
      preferred_codecs: [...row.preferred_codecs],
      max_concurrent_calls: row.max_concurrent_calls,
      calls_per_second_limit: row.calls_per_second_limit,
      sms_rate_limit: row.sms_rate_limit,
      sms_split_segments: row.sms_split_segments,
      rate_per_minute: Number(row.rate_per_minute),
      billing_increment_seconds: row.billing_increment_seconds,
      minimum_billable_seconds: row.minimum_billable_seconds,
      currency: row.currency,
      allowed_ips: effectiveAllowedIps(row),
      allowed_ips_default: row.allowed_ips === null,
      priority: row.priority,
      weight: row.weight,
      requires_registration: row.requires_registration,
      status: row.status,
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
      ...(warnings.length > 0 ? { warning: warnings.join('; ') } : {}),
    };
  }

  /**
   * Runs the reloads and returns the warning, if any. dispatcher.reload answers
   * "Reload Failed" when it skipped any destination of any trunk (it resolves host
   * names as it loads and drops those that do not resolve); what matters here is
   * whether it now holds this trunk's destination as written, so look.
   */
  private async reload(trunkId: string, reloads: Parameters<KamailioSync['apply']>[0]): Promise<string | undefined> {
    const outcome = await this.sync.apply(reloads);
    const skipped = outcome.failures.find((f) => f.rpc === 'dispatcher.reload' && /reload failed/i.test(f.problem));
    if (!skipped) return reloadWarning(outcome);
    let explained: ReloadOutcome['failures'][number] | undefined = skipped;
    try {
      const [expected, loaded] = await Promise.all([
        this.store.dispatcherDestination(trunkId),
        this.kamailio.dispatcherList(),
      ]);
      const held = loaded.find(
        (d) => d.setid === DISPATCHER_SET_TRUNKS && parseDispatcherAttrs(d.attrs)['trunk'] === trunkId,
      );
      if (expected === undefined && held === undefined) explained = undefined;
      else if (
        expected !== undefined &&
        held !== undefined &&
        held.uri === expected.destination &&
        held.attrs === expected.attrs
      )
        explained = undefined;
      else if (expected !== undefined && held === undefined) {
        explained = {
          rpc: skipped.rpc,
          problem: `dispatcher.reload: Kamailio did not load ${expected.destination} (does the host name resolve?)`,
        };
      }
    } catch (err) {
      if (kamailioProblem(err) === undefined) throw err;
    }
    const failures = outcome.failures.flatMap((f) => (f !== skipped ? [f] : explained ? [explained] : []));
    if (explained === undefined)
      this.logger.info("dispatcher skipped other trunks' destinations", { trunk_id: trunkId });
    return reloadWarning({ failures });
  }

  private async require(trunkId: string): Promise<TrunkRow> {
    const row = await this.store.find(trunkId);
    if (!row) throw notFound(trunkId);
    return row;
  }

  async create(input: CreateTrunkInput): Promise<TrunkView> {
    const row: NewTrunkRow = {
      trunk_id: input.trunk_id,
      name: input.name,
      provider: input.provider,
      proxy_address: input.proxy_address,
      proxy_port: input.proxy_port ?? defaultPort(input.transport),
      transport: input.transport,
      username: input.username ?? null,
      password: input.password ?? null,
      realm: input.realm ?? null,
      supports_inbound: input.supports_inbound,
      supports_outbound: input.supports_outbound,
      preferred_codecs: [...input.preferred_codecs],
      max_concurrent_calls: input.max_concurrent_calls,
      calls_per_second_limit: input.calls_per_second_limit,
      sms_rate_limit: input.sms_rate_limit,
      sms_split_segments: input.sms_split_segments,
      rate_per_minute: rateField(input.rate_per_minute),
      billing_increment_seconds: input.billing_increment_seconds,
      minimum_billable_seconds: input.minimum_billable_seconds,
      currency: input.currency,
      allowed_ips:
        input.allowed_ips === undefined || input.allowed_ips === null ? null : normaliseAllowedIps(input.allowed_ips),
      priority: input.priority,
      weight: input.weight,
      requires_registration: input.requires_registration,
      status: input.status,
    };
    checkConsistency({
      proxy_address: row.proxy_address,
      username: row.username ?? null,
      password: row.password ?? null,
      requires_registration: row.requires_registration ?? false,
    });
    let change;
    try {
      change = await this.store.insert(row);
    } catch (err) {
      if (!(err instanceof TrunkExistsError)) throw err;
      throw new AppError('ERR_TRUNK_EXISTS', `a trunk with trunk_id ${input.trunk_id} already exists`, {
        fields: [{ field: 'trunk_id', message: 'already exists' }],
      });
    }
    this.logger.info('trunk created', { trunk_id: input.trunk_id, provider: input.provider, status: input.status });
    const warning = await this.reload(input.trunk_id, change.reloads);
    return this.view(change.result, warning ? [warning] : []);
  }

  async get(trunkId: string): Promise<TrunkView> {
    return this.view(await this.require(trunkId));
  }

  async list(query: ListTrunksQuery): Promise<TrunkPage> {
    const filter = {
      ...(query.provider === undefined ? {} : { provider: query.provider }),
      ...(query.status === undefined ? {} : { status: query.status }),
    };
    const { rows, total } = await this.store.list(filter, query.page, query.per_page);
    return { items: rows.map((r) => this.view(r)), total, page: query.page, per_page: query.per_page };
  }

  private async change(
    trunkId: string,
    what: string,
    patchOf: (current: TrunkSecretRow) => TrunkPatch,
    fields: readonly string[],
  ): Promise<TrunkView> {
    const change = await this.store.update(trunkId, patchOf);
    if (!change) throw notFound(trunkId);
    this.logger.info(`trunk ${what}`, { trunk_id: trunkId, fields, reloads: change.reloads.map((r) => r.kind) });
    const warning = await this.reload(trunkId, change.reloads);
    return this.view(change.result, warning ? [warning] : []);
  }

  async update(trunkId: string, input: UpdateTrunkInput): Promise<TrunkView> {
    const rate = input.rate_per_minute === undefined ? undefined : rateField(input.rate_per_minute);
    const allowed =
      input.allowed_ips === undefined || input.allowed_ips === null
        ? input.allowed_ips
        : normaliseAllowedIps(input.allowed_ips);
    return this.change(
      trunkId,
      'updated',
      (current) => {
        const patch: TrunkPatch = {};
        for (const [key, value] of Object.entries(input) as Array<[keyof UpdateTrunkInput, unknown]>) {
          if (key === 'allowed_ips' || key === 'preferred_codecs' || key === 'rate_per_minute') continue;
          (patch as Record<string, unknown>)[key] = value;
        }
        if (rate !== undefined) patch.rate_per_minute = rate;
        if (allowed !== undefined) patch.allowed_ips = allowed;
        if (input.preferred_codecs !== undefined) patch.preferred_codecs = [...input.preferred_codecs];
        // A transport change without a port moves a default port along (5060 ↔ 5061).
        if (
          input.transport !== undefined &&
          input.proxy_port === undefined &&
          current.proxy_port === defaultPort(current.transport)
        ) {
          patch.proxy_port = defaultPort(input.transport);
        }
        const merged = { ...current, ...patch };
        checkConsistency(merged);
        return patch;
      },
      Object.keys(input),
    );
  }

  /** Active again: its destination, allowlist and registration come back. */
  activate(trunkId: string): Promise<TrunkView> {
    return this.change(trunkId, 'activated', () => ({ status: 'active' }), ['status']);
  }

  /**
   * Drains the trunk: its dispatcher destination, allowlist rows and registration go,
   * so no new call uses it; calls in progress are in-dialog and continue.
   */
  deactivate(trunkId: string): Promise<TrunkView> {
    return this.change(trunkId, 'deactivated', () => ({ status: 'inactive' }), ['status']);
  }

  async remove(trunkId: string): Promise<DeletedTrunk> {
    const change = await this.store.delete(trunkId);
    if (!change) throw notFound(trunkId);
    this.logger.info('trunk deleted', { trunk_id: trunkId, numbers_detached: change.result.numbersDetached });
    const warning = await this.reload(trunkId, change.reloads);
    return {
      trunk_id: trunkId,
      deleted: true,
      numbers_detached: change.result.numbersDetached,
      ...(warning ? { warning } : {}),
    };
  }

  /** The one place the password leaves the database. */
  async credentials(trunkId: string): Promise<TrunkCredentials> {
    const row = await this.store.credentials(trunkId);
    if (!row) throw notFound(trunkId);
    this.logger.info('trunk credentials read', { trunk_id: trunkId });
    return {
      trunk_id: row.trunk_id,
      username: row.username,
      auth_username: row.username,
      password: row.password,
      realm: row.realm,
      proxy_address: row.proxy_address,
      proxy_port: row.proxy_port,
      transport: row.transport,
      registrar: registrarUri(row),
      sip_uri: row.username === null ? null : `sip:${row.username}@${row.realm ?? sipHost(row.proxy_address)}`,
      requires_registration: row.requires_registration,
    };
  }

  async status(trunkId: string): Promise<TrunkStatusReport> {
    const row = await this.require(trunkId);
    const figures = await this.store.callFigures(trunkId);
    const active = row.status === 'active';
    const expectsDestination = active && row.supports_outbound;
    const expectsRegistration = active && row.requires_registration;
    const base = {
      trunk_id: row.trunk_id,
      status: row.status,
      max_concurrent_calls: row.max_concurrent_calls,
      calls_per_second_limit: row.calls_per_second_limit,
      cps: {
        last_minute_attempts: figures.last_minute_attempts,
        average: Math.round((figures.last_minute_attempts / 60) * 1000) / 1000,
      },
      calls: {
        today: figures.today,
        total: figures.total,
        total_duration_seconds: figures.total_duration_seconds,
        last_call_at: figures.last_call_at,
      },
      last_error: figures.last_error,
    };
    try {
      const [destinations, registration, activeCalls] = await Promise.all([
        expectsDestination ? this.kamailio.dispatcherList() : Promise.resolve([]),
        expectsRegistration ? this.kamailio.registration(trunkId) : Promise.resolve(undefined),
        this.kamailio.profileSize(DIALOG_PROFILE_TRUNK, trunkId),
      ]);
      const destination = destinations.find(
        (d) => d.setid === DISPATCHER_SET_TRUNKS && parseDispatcherAttrs(d.attrs)['trunk'] === trunkId,
      );
      return {
        ...base,
        dispatcher: !expectsDestination
          ? null
          : destination
            ? {
                state: destination.state,
                flags: destination.flags,
                probing: destination.probing,
                uri: destination.uri,
                priority: destination.priority,
              }
            : {
                state: 'not_loaded',
                flags: null,
                probing: false,
                uri: dispatcherDestination(row),
                priority: dispatcherPriority(row.priority),
              },
        registration: !expectsRegistration
          ? null
          : registration
            ? {
                state: registration.state,
                flags: registration.flags,
                expires_in: registration.expires_in,
                expires: registration.expires,
              }
            : { state: 'not_loaded', flags: null, expires_in: null, expires: null },
        active_calls: activeCalls,
      };
    } catch (err) {
      const problem = kamailioProblem(err);
      if (problem === undefined) throw err;
      return { ...base, dispatcher: null, registration: null, active_calls: null, kamailio_error: problem };
    }
  }

  async summary(): Promise<TrunkSummary> {
    const [counts, callsToday, registeringIds] = await Promise.all([
      this.store.counts(),
      this.store.callsToday(),
      this.store.registeringTrunkIds(),
    ]);
    const byStatus = { active: 0, inactive: 0 };
    const byProvider: Record<string, number> = {};
    let outbound = 0;
    let inbound = 0;
    let registering = 0;
    for (const c of counts) {
      byStatus[c.status] += c.n;
      byProvider[c.provider] = (byProvider[c.provider] ?? 0) + c.n;
      if (c.status !== 'active') continue;
      if (c.supports_outbound) outbound += c.n;
      if (c.supports_inbound) inbound += c.n;
      if (c.requires_registration) registering += c.n;
    }
    const base = {
      total: byStatus.active + byStatus.inactive,
      by_status: byStatus,
      by_provider: byProvider,
      outbound_active: outbound,
      inbound_active: inbound,
      calls_today: callsToday,
    };
    try {
      const [activeCalls, registrations] = await Promise.all([
        this.kamailio.profileSize(DIALOG_PROFILE_TRUNK),
        registering > 0 ? this.kamailio.registrationList() : Promise.resolve([]),
      ]);
      return {
        ...base,
        registrations: {
          required: registering,
          registered: registrations.filter((r) => r.state === 'registered' && registeringIds.includes(r.l_uuid)).length,
        },
        active_calls: activeCalls,
      };
    } catch (err) {
      const problem = kamailioProblem(err);
      if (problem === undefined) throw err;
      return {
        ...base,
        registrations: { required: registering, registered: null },
        active_calls: null,
        kamailio_error: problem,
      };
    }
  }
}

function notFound(trunkId: string): AppError {
  return new AppError('ERR_TRUNK_NOT_FOUND', `no trunk with trunk_id ${trunkId}`);
}
