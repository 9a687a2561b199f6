import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ERRORS, type ErrorCode } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import type { KamailioControl } from '../kamailio/control';
import type { KamailioEventSource } from '../kamailio/evapi';
import type { KamailioEvent } from '../kamailio/events';
import { deadline } from '../health/deadline';

/**
 * Kamailio statistics (`stats.fetch all`, keys `group.name`) exported as gauges at
 * scrape time. Counters inside Kamailio become gauges here because they restart
 * with Kamailio; Prometheus' rate() copes with the reset either way.
 */
export const KAMAILIO_GAUGES = [
  {
    name: 'kamailio_registered_users',
    stat: 'usrloc.registered_users',
    help: 'Users with at least one registered contact.',
  },
  {
    name: 'kamailio_registered_contacts',
    stat: 'usrloc.location_contacts',
    help: 'Registered contacts in the location table.',
  },
  { name: 'kamailio_active_dialogs', stat: 'dialog.active_dialogs', help: 'Confirmed calls in progress.' },
  { name: 'kamailio_early_dialogs', stat: 'dialog.early_dialogs', help: 'Calls ringing (early dialogs).' },
  { name: 'kamailio_active_transactions', stat: 'tmx.active_transactions', help: 'SIP transactions in progress.' },
  { name: 'kamailio_inuse_transactions', stat: 'tmx.inuse_transactions', help: 'SIP transactions held in memory.' },
  {
    name: 'kamailio_accepted_registrations',
    stat: 'registrar.accepted_regs',
    help: 'REGISTERs accepted since Kamailio started (refreshes included).',
  },
  {
    name: 'kamailio_received_requests',
    stat: 'core.rcv_requests',
    help: 'SIP requests received since Kamailio started.',
  },
  { name: 'kamailio_received_replies', stat: 'core.rcv_replies', help: 'SIP replies received since Kamailio started.' },
  { name: 'kamailio_shm_used_bytes', stat: 'shmem.used_size', help: 'Shared memory in use.' },
  { name: 'kamailio_shm_free_bytes', stat: 'shmem.free_size', help: 'Shared memory free.' },
  {
    name: 'kamailio_unauthenticated_invites',
    stat: 'script.unauthenticated_invites',
    help: 'INVITEs without credentials from sources that are not trunks (challenged).',
  },
  { name: 'kamailio_blocked_calls', stat: 'script.blocked_calls', help: 'Calls refused because a number is blocked.' },
  {
    name: 'kamailio_gateway_proof_rejected',
    stat: 'script.gateway_proof_rejected',
    help: 'New INVITEs from a media gateway address refused (403) for a missing, forged or stale X-Bridge-Proof.',
  },
  { name: 'kamailio_flood_blocked_ips', stat: 'pike.blocked_ips', help: 'Source addresses pike is blocking now.' },
] as const;

export const KAMAILIO_SCRAPE_TIMEOUT_MS = 1000;

// The codes of 4xx answers, each with a zero series from the start so rate() sees the first one.
const CLIENT_ERROR_CODES = (Object.keys(ERRORS) as ErrorCode[]).filter(
  (c) => ERRORS[c].status >= 400 && ERRORS[c].status < 500,
);
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/**
 * The control-plane's Prometheus registry: process defaults, HTTP request
 * durations, counters fed by evapi events and Kamailio gauges read per scrape. One
 * registry per app (no global default registry), so tests can run several apps.
 */
