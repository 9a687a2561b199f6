import type { Kysely } from 'kysely';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../../common/src/config';
import type { Database } from '../../../common/src/db/schema';
import { DispatcherMembership } from '../../../common/src/kamailio/dispatcher-membership';
import { SMS_SET } from '../../../common/src/kamailio/names';
import type { Logger } from '../../../common/src/logger';
import type { KamailioEventSource } from '../kamailio/evapi';
import type { KamailioRpc } from '../../../common/src/kamailio/rpc';
import { AiSmsDelivery, type AiSmsTarget } from './ai-delivery';
import { SmsInbound } from './inbound';
import type { SmsService } from './service';
import { SmsSipEndpoint } from './sip-endpoint';
import { NOT_THROUGH_PROXY, PROXY_PROOF_HEADER, ProxyProofVerifier } from '../../../common/src/sip/proxy-proof';
import { SmsStore } from './store';
import { SmsWorker } from './worker';

export interface SmsRuntimeDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly rpc: KamailioRpc;
  readonly events?: KamailioEventSource;
  readonly service: SmsService;
  readonly registry: Registry;
  readonly logger: Logger;
}

/**
 * The SMS side of a control-plane process: the SIP endpoint (joined to Kamailio's
 * dispatcher set 3 while it runs), the inbound handler, and — unless SMS_WORKER is
 * off — a queue worker. Metrics go into the process's registry.
 */
