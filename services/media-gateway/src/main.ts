import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ConfigError, loadConfig, type Config } from '../../common/src/config';
import { connectDatabase } from '../../common/src/db/connect';
import { createLogger } from '../../common/src/logger';
import { kamailioRpcFromConfig } from '../../common/src/kamailio/rpc';
import { AiStream } from './ai-stream';
import type { AiTarget, CallDeps, CallRequest, DialogLike, Negotiate } from './calls/call';
import { CallManager } from './calls/call-manager';
import { controlPlaneSms } from './calls/sms-client';
import { OrderedCallStore, PgCallStore } from './calls/store';
import { FrameClock } from './clock/frame-clock';
import { G711Plc } from './dsp/plc';
import { InbandDtmfDetector, wantsInbandDtmf } from './dtmf/inband';
import { TelephoneEventReceiver } from './dtmf/rfc4733';
import { DispatcherMembership, GATEWAY_SET } from '../../common/src/kamailio/dispatcher-membership';
import { HoldAudio } from './media/hold-audio';
import { PortAllocator } from './media/rtp-socket';
import { AggregatorRegistry } from 'prom-client';
import { GatewayMetrics } from './metrics';
import { GatewayPrimary, READY_MESSAGE, REPLICA_INDEX_ENV } from './replicas/primary';
import { replicaPorts } from './replicas/slice';
import { JitterBuffer } from './rtp/jitter-buffer';
import { SdpAnswerer } from './sdp/negotiate';
import {
  NOT_THROUGH_PROXY,
  parseUri,
  PROXY_PROOF_HEADER,
  ProxyProofVerifier,
  UserAgent,
  type Dialog,
  type IncomingCall,
  type RequestAdmission,
} from '../../common/src/sip';

/** The user part of a From/To URI (the caller's number or name). */
function userOf(uri: string): string {
  try {
    return parseUri(uri).user ?? '';
  } catch {
    return '';
  }
}

/** The SIP layer's incoming call, seen the way a call wants it. */
function callRequest(inc: IncomingCall): CallRequest {
  return {
    sipCallId: inc.callId,
    fromUser: userOf(inc.from.uri),
    toUser: userOf(inc.to.uri),
    route: inc.headers.get('x-route')?.[0]?.trim() ?? '',
    offer: inc.offer,
    progress: (status) => inc.progress(status),
    accept: async (answer) => dialogPort(await inc.accept(answer)),
    reject: (status, reason) => inc.reject(status, reason),
    onCancel: (listener) => void inc.once('cancel', listener),
  };
}

function dialogPort(d: Dialog): DialogLike {
  return {
    onReinvite: (listener) =>
      void d.on('reinvite', (offer, reply, reject) => {
        listener(offer, (answer) => (answer ? reply(answer) : reject(488, 'Not Acceptable Here')));
      }),
    onInfoDtmf: (listener) => void d.on('info', (dtmf) => dtmf && listener(dtmf.digit, dtmf.durationMs)),
    onTerminated: (listener) =>
      void d.on('terminated', (reason) => listener(`${reason.by}${reason.reason ? `: ${reason.reason}` : ''}`)),
    bye: () => d.bye(),
    refer: (target) => d.refer(target),
  };
}

/**
 * Only Kamailio's requests reach the UA: each carries its X-Bridge-Proof (see
 * proxy-proof.ts); the rest, sent straight to our port, bypass digest auth, limits,
 * blocklist and CDRs and get 403.
 */
function proxyAdmission(config: Config): RequestAdmission {
  const verifier = new ProxyProofVerifier({
    secret: config.secrets.proxySharedSecret,
    maxAgeSeconds: config.proxyProofMaxAgeSeconds,
  });
  return {
    admit: (req) => verifier.verify(req.headers.get(PROXY_PROOF_HEADER), req.headers.get('Call-ID') ?? ''),
    refusalReason: NOT_THROUGH_PROXY,
  };
}