export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly httpRejected: Counter<'code'>;
  private readonly registrations: Counter<'kind'>;
  private readonly authFailures: Counter;
  private readonly lockouts: Counter;
  private readonly dialogs: Counter<'outcome'>;
  private readonly floodBans: Counter;
  private readonly authDefences: Counter<'action'>;
  private readonly evapiConnected: Gauge;
  private readonly evapiInvalid: Counter;
  private readonly kamailioUp: Gauge;
  private readonly kamailioStatistic: Gauge<'group' | 'name'>;
  private readonly kamailioScrapeErrors: Counter;
  private readonly kamailioScrapeSeconds: Gauge;
  /** Other exporters read at scrape time (e.g. the media relay's statistics), run beside Kamailio's. */
  private readonly scrapeSources: Array<() => Promise<void>> = [];
  private readonly kamailioGauges: ReadonlyArray<{
    readonly name: string;
    readonly stat: string;
    readonly gauge: Gauge;
  }>;

  constructor(
    private readonly kamailio: KamailioControl,
    private readonly logger: Logger,
    private readonly scrapeTimeoutMs = KAMAILIO_SCRAPE_TIMEOUT_MS,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by route template, method and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.httpRejected = new Counter({
      name: 'http_requests_rejected_total',
      help: "API requests refused by a defence or the client's own mistake, by error code (ERR_VALIDATION, ERR_UNAUTHENTICATED, ERR_RATE_LIMITED, ERR_BAD_REQUEST, ...).",
      labelNames: ['code'],
      registers,
    });
    this.registrations = new Counter({
      name: 'kamailio_registrations_total',
      help: 'Bindings added (kind="register") or removed (kind="unregister") by REGISTERs (evapi); refreshes of a known contact are not events, see kamailio_accepted_registrations.',
      labelNames: ['kind'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'kamailio_auth_failures_total',
      help: 'Failed SIP digest authentications (evapi).',
      registers,
    });
    this.lockouts = new Counter({
      name: 'kamailio_account_lockouts_total',
      help: 'SIP accounts locked account-wide after failures from many sources (evapi).',
      registers,
    });
    this.authDefences = new Counter({
      name: 'sip_auth_defence_total',
      help: 'Brute-force defences that fired (evapi): action="pair_locked" (a source locked out of one account), "account_locked" (account-wide), "source_banned" (brute force or credential stuffing).',
      labelNames: ['action'],
      registers,
    });
    this.dialogs = new Counter({
      name: 'kamailio_dialogs_total',
      help: 'Dialogs by outcome: started, ended, failed (evapi).',
      labelNames: ['outcome'],
      registers,
    });
    this.floodBans = new Counter({
      name: 'kamailio_flood_bans_total',
      help: 'Source addresses banned for flooding (evapi).',
      registers,
    });
    this.evapiConnected = new Gauge({
      name: 'kamailio_evapi_connected',
      help: '1 while the evapi event stream is connected.',
      registers,
    });
    this.evapiInvalid = new Counter({
      name: 'kamailio_evapi_invalid_events_total',
      help: 'evapi payloads dropped as invalid.',
      registers,
    });
    this.kamailioUp = new Gauge({
      name: 'kamailio_up',
      help: '1 if stats.fetch answered during this scrape.',
      registers,
    });
    this.kamailioStatistic = new Gauge({
      name: 'kamailio_statistic',
      help: 'Every Kamailio core and module statistic (RPC stats.fetch all: group.name), read at scrape time; counters inside Kamailio restart with it.',
      labelNames: ['group', 'name'],
      registers,
    });
    this.kamailioScrapeErrors = new Counter({
      name: 'kamailio_scrape_errors_total',
      help: 'Scrapes where Kamailio did not answer stats.fetch within the deadline (its statistics are then absent from that scrape).',
      registers,
    });
    this.kamailioScrapeSeconds = new Gauge({
      name: 'kamailio_scrape_duration_seconds',
      help: 'How long stats.fetch took during the last scrape.',
      registers,
    });
    // Not registered until a scrape reads them: while Kamailio is down they are absent, not 0.
    this.kamailioGauges = KAMAILIO_GAUGES.map((g) => ({
      name: g.name,
      stat: g.stat,
      gauge: new Gauge({ name: g.name, help: g.help, registers: [] }),
    }));
    // Zero series for every label value, so rate() works from the first event.
    for (const kind of ['register', 'unregister']) this.registrations.inc({ kind }, 0);
    for (const outcome of ['started', 'ended', 'failed']) this.dialogs.inc({ outcome }, 0);
    for (const action of ['pair_locked', 'account_locked', 'source_banned']) this.authDefences.inc({ action }, 0);
    for (const code of CLIENT_ERROR_CODES) this.httpRejected.inc({ code }, 0);
  }

  /**
   * Label values come only from the route table, the catalogue and Node's fixed
   * method list (its parser refuses any other), never from the request's path: a
   * scan of a million random paths adds no series.
   */
  observeRequest(method: string, route: string, status: number, seconds: number, code?: string): void {
    this.httpDuration.observe(
      { method: KNOWN_METHODS.has(method) ? method : 'other', route, status: String(status) },
      seconds,
    );
    if (status >= 400 && status < 500)
      this.countRejection(code !== undefined && code in ERRORS ? (code as ErrorCode) : 'ERR_BAD_REQUEST');
  }

  /** A request refused before or outside the router (e.g. by Node's HTTP parser). */
  countRejection(code: ErrorCode): void {
    this.httpRejected.inc({ code });
  }

  /** Counts events from the evapi stream; returns the function that stops counting. */
  observeEvents(source: KamailioEventSource): () => void {
    const onEvent = (e: KamailioEvent): void => this.count(e);
    const onInvalid = (): void => this.evapiInvalid.inc();
    const onConnected = (): void => this.evapiConnected.set(1);
    const onDisconnected = (): void => this.evapiConnected.set(0);
    source.on('event', onEvent);
    source.on('invalid', onInvalid);
    source.on('connected', onConnected);
    source.on('disconnected', onDisconnected);
    this.evapiConnected.set(source.connected ? 1 : 0);
    return () => {
      source.off('event', onEvent);
      source.off('invalid', onInvalid);
      source.off('connected', onConnected);
      source.off('disconnected', onDisconnected);
    };
  }

  private count(e: KamailioEvent): void {
    switch (e.event) {
      case 'registration':
        this.registrations.inc({ kind: e.expires === 0 ? 'unregister' : 'register' });
        return;
      case 'auth_failed':
        this.authFailures.inc();
        return;
      case 'pair_locked':
        this.authDefences.inc({ action: 'pair_locked' });
        return;
      case 'account_locked':
        this.lockouts.inc();
        this.authDefences.inc({ action: 'account_locked' });
        return;
      case 'source_banned':
        this.authDefences.inc({ action: 'source_banned' });
        return;
      case 'dialog_start':
        this.dialogs.inc({ outcome: 'started' });
        return;
      case 'dialog_end':
        this.dialogs.inc({ outcome: 'ended' });
        return;
      case 'dialog_failed':
        this.dialogs.inc({ outcome: 'failed' });
        return;
      case 'flood_ban':
        this.floodBans.inc();
        return;
    }
  }

  private async refreshKamailio(): Promise<void> {
    let stats: Map<string, number>;
    const started = performance.now();
    try {
      stats = await deadline(this.kamailio.stats(), this.scrapeTimeoutMs, 'Kamailio stats.fetch');
    } catch (err) {
      this.logger.warn('Kamailio statistics unavailable for this scrape', { reason: (err as Error).message });
      this.kamailioScrapeErrors.inc();
      this.kamailioUp.set(0);
      this.kamailioStatistic.reset();
      for (const { name } of this.kamailioGauges) {
        if (this.registry.getSingleMetric(name)) this.registry.removeSingleMetric(name);
      }
      return;
    }
    this.kamailioScrapeSeconds.set((performance.now() - started) / 1000);
    this.kamailioUp.set(1);
    // Reset first: a statistic a module no longer reports must not linger at its last value.
    this.kamailioStatistic.reset();
    for (const [key, value] of stats) {
      const dot = key.indexOf('.');
      if (dot > 0) this.kamailioStatistic.set({ group: key.slice(0, dot), name: key.slice(dot + 1) }, value);
    }
    for (const { name, stat, gauge } of this.kamailioGauges) {
      const value = stats.get(stat);
      if (value === undefined) continue;
      gauge.set(value);
      if (!this.registry.getSingleMetric(name)) this.registry.registerMetric(gauge);
    }
  }

  /**
   * Adds an exporter read before each scrape, concurrently with Kamailio's. It must
   * bound its own time and never throw: a source that fails counts and logs it, the
   * scrape still answers.
   */
  addScrapeSource(refresh: () => Promise<void>): void {
    this.scrapeSources.push(refresh);
  }

  /** The exposition text; reads Kamailio and the other sources first (each bounded by its deadline). */
  async render(): Promise<string> {
    await Promise.all([this.refreshKamailio(), ...this.scrapeSources.map((refresh) => refresh())]);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
