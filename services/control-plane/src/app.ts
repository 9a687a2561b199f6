import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type RequestHandler } from 'express';
import type { Kysely } from 'kysely';
import type { Config } from '../../common/src/config';
import type { Database } from '../../common/src/db/schema';
import { AppError } from '../../common/src/errors';
import type { Logger } from '../../common/src/logger';
import { TokenVerifier } from './auth/tokens';
import { logDialogEvents } from './calls/dialog-log';
import { RecordingFiles, RecordingLibrary } from './calls/recording';
import { PgRecordings } from '../../common/src/recordings/postgres';
import { CallControl } from './calls/control';
import { CallService } from './calls/service';
import { CallStore } from './calls/store';
import type { RelayPing } from './health/probes';
import type { KamailioAttachStatus } from './kamailio/attach';
import { clientErrorHandler, errorHandler, notFound } from './http/errors';
import { buildOpenApiDocument } from './http/openapi';
import { RateLimiter } from './http/rate-limit';
import { requestLog } from './http/request-log';
import type { Route } from './http/route';
import { buildRouter } from './http/router';
import { callHistoryRoutes, callRoutes } from './http/routes/calls';
import { CallHistory } from './calls/history';
import { HistoryStore } from './calls/history-store';
import { configStatusRoutes } from './http/routes/config-status';
import { dialogRoutes } from './http/routes/dialogs';
import { healthRoutes } from './http/routes/health';
import { KamailioDialogs } from './kamailio/dialogs';
import { metricsRoutes } from './http/routes/metrics';
import { numberRoutes } from './http/routes/numbers';
import { openApiRoutes } from './http/routes/openapi';
import { securityRoutes } from './http/routes/security';
import { sipUserRoutes } from './http/routes/sip-users';
import { smsRoutes } from './http/routes/sms';
import { trunkRoutes } from './http/routes/trunks';
import { listenForkRoutes } from './http/routes/listen-forks';
import { aiRouteRoutes } from './http/routes/ai-routes';
import { ivrRoutes } from './http/routes/ivr';
import { queueRoutes } from './http/routes/queues';
import { AiRouteService } from './ai-routes/service';
import { MenuService, PromptService } from './ivr/service';
import { TargetCheck } from './ivr/targets';
import { QueueService } from './queues/service';
import { QueueStatsExporter } from './metrics/queue-stats';
import { SourceAllowlist } from './http/source-allowlist';
import { SchemaValidator } from './http/validation';
import { KamailioControl } from './kamailio/control';
import type { KamailioEventSource } from './kamailio/evapi';
import { watchListenForks } from './calls/listen-forks';
import type { KamailioRpc } from '../../common/src/kamailio/rpc';
import type { DoneSignal } from '../../common/src/calls/commands';
import { ControlPlaneMetrics, KAMAILIO_SCRAPE_TIMEOUT_MS } from './metrics/metrics';
import { RelayDropCounter, type RelayCallReader } from './metrics/relay-drops';
import { RelayStatisticsExporter, type RelayStatisticsReader } from './metrics/relay-stats';
import { BlocklistService, NumberService } from './numbers/service';
import { NumberStore } from './numbers/store';
import { SecurityService } from './security/service';
import { SipUserService } from './sip-users/service';
import { SipUserStore } from './sip-users/store';
import { SmsService } from './sms/service';
import { SmsStore } from './sms/store';
import { KamailioSync } from './trunks/kamailio-sync';
import { TrunkService } from './trunks/service';
import { TrunkStore } from './trunks/store';

export const API_VERSION = '0.1.0';
const CLOSE_GRACE_MS = 3000;

/** What the app is built from; main.ts owns (and closes) each of these. */
export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Kysely<Database>;
  readonly kamailio: KamailioRpc;
  readonly relay: RelayPing & RelayCallReader & RelayStatisticsReader;
  /** The evapi stream, if this process listens to Kamailio's events. */
  readonly events?: KamailioEventSource;
  /** Wakes call-command waiters when a gateway finishes a command (a LISTEN connection); without it they poll. */
  readonly commandSignal?: DoneSignal;
  /** Start-up work that needs Kamailio (KamailioAttach): /health is 503 until it is done. */
  readonly startup?: () => KamailioAttachStatus;
}