export class SmsRuntime {
  private readonly endpoint: SmsSipEndpoint;
  private readonly worker: SmsWorker | undefined;
  private readonly ai: AiSmsDelivery;
  private readonly store: SmsStore;
  private membership: DispatcherMembership | undefined;
  private readonly inbound: SmsInbound;
  private partsTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: SmsRuntimeDeps) {
    const { config, logger } = deps;
    this.store = new SmsStore(deps.db);
    const registers = [deps.registry];
    const outcomes = new Counter({
      name: 'sms_outcomes_total',
      help: 'SMS attempts by resulting status (sent, delivered, failed, queued = retry scheduled, received = waiting).',
      labelNames: ['direction', 'status'],
      registers,
    });
    const received = new Counter({
      name: 'sms_received_total',
      help: 'MESSAGE / NOTIFY requests the SMS endpoint answered, by SIP status.',
      labelNames: ['status'],
      registers,
    });
    const rejected = new Counter({
      name: 'sms_sip_rejected_total',
      help: 'MESSAGE / NOTIFY requests refused with 403 because they did not come through Kamailio: no_proof, bad_proof, stale_proof.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['no_proof', 'bad_proof', 'stale_proof']) rejected.inc({ reason }, 0);
    const proof = new ProxyProofVerifier({
      secret: config.secrets.proxySharedSecret,
      maxAgeSeconds: config.proxyProofMaxAgeSeconds,
    });
    // Both queue gauges come from one query per scrape.
    let depth: { at: number; value: ReturnType<SmsStore['depth']> } | undefined;
    const readDepth = (): ReturnType<SmsStore['depth']> => {
      if (!depth || Date.now() - depth.at > 1000) depth = { at: Date.now(), value: this.store.depth() };
      return depth.value;
    };
    new Gauge({
      name: 'sms_queue_depth',
      help: 'Messages waiting (queued or received, including scheduled retries) and in flight.',
      labelNames: ['state'],
      registers,
      async collect() {
        const d = await readDepth().catch(() => null);
        if (!d) return;
        this.set({ state: 'waiting' }, d.waiting);
        this.set({ state: 'in_flight' }, d.inFlight);
      },
    });
    new Gauge({
      name: 'sms_queue_oldest_age_seconds',
      help: 'Age of the oldest message not yet sent or delivered.',
      registers,
      async collect() {
        const d = await readDepth().catch(() => null);
        if (d) this.set(d.oldestAgeSeconds);
      },
    });

    const inbound = new SmsInbound(
      deps.db,
      this.store,
      () => this.worker?.nudge(),
      logger.child({ component: 'sms-inbound' }),
    );
    this.inbound = inbound;
    this.endpoint = new SmsSipEndpoint(
      {
        host: config.sms.sipAddress,
        port: config.sms.sipPort,
        proxy: { address: config.sip.listenAddress, port: config.sip.port },
        logger: logger.child({ component: 'sms-sip' }),
        // X-Bridge-Source and X-Bridge-Route are only worth believing when Kamailio set them.
        admission: {
          admit: (req) => proof.verify(req.headers.get(PROXY_PROOF_HEADER), req.headers.get('Call-ID') ?? ''),
          refusalReason: NOT_THROUGH_PROXY,
        },
        onRefused: (r) => rejected.inc({ reason: r.reason }),
      },
      async (req) => {
        const answer = await inbound.handle(req);
        received.inc({ status: String(answer.status) });
        return answer;
      },
    );
    this.ai = new AiSmsDelivery({
      jwtSecret: config.secrets.jwtSecretKey,
      sharedSecret: config.secrets.sipSharedSecret,
      timeoutMs: config.sms.aiTimeoutMs,
      logger: logger.child({ component: 'sms-ai' }),
    });
    if (config.sms.worker) {
      this.worker = new SmsWorker(
        {
          databaseUrl: config.databaseUrl,
          name: `sms ${config.sms.sipAddress}:${config.sms.sipPort}`,
          domain: config.sip.domain,
          batchSize: config.sms.batchSize,
          maxAttempts: config.sms.maxAttempts,
          retryBaseMs: config.sms.retryBaseMs,
          retryMaxMs: config.sms.retryMaxMs,
          userOfflineRetrySeconds: config.sms.userOfflineRetrySeconds,
          userHoldHours: config.sms.userHoldHours,
        },
        {
          db: deps.db,
          store: this.store,
          sender: this.endpoint,
          ai: this.ai,
          aiTarget: (n) => this.aiTarget(n),
          logger: logger.child({ component: 'sms-worker' }),
          onOutcome: (row, o) => outcomes.inc({ direction: row.direction, status: o.status }),
        },
      );
      deps.service.onQueued = () => this.worker?.nudge();
    }
    deps.events?.on('event', (event) => {
      const e = event as { event?: unknown; user?: unknown; expires?: unknown };
      if (e.event !== 'registration' || typeof e.user !== 'string' || e.expires === 0) return;
      void this.store.wakeUser(e.user).then(
        (n) => n > 0 && this.worker?.nudge(),
        (err: Error) => logger.warn('SMS wake-up on registration failed', { err: err.message }),
      );
    });
  }

  /** The SIP endpoint and the worker; Kamailio is not needed yet (see {@link joinSmsSet}). */
  async start(): Promise<void> {
    await this.endpoint.start();
    await this.worker?.start();
    if (this.worker) {
      const timeout = this.deps.config.sms.partTimeoutSeconds;
      this.partsTimer = setInterval(
        () => {
          this.inbound
            .flushExpiredParts(timeout)
            .catch((err: Error) => this.deps.logger.warn('flushing incomplete SMS parts failed', { err: err.message }));
        },
        Math.min(10_000, timeout * 500),
      );
    }
  }

  /**
   * Enters this endpoint in Kamailio's SMS set, so Kamailio sends it messages. Needs
   * Kamailio to answer; idempotent (its own row is replaced), so it can be retried.
   */
  async joinSmsSet(): Promise<void> {
    const membership = new DispatcherMembership(
      this.deps.db,
      this.deps.rpc,
      SMS_SET,
      `sms ${this.deps.config.sms.sipAddress}:${this.endpoint.port}`,
      this.endpoint.uri,
    );
    await membership.join();
    this.membership = membership;
  }

  async close(): Promise<void> {
    clearInterval(this.partsTimer);
    await this.membership
      ?.leave()
      .catch((err: Error) => this.deps.logger.warn('leaving the SMS dispatcher set failed', { err: err.message }));
    await this.worker?.close();
    await this.ai.close();
    await this.endpoint.close();
  }

  private async aiTarget(number: string): Promise<AiSmsTarget | null> {
    const row = await this.deps.db
      .selectFrom('numbers')
      .select(['ai_agent_url', 'ai_dialect', 'ai_options'])
      .where('number', '=', number)
      .where('route_type', '=', 'ai')
      .where('enabled', '=', true)
      .executeTakeFirst();
    if (!row) return null;
    const custom = row.ai_options ?? {};
    const webhook = typeof custom['sms_webhook_url'] === 'string' ? custom['sms_webhook_url'] : undefined;
    return {
      url: row.ai_agent_url ?? this.deps.config.ai.defaultUrl,
      dialect: row.ai_dialect ?? this.deps.config.ai.dialect,
      ...(webhook ? { webhookUrl: webhook } : {}),
      custom,
    };
  }
}
