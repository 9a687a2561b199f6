import { mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ConfigError, loadConfig, type Config } from '../../common/src/config';
import { connectDatabase } from '../../common/src/db/connect';
import { DispatcherMembership } from '../../common/src/kamailio/dispatcher-membership';
import { GATEWAY_SET } from '../../common/src/kamailio/names';
import { createLogger, type Logger } from '../../common/src/logger';
import { runProcess, type ProcessScope } from '../../common/src/process/run';
import { UserAgent } from '../../common/src/sip';
import { HttpKamailioRpc } from '../../control-plane/src/kamailio/rpc';
import { AiStream } from './ai-stream';
import type { AiTarget, CallDeps, CallRequest } from './calls/call';
import { CallManager } from './calls/call-manager';
import { negotiator, proxyAdmission, routeCalls } from './calls/sip-adapter';
import { controlPlaneSms } from './calls/sms-client';
import { OrderedCallStore, PgCallStore } from './calls/store';
import { FrameClock } from './clock/frame-clock';
import { G711Plc } from './dsp/plc';
import { InbandDtmfDetector, wantsInbandDtmf } from './dtmf/inband';
import { TelephoneEventReceiver } from './dtmf/rfc4733';
import { HoldAudio } from './media/hold-audio';
import { PortAllocator } from './media/rtp-socket';
import { GatewayMetrics } from './metrics';
import { OpsHttpServer } from './ops/http-server';
import { GatewayPrimary } from './replicas/primary';
import { announceReady, gatewayRole, isReplica, reportMetricsToPrimary, type GatewayRole } from './replicas/role';
import { replicaPorts } from './replicas/slice';
import { JitterBuffer } from './rtp/jitter-buffer';
import { recordingKeeper } from './recording/storage';

/**
 * The media-gateway process: one whole gateway, or (GATEWAY_WORKERS > 1) a primary
 * that forks and supervises replicas, each a whole gateway (replicas/role.ts).
 * SIGTERM / SIGINT close everything in reverse order of construction (runProcess).
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
    stopTimeoutMs: config.gateway.replicaStopTimeoutMs,
    logger,
  });
  scope.defer(() => primary.stop());
  await primary.start();
}

/** One gateway: the whole process, or one replica under a primary. */
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
  const database = connectDatabase(config.databaseUrl, {
    max: g.dbPoolSize,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    onIdleError: (err) => logger.warn('database connection lost; reconnecting on next use', { error: err.message }),
  });
  scope.defer(() => database.close());
  const records = new PgCallStore(database.db);
  const store = new OrderedCallStore(records, {
    logger: logger.child({ component: 'call-records' }),
    retryForMs: g.recordsRetryMs,
  });
  scope.defer(() => store.drain(g.recordsDrainMs));
  const rpc = new HttpKamailioRpc(`http://127.0.0.1:${config.kamailio.rpcPort}/RPC`);
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
        playoutMs += c.live.playoutMs;
        jitterMs += c.live.jitterMs;
      }
      return { playoutMs, jitterMs, calls: calls.length };
    },
  });
  // A replica's health and metrics are served by its primary.
  const ops =
    role.kind === 'replica'
      ? null
      : new OpsHttpServer({ gatewayId: g.id, activeCalls: () => manager.active, registry: metrics.registry });
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
  const callDeps = (request: CallRequest, target: AiTarget): CallDeps => ({
    request,
    target,
    gatewayId: g.id,
    rtpAddress: g.sipAddress,
    openSocket: () => ports.open(g.sipAddress),
    negotiate: negotiator(),
    createAiStream: (info) =>
      new AiStream({
        url: target.url,
        dialect: target.dialect,
        call: {
          callId: info.callId,
          conversationId: info.callId,
          from: info.from,
          to: info.to,
          direction: 'incoming',
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
        logger: logger.child({ component: 'ai-stream', callId: info.callId }),
      }),
    mediaParts: (codecPt, telephoneEventPt) => {
      const hold = new HoldAudio();
      return {
        jitter: new JitterBuffer({ payloadTypes: [codecPt], ...g.jitter }),
        concealer: new G711Plc(),
        inband: wantsInbandDtmf(g.inbandDtmf, telephoneEventPt) ? new InbandDtmfDetector() : null,
        telephoneEvents: new TelephoneEventReceiver({ now }),
        holdAudio: () => hold.next(),
        now,
      };
    },
    subscribeClock: (listener) => clock.subscribe(listener),
    store,
    sendSms,
    metrics,
    recordingsDir: g.recordingsDir,
    keepRecording: recordingKeeper(g.recordingsStorage, database.db),
    lastWordsMs: g.lastWordsMs,
    logger,
    now,
  });

  const demoAgentUrl = `ws://${config.demoAgent.host}:${config.demoAgent.port}`;
  const manager = new CallManager({
    maxCalls: g.maxCalls,
    defaultTarget: { url: config.ai.defaultUrl, dialect: config.ai.dialect },
    demoAgentUrl: config.ai.defaultUrl === demoAgentUrl ? demoAgentUrl : undefined,
    callDeps,
    numberSettings: (digits) => store.numberSettings(digits),
    logger,
  });
  scope.defer(() => manager.close());
  routeCalls(ua, { calls: manager, metrics, logger });

  const membership = new DispatcherMembership(
    database.db,
    rpc,
    GATEWAY_SET,
    g.id,
    `sip:${g.sipAddress}:${g.sipPort}`,
    `gateway=${g.id}`,
  );
  // Leaving first: Kamailio stops sending new calls before the running ones are ended.
  scope.defer(() =>
    membership.leave().catch((err: Error) => logger.warn('could not leave the gateway set', { error: err.message })),
  );

  // A gateway with this id that stopped without ending its calls (killed, crashed)
  // left their rows active; those calls died with it.
  const orphans = await records.closeOrphans(g.id, 'gateway restarted');
  if (orphans > 0)
    logger.warn('closed the calls a previous run of this gateway left active', { gateway: g.id, calls: orphans });
  await ua.start();
  if (ops) await ops.listen(g.httpPort, '127.0.0.1');
  else reportMetricsToPrimary(metrics.registry);
  await membership.join();
  logger.info(
    `media-gateway listening on sip:${g.sipAddress}:${g.sipPort} (UDP, TCP)${role.kind === 'replica' ? ` as replica ${role.index} of ${role.of}` : `, metrics on http://127.0.0.1:${g.httpPort}/metrics`}`,
  );
  announceReady();
}