export interface App {
  readonly express: Express;
  readonly metrics: ControlPlaneMetrics;
  readonly routes: readonly Route[];
  readonly sms: SmsService;
  /** Kamailio reloads after database changes, coalesced (the leader's trunk sync goes through it too). */
  readonly kamailioSync: KamailioSync;
  /** Starts the HTTP server; resolves with its base URL (port 0 picks a free port). */
  listen(port: number, host: string): Promise<string>;
  /** Stops accepting, ends open connections and detaches from the event stream. Idempotent. */
  close(): Promise<void>;
}

/** The control-plane HTTP API over the given dependencies (also used in-process by tests). */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const startedAt = Date.now();
  const allowlist = new SourceAllowlist(config.api.allowedCidrs);
  const kamailio = new KamailioControl(deps.kamailio, {
    maxFailures: config.sip.lockout.maxFailures,
    lockSeconds: config.sip.lockout.lockSeconds,
    sourceBanSeconds: config.sip.bruteForce.sourceBanSeconds,
    floodBanSeconds: config.sip.flood.banSeconds,
  });
  const metrics = new ControlPlaneMetrics(kamailio, logger.child({ component: 'metrics' }));
  new RelayDropCounter(
    deps.relay,
    metrics.registry,
    logger.child({ component: 'media-relay' }),
    KAMAILIO_SCRAPE_TIMEOUT_MS,
  );
  const relayStatistics = new RelayStatisticsExporter(
    deps.relay,
    metrics.registry,
    logger.child({ component: 'media-relay' }),
    KAMAILIO_SCRAPE_TIMEOUT_MS,
  );
  metrics.addScrapeSource(() => relayStatistics.refresh());
  const stopCounting = deps.events ? metrics.observeEvents(deps.events) : () => undefined;
  const stopDialogLog = deps.events
    ? logDialogEvents(deps.events, logger.child({ component: 'calls' }))
    : () => undefined;
  const stopForks = deps.events
    ? watchListenForks({
        events: deps.events,
        db: deps.db,
        defaultAiUrl: config.ai.defaultUrl,
        logger: logger.child({ component: 'listen-forks' }),
        metrics: metrics.registry,
      })
    : () => undefined;
  const users = new SipUserService(
    new SipUserStore(deps.db),
    kamailio,
    { domain: config.sip.domain, proxyAddress: config.sip.proxyAddress, port: config.sip.port },
    logger.child({ component: 'sip-users' }),
  );
  const kamailioSync = new KamailioSync(kamailio, logger.child({ component: 'kamailio-sync' }));
  const trunks = new TrunkService(
    new TrunkStore(deps.db),
    kamailio,
    kamailioSync,
    logger.child({ component: 'trunks' }),
  );
  const numberStore = new NumberStore(deps.db);
  const numbers = new NumberService(numberStore, kamailioSync, logger.child({ component: 'numbers' }));
  const blocklist = new BlocklistService(numberStore, kamailio, kamailioSync, logger.child({ component: 'blocklist' }));
  const callsLogger = logger.child({ component: 'calls' });
  const calls = new CallService(
    new CallStore(deps.db),
    new RecordingLibrary(new PgRecordings(deps.db), new RecordingFiles(config.gateway.recordingsDir, callsLogger)),
    callsLogger,
  );

  const dialogs = new KamailioDialogs(deps.kamailio);
  const control = new CallControl({
    db: deps.db,
    dialogs,
    ...(deps.commandSignal ? { signal: deps.commandSignal } : {}),
    commandTimeoutMs: config.callControl.commandTimeoutMs,
    webhooksAllowPrivate: config.webhooks.allowPrivateAddresses,
    logger: callsLogger,
    registry: metrics.registry,
  });

  const sms = new SmsService(deps.db, new SmsStore(deps.db), logger.child({ component: 'sms' }));

  const targets = new TargetCheck(deps.db);
  const ivrLogger = logger.child({ component: 'ivr' });
  const queues = new QueueService(deps.db, targets, logger.child({ component: 'queues' }));
  const queueStats = new QueueStatsExporter(
    queues,
    metrics.registry,
    logger.child({ component: 'metrics' }),
    KAMAILIO_SCRAPE_TIMEOUT_MS,
  );
  metrics.addScrapeSource(() => queueStats.refresh());

  let openApiDocument: object | undefined;
  const routes: Route[] = [
    ...healthRoutes({
      db: deps.db,
      databaseUrl: config.databaseUrl,
      startedAt,
      ...(deps.startup ? { kamailio: deps.startup } : {}),
    }),
    ...metricsRoutes(metrics),
    ...configStatusRoutes({ config, db: deps.db, kamailio, relay: deps.relay, events: deps.events }),
    ...sipUserRoutes(users),
    ...securityRoutes(new SecurityService(kamailio, logger.child({ component: 'security' }))),
    ...trunkRoutes(trunks),
    ...numberRoutes(numbers, blocklist),
    // /api/calls/history before /api/calls/{call_id}.
    ...callHistoryRoutes(new CallHistory(new HistoryStore(deps.db))),
    ...callRoutes(calls, control),
    ...dialogRoutes(dialogs),
    ...smsRoutes(sms),
    ...listenForkRoutes(deps.db),
    ...aiRouteRoutes(
      new AiRouteService(
        deps.db,
        targets,
        { allowPrivateAddresses: config.aiRoutes.allowPrivateAddresses },
        logger.child({ component: 'ai-routes' }),
      ),
    ),
    ...ivrRoutes(new MenuService(deps.db, targets, ivrLogger), new PromptService(deps.db, targets, ivrLogger)),
    ...queueRoutes(queues),
    ...openApiRoutes(
      () =>
        (openApiDocument ??= buildOpenApiDocument(routes, {
          title: 'SIP-to-AI bridge control-plane API',
          version: API_VERSION,
          description:
            'Manage SIP users, trunks, numbers and the blocklist, AI routes, IVR menus and prompts, and call queues (with their statistics and operator moves), read the AI calls with their transcripts and recordings, send and follow SMS, and watch the SIP edge (Kamailio, media relay, PostgreSQL). See docs/api.md.',
        })),
    ),
  ];

  const sourceAllowed: RequestHandler = (req, _res, next) => {
    if (allowlist.allows(req.socket.remoteAddress)) next();
    else next(new AppError('ERR_SOURCE_NOT_ALLOWED'));
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(
    requestLog(logger.child({ component: 'http' }), (m, r, s, sec, code) => metrics.observeRequest(m, r, s, sec, code)),
  );
  app.use(sourceAllowed);
  const limiter = new RateLimiter(
    { perIp: config.api.rateLimitPerIp, perToken: config.api.rateLimitPerToken },
    logger.child({ component: 'http' }),
  );
  app.use(limiter.sources);
  app.use(
    buildRouter(routes, {
      verifier: new TokenVerifier({ operator: config.secrets.jwtSecretKey, admin: config.secrets.sipJwtSecret }),
      validator: new SchemaValidator(),
      limiter,
    }),
  );
  app.use(notFound);
  app.use(errorHandler(logger.child({ component: 'http' })));

  let server: Server | undefined;
  let closing: Promise<void> | undefined;
  return {
    express: app,
    metrics,
    routes,
    sms,
    kamailioSync,
    listen(port, host) {
      if (server) throw new TypeError('listen() was called twice');
      const s = createServer(app);
      s.keepAliveTimeout = config.api.keepAliveSeconds * 1000;
      s.on(
        'clientError',
        clientErrorHandler(logger.child({ component: 'http' }), (code) => metrics.countRejection(code)),
      );
      server = s;
      return new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          const address = s.address() as AddressInfo;
          const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve(`http://${shownHost}:${address.port}`);
        });
      });
    },
    close() {
      closing ??= (async () => {
        stopCounting();
        stopDialogLog();
        stopForks();
        const s = server;
        if (!s || !s.listening) return;
        await new Promise<void>((resolve) => {
          // In-flight requests get a grace period; idle keep-alive sockets go now.
          const force = setTimeout(() => s.closeAllConnections(), CLOSE_GRACE_MS);
          s.close(() => {
            clearTimeout(force);
            resolve();
          });
          s.closeIdleConnections();
        });
      })();
      return closing;
    },
  };
}