/** One SdpAnswerer per call: it keeps the session version across re-INVITEs (RFC 3264 §8). */
function negotiator(): Negotiate {
  let answerer: SdpAnswerer | null = null;
  return (offer, local) => {
    answerer ??= new SdpAnswerer({ address: local.address, port: local.port });
    const r = answerer.answer(offer);
    if (!r.ok) return { ok: false, status: r.status, reason: r.reason };
    const m = r.media;
    return {
      ok: true,
      sdp: r.sdp,
      codec: m.codec.name,
      telephoneEventPt: m.telephoneEvent?.payloadType ?? null,
      remote: { address: m.remote.address, port: m.remote.port },
      remoteDirection: m.hold ? 'sendonly' : 'sendrecv',
    };
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`media-gateway: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const base = createLogger('media-gateway', config.logLevel);
  const replicas = config.gateway.workers;
  if (replicas > 1 && cluster.isPrimary) {
    await supervise(config, base);
    return;
  }
  const index = cluster.isWorker ? Number(process.env[REPLICA_INDEX_ENV]) : 0;
  await runGateway(config, cluster.isWorker ? base.child({ replica: index }) : base, index, replicas);
}

/** GATEWAY_WORKERS > 1: fork the replicas and serve their health and metrics. */
async function supervise(config: Config, logger: ReturnType<typeof createLogger>): Promise<void> {
  const primary = new GatewayPrimary({
    replicas: config.gateway.workers,
    id: config.gateway.id,
    httpPort: config.gateway.httpPort,
    logger,
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void primary.stop());
  try {
    await primary.start();
  } catch (err) {
    logger.error('media-gateway failed to start', { message: (err as Error).message });
    process.exitCode = 1;
    await primary.stop();
  }
}

/** One gateway: the whole process, or replica `index` of `replicas` under a primary. */
async function runGateway(
  config: Config,
  logger: ReturnType<typeof createLogger>,
  index: number,
  replicas: number,
): Promise<void> {
  const own = replicaPorts(
    {
      id: config.gateway.id,
      sipPort: config.gateway.sipPort,
      rtpPortMin: config.gateway.rtpPortMin,
      rtpPortMax: config.gateway.rtpPortMax,
    },
    index,
    replicas,
  );
  const g = { ...config.gateway, ...own };
  const replica = cluster.isWorker;
  mkdirSync(g.recordingsDir, { recursive: true });
  const database = connectDatabase(config.databaseUrl, {
    max: 5,
    onIdleError: (err) => logger.warn('database connection lost; reconnecting on next use', { error: err.message }),
  });
  const records = new PgCallStore(database.db);
  const store = new OrderedCallStore(records, { logger: logger.child({ component: 'call-records' }) });
  const rpc = kamailioRpcFromConfig(config);
  const ports = new PortAllocator(g.rtpPortMin, g.rtpPortMax);
  // Every call's 20 ms work in one burst, and every replica's burst at the same
  // moment: the relay and the AI platform are woken once for a batch of packets
  // rather than once per packet (or per replica).
  const clock = new FrameClock({ alignTo: () => performance.timeOrigin + performance.now() });
  const now = (): number => performance.now();

  let manager: CallManager;
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
        reconnect: { maxDownMs: config.ai.reconnectWindowMs, initialDelayMs: 200, maxDelayMs: 2000 },
        queue: { maxBufferedMs: 2000 },
        heartbeatMs: 5000,
        logger: logger.child({ component: 'ai-stream', callId: info.callId }),
      }),
    mediaParts: (codecPt, telephoneEventPt) => {
      const hold = new HoldAudio();
      return {
        jitter: new JitterBuffer({ payloadTypes: [codecPt] }),
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
    logger,
    now,
  });

  const demoAgentUrl = `ws://${config.demoAgent.host}:${config.demoAgent.port}`;
  manager = new CallManager({
    maxCalls: g.maxCalls,
    defaultTarget: { url: config.ai.defaultUrl, dialect: config.ai.dialect },
    demoAgentUrl: config.ai.defaultUrl === demoAgentUrl ? demoAgentUrl : undefined,
    callDeps,
    numberSettings: (digits) => store.numberSettings(digits),
    logger,
  });

  const ua = new UserAgent({
    admission: proxyAdmission(config),
    host: g.sipAddress,
    port: g.sipPort,
    transports: ['udp', 'tcp'],
    userAgent: 'sip-ai-bridge media-gateway',
    // The manager answers 503 itself past maxCalls, with a reason; this cap only guards the UA.
    maxCalls: g.maxCalls + 50,
    logger: logger.child({ component: 'sip' }),
  });
  ua.on('refused', (r) => metrics.sipRejected(r.reason));
  ua.on('invite', (inc) => {
    manager.handle(callRequest(inc)).catch((err: Error) => {
      logger.warn('call setup failed', { callId: inc.callId, error: err.message });
      if (inc.pending) inc.reject(500, 'Gateway Error');
    });
  });

  const http: Server = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', gateway: g.id, active_calls: manager.active }));
      return;
    }
    if (req.url === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        })
        .catch((err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        });
      return;
    }
    res.writeHead(404);
    res.end();
  });

  const membership = new DispatcherMembership(
    database.db,
    rpc,
    GATEWAY_SET,
    g.id,
    `sip:${g.sipAddress}:${g.sipPort}`,
    `gateway=${g.id}`,
  );
  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('media-gateway stopping', { reason });
      await membership
        .leave()
        .catch((err: Error) => logger.warn('could not leave the gateway set', { error: err.message }));
      await manager.close();
      await ua.close();
      clock.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await store.drain(5000);
      await database.close();
      logger.info('media-gateway stopped');
      // The IPC channel to the primary (and prom-client's listener on it) would keep a replica alive.
      if (replica) process.exit();
    })());
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stop(signal));

  try {
    // A gateway with this id that stopped without ending its calls (killed, crashed)
    // left their rows active; those calls died with it.
    const orphans = await records.closeOrphans(g.id, 'gateway restarted');
    if (orphans > 0)
      logger.warn('closed the calls a previous run of this gateway left active', { gateway: g.id, calls: orphans });
    await ua.start();
    if (replica) {
      // The primary serves health and metrics; it collects this registry over IPC.
      // Constructing an AggregatorRegistry is what makes prom-client answer its requests.
      AggregatorRegistry.setRegistries([metrics.registry]);
      new AggregatorRegistry();
    } else {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(g.httpPort, '127.0.0.1', () => resolve());
      });
    }
    await membership.join();
    logger.info(
      `media-gateway listening on sip:${g.sipAddress}:${g.sipPort} (UDP, TCP)${replica ? ` as replica ${index} of ${replicas}` : `, metrics on http://127.0.0.1:${g.httpPort}/metrics`}`,
    );
    process.send?.(READY_MESSAGE);
  } catch (err) {
    logger.error('media-gateway failed to start', { message: (err as Error).message });
    process.exitCode = 1;
    await stop('start-up failed');
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`media-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
