import { mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { ConfigError, loadConfig, type Config } from '../../common/src/config';
import { connectDatabase } from '../../common/src/db/connect';
import { DispatcherMembership } from '../../common/src/kamailio/dispatcher-membership';
import { GATEWAY_SET } from '../../common/src/kamailio/names';
import { createLogger, type Logger } from '../../common/src/logger';
import { runProcess, type ProcessScope } from '../../common/src/process/run';
import { UserAgent } from '../../common/src/sip';
import { kamailioRpcFromConfig } from '../../common/src/kamailio/rpc';
import { AiStream } from './ai-stream';
import type { AiTarget, CallDeps, CallParties, CallTransferDeps } from './calls/call';
import { transferCommand } from './calls/transfer-command';
import { CallManager } from './calls/call-manager';
import { OutboundCalls } from './calls/outbound';
import { PgOutboundStore } from './calls/outbound-store';
import { dialer, negotiator, proxyAdmission, routeCalls } from './calls/sip-adapter';
import { controlPlaneSms } from './calls/sms-client';
import { OrderedCallStore, PgCallStore } from './calls/store';
import { FrameClock } from './clock/frame-clock';
import { registerHangup } from './control/hangup';
import { registerHoldCommands } from './control/hold';
import { registerForks } from './forks/handler';
import { createMediaRelay } from '../../common/src/media-relay';
import { CommandRegistry, startCommandChannel } from './control/registry';
import { GatewayLease, PgLeaseStore } from './fleet/lease';
import { G711Plc } from './dsp/plc';
import { InbandDtmfDetector, wantsInbandDtmf } from './dtmf/inband';
import { TelephoneEventReceiver } from './dtmf/rfc4733';
import { HoldAudio } from './media/hold-audio';
import { PortAllocator } from './media/rtp-socket';
import { GatewayMetrics } from './metrics';
import { MusicLibrary, MusicLoop } from './moh/library';
import { MenuRunner } from './ivr/menu-runner';
import { IvrMetrics } from './ivr/metrics';
import { PromptLibrary } from './ivr/prompts';
import { MenuCache, PgIvrRows } from './ivr/store';
import { EspeakTts } from './ivr/tts';
import { startQueues } from './queues';
import { Actions, AiTargets } from './routing/actions';
import { OpsHttpServer, type Readiness } from './ops/http-server';
import { GatewayPrimary } from './replicas/primary';
import { announceReady, gatewayRole, isReplica, reportMetricsToPrimary, type GatewayRole } from './replicas/role';
import { replicaPorts } from './replicas/slice';
import { JitterBuffer } from './rtp/jitter-buffer';
import { recordingKeeper } from './recording/storage';

// Declared before runProcess(), which starts the process synchronously and reads them.
/** What a replica gets beyond its drain grace to end its calls, write their records and exit. */
const REPLICA_STOP_MARGIN_MS = 15_000;
/** How long a stopping gateway lets commands already running finish. */
const COMMANDS_STOP_GRACE_MS = 5_000;
/** A readiness probe's database check gives up after this. */
const DB_CHECK_TIMEOUT_MS = 1000;

/**
 * The media-gateway process: one whole gateway, or (GATEWAY_WORKERS > 1) a primary
 * that forks and supervises replicas, each a whole gateway (replicas/role.ts).
 * SIGTERM / SIGINT close everything in reverse order of construction (runProcess);
 * for a gateway that is a drain first (see startGateway).
 */
runProcess({
  name: 'media-gateway',
  configure: () => loadConfig(process.env),
  configError: ConfigError,
  logger: (config) => {
    const base = createLogger('media-gateway', config.logLevel);
    const role = gatewayRole(config.gateway.workers);
    return role.kind === 'replica' ? base.child({ replica: role.index }) : base;
  },
  // The IPC channel to the primary (and prom-client's listener on it) would keep a replica alive.
  exitWhenStopped: isReplica(),
  start(config, logger, scope) {
    const role = gatewayRole(config.gateway.workers);
    return role.kind === 'primary' ? startPrimary(config, logger, scope) : startGateway(config, logger, scope, role);
  },
});

/** GATEWAY_WORKERS > 1: fork the replicas and serve their health and metrics. */
async function startPrimary(config: Config, logger: Logger, scope: ProcessScope): Promise<void> {
  const primary = new GatewayPrimary({
    replicas: config.gateway.workers,
    id: config.gateway.id,
    httpPort: config.gateway.httpPort,
    httpHost: config.gateway.httpHost,
    // Replicas drain their calls for up to the grace period before they exit.
    stopTimeoutMs: Math.max(config.gateway.replicaStopTimeoutMs, config.gateway.drainGraceMs + REPLICA_STOP_MARGIN_MS),
    logger,
  });
  scope.defer(() => primary.stop());
  await primary.start();
}

/**
 * One gateway: the whole process, or one replica under a primary.
 *
 * Ready (GET /health 200, a member of Kamailio's gateway set) once its SIP user agent
 * listens, its lease is taken and it joined the set; not ready while the database
 * does not answer. On SIGTERM it drains: new INVITEs get 503 at once, /health says
 * "draining", its row in the gateway set is disabled (Kamailio sends it no new calls
 * but still proves the in-dialog requests of live ones), live calls run for up to
 * GATEWAY_DRAIN_GRACE_SECONDS and are then ended (reason gateway_shutdown); then it
 * leaves the set, closes its SIP user agent, writes the last call records, gives up
 * its lease and exits. A gateway killed without draining is found by its expired
 * lease (fleet/lease.ts).
 */
async function startGateway(
  config: Config,
  logger: Logger,
  scope: ProcessScope,
  role: Exclude<GatewayRole, { kind: 'primary' }>,
): Promise<void> {
  const own = replicaPorts(
    {
      id: config.gateway.id,
      sipPort: config.gateway.sipPort,
      rtpPortMin: config.gateway.rtpPortMin,
      rtpPortMax: config.gateway.rtpPortMax,
    },
    role.index,
    role.of,
  );
  const g = { ...config.gateway, ...own };
  mkdirSync(g.recordingsDir, { recursive: true });
  const rpc = kamailioRpcFromConfig(config);
  // Deferred first, so closed last: leaving the set and the lease sweep's reload need it.
  scope.defer(() => rpc.close());
  const database = connectDatabase(config.databaseUrl, {
    max: g.dbPoolSize,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    onIdleError: (err) => logger.warn('database connection lost; reconnecting on next use', { error: err.message }),
  });
  scope.defer(() => database.close());
  const lease = new GatewayLease({
    gateway: g.id,
    store: new PgLeaseStore(database.db),
    ttlMs: g.leaseMs,
    logger: logger.child({ component: 'lease' }),
    onLost: async ({ gateways, calls }) => {
      logger.warn('gateways gone without stopping: closed their calls and removed them from the gateway set', {
        gateways,
        calls,
      });
      await rpc.call('dispatcher.reload');
    },
  });
  // Given up after the last call records are written: until then our calls are ours.
  scope.defer(() => lease.stop());
  const records = new PgCallStore(database.db);
  const store = new OrderedCallStore(records, {
    logger: logger.child({ component: 'call-records' }),
    retryForMs: g.recordsRetryMs,
  });
  scope.defer(() => store.drain(g.recordsDrainMs));
  const ports = new PortAllocator(g.rtpPortMin, g.rtpPortMax, g.rtpReceiveBufferBytes);
  const now = (): number => performance.now();

  // The metrics, the ops server and the call manager refer to each other; the
  // closures below only read `manager` once it is built.
  const metrics = new GatewayMetrics({
    get active() {
      return manager.active;
    },
    totals() {
      let playoutMs = 0;
      let jitterMs = 0;
      const calls = manager.list();
      for (const c of calls) {
        playoutMs += c.figures.playoutMs;
        jitterMs += c.figures.jitterMs;
      }
      return { playoutMs, jitterMs, calls: calls.length };
    },
  });
  let phase: 'starting' | 'ready' | 'draining' = 'starting';
  const readiness = async (): Promise<Readiness> => {
    if (phase !== 'ready')
      return { ready: false, status: phase, reason: phase === 'draining' ? 'stopping: no new calls' : 'starting' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database did not answer in time')), DB_CHECK_TIMEOUT_MS);
    });
    try {
      await Promise.race([sql`SELECT 1`.execute(database.db), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return { ready: true };
  };
  // A replica's health and metrics are served by its primary.
  const ops =
    role.kind === 'replica'
      ? null
      : new OpsHttpServer({
          gatewayId: g.id,
          activeCalls: () => manager.active,
          registry: metrics.registry,
          readiness,
        });
  if (ops) scope.defer(() => ops.close());

  // Every call's 20 ms work in one burst, and every replica's burst at the same
  // moment: the relay and the AI platform are woken once for a batch of packets
  // rather than once per packet (or per replica).
  const clock = new FrameClock({ alignTo: () => performance.timeOrigin + performance.now() });
  scope.defer(() => clock.close());

  const ua = new UserAgent({
    admission: proxyAdmission({
      secret: config.secrets.proxySharedSecret,
      maxAgeSeconds: config.proxyProofMaxAgeSeconds,
    }),
    host: g.sipAddress,
    port: g.sipPort,
    transports: ['udp', 'tcp'],
    userAgent: 'sip-ai-bridge media-gateway',
    // The manager answers 503 itself past maxCalls, with a reason; this cap only guards the UA.
    maxCalls: g.maxCalls + g.sipCallHeadroom,
    logger: logger.child({ component: 'sip' }),
  });
  scope.defer(() => ua.close());

  const sendSms = controlPlaneSms({
    host: config.api.host,
    port: config.api.port,
    jwtSecretKey: config.secrets.jwtSecretKey,
  });
  // Music on hold: the default tune generated now, each piece encoded once and shared by every call.
  const music = new MusicLibrary({
    musicDir: g.holdMusic.dir,
    cacheDir: g.holdMusic.cacheDir,
    maxBytes: g.holdMusic.cacheBytes,
    logger: logger.child({ component: 'hold-music' }),
    onRefused: (code) => metrics.holdMusicRefused(code),
  });
  await music.start();
  // Transfers: bridged and warm ones dial the target through Kamailio, like placed calls.
  const transfers: CallTransferDeps = {
    domain: config.sip.domain,
    dial: dialer(ua, {
      proxy: { host: g.outboundProxyHost, port: config.sip.port },
      domain: config.sip.domain,
      proofSecret: config.secrets.proxySharedSecret,
    }),
    ringTimeoutMs: config.transfers.ringTimeoutSeconds * 1000,
    metrics,
  };
  const callDeps = (request: CallParties, target: AiTarget): CallDeps => ({
    request,
    target,
    gatewayId: g.id,
    rtpAddress: g.sipAddress,
    openSocket: () => ports.open(g.sipAddress),
    negotiate: negotiator(),
    createAiStream: (info) =>
      new AiStream({
        url: info.url,
        dialect: info.dialect,
        call: {
          callId: info.callId,
          conversationId: info.callId,
          from: info.from,
          to: info.to,
          direction: info.direction,
          codec: info.codec,
          customParameters: info.customParameters,
        },
        secrets: { jwtSecretKey: config.secrets.jwtSecretKey, sipSharedSecret: config.secrets.sipSharedSecret },
        reconnect: {
          maxDownMs: config.ai.reconnectWindowMs,
          initialDelayMs: config.ai.reconnectInitialDelayMs,
          maxDelayMs: config.ai.reconnectMaxDelayMs,
        },
        queue: { maxBufferedMs: config.ai.queueMaxMs },
        heartbeatMs: config.ai.heartbeatMs,
        connectTimeoutMs: config.ai.connectTimeoutMs,
        closeTimeoutMs: config.ai.closeTimeoutMs,
        logger: logger.child({ component: 'ai-stream', call_id: info.callId, sip_call_id: request.sipCallId }),
      }),
    mediaParts: (codecPt, telephoneEventPt, opts) => {
      const hold = new HoldAudio();
      return {
        jitter: new JitterBuffer({ payloadTypes: [codecPt], ...g.jitter }),
        concealer: new G711Plc(),
        // Calls answered for a menu or a queue always listen for tones (opts.inband).
        inband: opts?.inband || wantsInbandDtmf(g.inbandDtmf, telephoneEventPt) ? new InbandDtmfDetector() : null,
        telephoneEvents: new TelephoneEventReceiver({ now }),
        holdAudio: () => hold.next(),
        now,
      };
    },
    subscribeClock: (listener) => clock.subscribe(listener),
    store,
    sendSms,
    metrics,
    holdMusic: async (name, codec) => new MusicLoop(await music.music(name, codec)),
    transfers,
    recordingsDir: g.recordingsDir,
    keepRecording: recordingKeeper(g.recordingsStorage, database.db),
    lastWordsMs: g.lastWordsMs,
    logger,
    now,
  });

  const demoAgentUrl = `ws://${config.demoAgent.host}:${config.demoAgent.port}`;
  // IVR menus (ivr/, routing/) and queues with concurrency limits (queues/): callers routed
  // ivr|<menu> hear a prompt and choose; queue|<name>, or over a number's or an AI route's
  // limit, wait with music; any gateway dispatches them (queue_events).
  const ivrLog = logger.child({ component: 'ivr' });
  const ivrRows = new PgIvrRows(database.db);
  const aiTargets = new AiTargets({
    aiRoute: (name) => ivrRows.aiRoute(name),
    numberTarget: (digits): Promise<AiTarget> => manager.resolveTarget(`ai|${digits}`),
    defaultTarget: { url: config.ai.defaultUrl, dialect: config.ai.dialect },
    demoAgentUrl: config.ai.defaultUrl === demoAgentUrl ? demoAgentUrl : undefined,
  });
  // espeak-ng: menu prompts and queue announcements, each text rendered once (disk cache).
  const tts = new EspeakTts({
    command: g.ivr.ttsCommand,
    defaultVoice: g.ivr.ttsVoice,
    timeoutMs: g.ivr.ttsTimeoutMs,
    cacheDir: g.ivr.promptCacheDir,
    logger: logger.child({ component: 'tts' }),
  });
  const queues = await startQueues({
    gateway: g.id,
    db: database.db,
    connection: { connectionString: config.databaseUrl, connectionTimeoutMillis: config.databaseConnectTimeoutMs },
    targets: aiTargets,
    music: async (name, codec) => new MusicLoop(await music.music(name, codec)),
    speak: (text, voice) => tts.speak(text, voice),
    registry: metrics.registry,
    logger: logger.child({ component: 'queues' }),
  });
  scope.defer(() => queues.stop());
  const actions = new Actions({
    ai: queues.ai,
    queue: queues.service,
    runMenu: (call, menu): Promise<void> => menus.run(call, menu),
    ringTimeoutMs: g.ivr.ringTimeoutMs,
    logger: logger.child({ component: 'actions' }),
  });
  const menus = new MenuRunner({
    menus: new MenuCache(ivrRows),
    prompts: new PromptLibrary({ tts, rows: ivrRows, maxBytes: g.ivr.promptCacheBytes, logger: ivrLog }),
    actions,
    aiTargets,
    logger: ivrLog,
    metrics: new IvrMetrics(metrics.registry),
  });
  queues.setActions({
    run: async (call, action) => {
      const outcome = await actions.run(call, action);
      // Outside a menu there is nothing to go back to: a target that could not take the call ends it.
      if ((outcome.kind === 'replay' || outcome.kind === 'menu') && call.live)
        await call.end(`queue_${outcome.kind}`, 'gateway');
    },
  });
  const manager = new CallManager({
    maxCalls: g.maxCalls,
    defaultTarget: { url: config.ai.defaultUrl, dialect: config.ai.dialect },
    demoAgentUrl: config.ai.defaultUrl === demoAgentUrl ? demoAgentUrl : undefined,
    callDeps,
    numberSettings: (digits) => store.numberSettings(digits),
    // Menus (ivr/), queues and AI route limits (queues/).
    routes: { ...queues.routes, ivr: (call, menu): Promise<void> => menus.run(call, menu) },
    logger,
  });
  scope.defer(() => manager.close());
  routeCalls(ua, { calls: manager, metrics, logger });

  // Calls placed through Kamailio (POST /api/calls/initiate → the originate command).
  const outboundRecords = new PgOutboundStore(database.db);
  const outboundStore = new OrderedCallStore(outboundRecords, {
    logger: logger.child({ component: 'call-records' }),
    retryForMs: g.recordsRetryMs,
  });
  scope.defer(() => outboundStore.drain(g.recordsDrainMs));
  const outbound = new OutboundCalls({
    gatewayId: g.id,
    dial: dialer(ua, {
      proxy: { host: g.outboundProxyHost, port: config.sip.port },
      domain: config.sip.domain,
      proofSecret: config.secrets.proxySharedSecret,
    }),
    openSocket: () => ports.open(g.sipAddress),
    rtpAddress: g.sipAddress,
    negotiator,
    records: outboundRecords,
    callStore: outboundStore,
    ordered: (callId, what, write) => outboundStore.run(callId, what, write),
    resolveTarget: (route) => manager.resolveTarget(route),
    demoAgentUrl: config.ai.defaultUrl === demoAgentUrl ? demoAgentUrl : undefined,
    callDeps,
    adopt: (deps) => manager.adopt(deps),
    canTake: (): boolean => !manager.refusing && manager.active + outbound.pending < g.maxCalls,
    metrics,
    logger: logger.child({ component: 'outbound' }),
  });
  // After the drain (registered later, so run first): what still rings then is cancelled.
  scope.defer(() => outbound.close());

  const membership = new DispatcherMembership(
    database.db,
    rpc,
    GATEWAY_SET,
    g.id,
    `sip:${g.sipAddress}:${g.sipPort}`,
    `gateway=${g.id}`,
  );
  // Left once the live calls are over (the drain below runs first), before the UA closes.
  scope.defer(() =>
    membership.leave().catch((err: Error) => logger.warn('could not leave the gateway set', { error: err.message })),
  );

  // A gateway with this id that stopped without ending its calls (killed, crashed)
  // left their rows active; those calls died with it.
  const orphans = await records.closeOrphans(g.id, 'gateway restarted');
  if (orphans > 0)
    logger.warn('closed the calls a previous run of this gateway left active', { gateway: g.id, calls: orphans });
  await lease.start();
  await ua.start();
  // Commands to live calls from any control-plane (hangup, transfer, hold, ...): each
  // feature registers its handler; stopped after the drain, so calls still draining
  // can be hung up.
  const commands = new CommandRegistry();
  registerHangup(commands, () => [...manager.list(), ...outbound.list()]);
  commands.registerCommand('originate', (cmd) => outbound.originate(cmd));
  registerHoldCommands(commands, manager);
  commands.registerCommand(
    'transfer',
    transferCommand((id) => manager.list().find((c) => c.id === id), logger.child({ component: 'transfer' })),
  );
  const forkRelay = createMediaRelay(config.relay, logger.child({ component: 'media-relay' }));
  scope.defer(() => forkRelay.close());
  const forks = registerForks(commands, {
    relay: forkRelay,
    openSocket: () => ports.open(g.sipAddress),
    rtpAddress: g.sipAddress,
    secrets: { jwtSecretKey: config.secrets.jwtSecretKey, sipSharedSecret: config.secrets.sipSharedSecret },
    reconnect: {
      maxDownMs: config.ai.reconnectWindowMs,
      initialDelayMs: config.ai.reconnectInitialDelayMs,
      maxDelayMs: config.ai.reconnectMaxDelayMs,
    },
    connectTimeoutMs: config.ai.connectTimeoutMs,
    idleMs: config.listenForks.idleMs,
    metrics: metrics.registry,
    logger: logger.child({ component: 'listen-forks' }),
  });
  scope.defer(() => forks.closeAll('gateway stopping'));
  const channel = await startCommandChannel({
    gateway: g.id,
    db: database.db,
    connection: { connectionString: config.databaseUrl, connectionTimeoutMillis: config.databaseConnectTimeoutMs },
    registry: commands,
    maxConcurrent: config.callControl.gatewayConcurrency,
    takeUnowned: () => phase === 'ready' && !manager.refusing && manager.active + outbound.pending < g.maxCalls,
    pollMs: config.callControl.commandPollMs,
    metrics: metrics.registry,
    logger: logger.child({ component: 'call-commands' }),
  });
  scope.defer(() => channel.stop(COMMANDS_STOP_GRACE_MS));
  if (ops) await ops.listen(g.httpPort, g.httpHost);
  else reportMetricsToPrimary(metrics.registry);
  await membership.join();
  phase = 'ready';
  // Registered last, so the first thing a stop does.
  scope.defer(async () => {
    phase = 'draining';
    const drained = manager.drain(g.drainGraceMs);
    logger.info('draining: new calls refused', { calls: manager.active, graceMs: g.drainGraceMs });
    await membership
      .disable()
      .catch((err: Error) => logger.warn('could not disable this gateway in the gateway set', { error: err.message }));
    const result = await drained;
    logger.info('drained', { ...result });
  });
  logger.info(
    `media-gateway listening on sip:${g.sipAddress}:${g.sipPort} (UDP, TCP)${role.kind === 'replica' ? ` as replica ${role.index} of ${role.of}` : `, metrics on http://${g.httpHost}:${g.httpPort}/metrics`}`,
  );
  announceReady();
}
