import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../services/common/src/config';
import { createMediaRelay } from '../../services/common/src/media-relay';
import { portFree } from '../../services/common/src/net/ports';
import { kamailioRpcFromConfig, kamailioRpcUrl } from '../../services/common/src/kamailio/rpc';
import { REPO_ROOT, resolveStackEnv, type Instance } from './env';
import { kamailioArgs, writeKamailioConfig } from './kamailio';
import {
  applyMigrations,
  ensureLocalPostgres,
  ensureRoleAndDatabase,
  recreateDatabase,
  waitForDatabase,
} from './postgres';
import { PidRegistry, SupervisedChild, waitUntilReady } from './processes';
import { relayLaunch } from './relay';
import { ensureTlsCertificate } from './tls';
import { mintToken } from '../../services/common/src/auth/tokens';

/** The number `npm start` routes to the AI (E.164; dial 18005550100 or +18005550100). */
export const DEMO_NUMBER = '+18005550100';

export interface StackOptions {
  readonly instance: Instance;
  /** Start from an empty database (the test suite does). */
  readonly freshDatabase?: boolean;
  /** Progress lines for the person waiting. */
  readonly say?: (line: string) => void;
  readonly processEnv?: NodeJS.ProcessEnv;
  /** Settings that win over everything else (a second test stack on other ports, say). */
  readonly overrides?: Readonly<Record<string, string>>;
  /**
   * Start a component again when it dies, with backoff (0.5 s doubling to 30 s; back
   * to 0.5 s once it ran a minute), instead of leaving the stack without it.
   */
  readonly restartCrashed?: boolean;
}

/** Backoff of automatic restarts: first delay, cap, and how long a run must last to reset it. */
export const RESTART_BACKOFF = { firstMs: 500, maxMs: 30_000, stableMs: 60_000 } as const;

export interface StackEndpoints {
  readonly sip: string;
  readonly sipTls: string;
  readonly api: string;
  readonly kamailioRpc: string;
  readonly evapi: string;
  readonly relay: string;
  readonly gateway: string;
  readonly ai: string;
  readonly database: string;
  readonly logs: string;
}

/**
 * The whole local stack as one object: PostgreSQL (provisioned, migrated), the media
 * relay, Kamailio and the control-plane, started in dependency order and each waited
 * for; `stop()` takes them down in reverse order and leaves nothing running.
 */
export class LocalStack {
  readonly config: Config;
  readonly env: Record<string, string>;
  private readonly children: SupervisedChild[] = [];
  private readonly registry: PidRegistry;
  private readonly managedDatabase: ReturnType<typeof resolveStackEnv>['managedDatabase'];
  private stopping: Promise<void> | null = null;
  private crashHandler: ((child: SupervisedChild) => void) | null = null;
  private readonly restarts = new Map<string, { failures: number; timer: NodeJS.Timeout | null }>();
  private readonly starters: Record<string, () => Promise<void>> = {
    rtpengine: () => this.startRelay(),
    rtpproxy: () => this.startRelay(),
    kamailio: () => this.startKamailio(),
    'control-plane': () => this.startControlPlane(),
    'demo-agent': () => this.startDemoAgent(),
    'media-gateway': () => this.startMediaGateway(),
  };

  constructor(private readonly options: StackOptions) {
    const { env, managedDatabase } = resolveStackEnv(options.instance, options.processEnv, options.overrides);
    this.config = loadConfig(env, REPO_ROOT);
    this.env = { ...env, STATE_DIR: this.config.stateDir };
    this.managedDatabase = managedDatabase;
    this.registry = new PidRegistry(this.config.stateDir);
  }

  private say(line: string): void {
    this.options.say?.(line);
  }

  get endpoints(): StackEndpoints {
    const c = this.config;
    return {
      sip: `sip:${c.sip.listenAddress}:${c.sip.port} (UDP and TCP), domain ${c.sip.domain}`,
      sipTls: `sip:${c.sip.listenAddress}:${c.sip.tls.port};transport=tls (${c.sip.tls.selfSigned ? 'self-signed certificate' : 'certificate'} ${c.sip.tls.certFile})`,
      api: `http://${c.api.host}:${c.api.port}`,
      kamailioRpc: `${kamailioRpcUrl(c)} (listening on ${c.kamailio.controlListenAddress}, sources ${c.kamailio.rpcAllowedCidrs.join(',')})`,
      evapi: `${c.kamailio.evapiHost}:${c.kamailio.evapiPort}`,
      relay:
        c.relay.kind === 'rtpengine'
          ? `rtpengine NG udp:${c.relay.rtpengineNgListenAddress}:${c.relay.rtpengineNgPort}, RTP ${c.relay.address}:${c.relay.rtpPortMin}-${c.relay.rtpPortMax} (SRTP: SDES and DTLS-SRTP)`
          : `rtpproxy udp:127.0.0.1:${c.relay.rtpproxyControlPort}, RTP ${c.relay.address}:${c.relay.rtpPortMin}-${c.relay.rtpPortMax}`,
      gateway: `sip:${c.gateway.sipAddress}:${c.gateway.sipPort} (UDP and TCP), metrics http://${c.gateway.httpHost}:${c.gateway.httpPort}/metrics`,
      ai: this.env['AI_PLATFORM_WS_URL']
        ? `${c.ai.defaultUrl} (${c.ai.dialect})`
        : `demo agent ${c.ai.defaultUrl}/{olib,twilio,binary}`,
      database: redactUrl(c.databaseUrl),
      logs: join(c.stateDir, 'logs'),
    };
  }

  /** Process id of a running child (`kamailio`, `rtpengine`, `control-plane`, `demo-agent`, `media-gateway`), e.g. for benchmarks. */
  pidOf(name: string): number | undefined {
    return this.children.find((c) => c.spec.name === name && c.state !== 'exited')?.pid;
  }

  /**
   * Starts the control-plane again after it died (crash tests kill it on purpose);
   * resolves once its API answers.
   */
  async restartControlPlane(): Promise<void> {
    const running = this.pidOf('control-plane');
    if (running !== undefined) throw new Error(`the control-plane is still running (pid ${running})`);
    await this.startControlPlane();
  }

  /** Called when a child dies while the stack is meant to be running. */
  onCrash(handler: (child: SupervisedChild) => void): void {
    this.crashHandler = handler;
  }

  async start(): Promise<void> {
    const c = this.config;
    mkdirSync(join(c.stateDir, 'logs'), { recursive: true });
    mkdirSync(join(c.stateDir, 'kamailio'), { recursive: true });
    chmodSync(c.stateDir, 0o700);
    const leftovers = await this.registry.killLeftovers();
    if (leftovers > 0) this.say(`stopped ${leftovers} process group(s) left over by an earlier run of '${c.instance}'`);
    await this.checkPortsFree();

    await this.prepareDatabase();
    try {
      await this.startRelay();
      await this.startKamailio();
      await this.startControlPlane();
      await this.startDemoAgent();
      await this.startMediaGateway();
      await this.ensureDemoNumber();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Every port this stack listens on must be free before anything starts: a process
   * left from elsewhere on one of them would otherwise answer the readiness probes
   * in place of the one just started.
   */
  private async checkPortsFree(): Promise<void> {
    const c = this.config;
    const wanted: Array<[string, 'tcp' | 'udp', string, number]> = [
      ['SIP', 'udp', c.sip.listenAddress, c.sip.port],
      ['SIP', 'tcp', c.sip.listenAddress, c.sip.port],
      ['SIP TLS', 'tcp', c.sip.listenAddress, c.sip.tls.port],
      ['Kamailio RPC', 'tcp', c.kamailio.controlListenAddress, c.kamailio.rpcPort],
      ['evapi', 'tcp', c.kamailio.controlListenAddress, c.kamailio.evapiPort],
      ['REST API', 'tcp', c.api.host, c.api.port],
      [
        'media relay control',
        'udp',
        c.relay.kind === 'rtpengine' ? c.relay.rtpengineNgListenAddress : '127.0.0.1',
        c.relay.kind === 'rtpengine' ? c.relay.rtpengineNgPort : c.relay.rtpproxyControlPort,
      ],
      ['gateway SIP', 'udp', c.gateway.sipAddress, c.gateway.sipPort],
      ['gateway SIP', 'tcp', c.gateway.sipAddress, c.gateway.sipPort],
      ['gateway metrics', 'tcp', c.gateway.httpHost, c.gateway.httpPort],
      ['SMS SIP', 'udp', c.sms.sipAddress, c.sms.sipPort],
      ['SMS SIP', 'tcp', c.sms.sipAddress, c.sms.sipPort],
    ];
    if (!this.env['AI_PLATFORM_WS_URL']) wanted.push(['demo agent', 'tcp', c.demoAgent.host, c.demoAgent.port]);
    const busy: string[] = [];
    for (const [what, proto, host, port] of wanted) {
      if (!(await portFree(proto, host, port))) busy.push(`${what} ${proto}/${host}:${port}`);
    }
    if (busy.length > 0) {
      throw new Error(`ports in use by another process (another stack still running?): ${busy.join(', ')}`);
    }
  }

  private async prepareDatabase(): Promise<void> {
    if (this.managedDatabase) {
      const { role, password, name } = this.managedDatabase;
      ensureLocalPostgres();
      if (this.options.freshDatabase) {
        ensureRoleAndDatabase(role, password, name);
        recreateDatabase(role, name);
      } else {
        ensureRoleAndDatabase(role, password, name);
      }
    }
    await waitForDatabase(this.config.databaseUrl);
    const { applied } = await applyMigrations(this.config.databaseUrl);
    this.say(applied.length > 0 ? `database: applied ${applied.join(', ')}` : 'database: schema up to date');
  }

  private spawn(name: string, command: string, args: readonly string[]): SupervisedChild {
    const child = new SupervisedChild(
      { name, command, args, env: this.env },
      join(this.config.stateDir, 'logs', `${name}.log`),
    );
    // A restarted component takes the place of the one that died.
    const previous = this.children.findIndex((c) => c.spec.name === name);
    if (previous >= 0) this.children.splice(previous, 1, child);
    else this.children.push(child);
    this.registry.record(this.children);
    const startedAt = Date.now();
    void child.exited.then(() => {
      if (this.stopping !== null || child.state === 'starting') return;
      // Its own children (Kamailio's workers, still bound to the SIP port) go with it.
      child.killGroup();
      this.crashHandler?.(child);
      if (this.options.restartCrashed) this.scheduleRestart(name, Date.now() - startedAt);
    });
    return child;
  }

  private scheduleRestart(name: string, ranMs: number): void {
    const start = this.starters[name];
    if (!start) return;
    const r = this.restarts.get(name) ?? { failures: 0, timer: null };
    if (ranMs >= RESTART_BACKOFF.stableMs) r.failures = 0;
    const delay = Math.min(RESTART_BACKOFF.firstMs * 2 ** r.failures, RESTART_BACKOFF.maxMs);
    r.failures++;
    this.restarts.set(name, r);
    this.say(`${name} exited unexpectedly; restarting it in ${(delay / 1000).toFixed(1)} s`);
    r.timer = setTimeout(() => {
      r.timer = null;
      if (this.stopping !== null) return;
      start().then(
        () => this.say(`${name} restarted`),
        async (err: Error) => {
          this.say(`${name} did not come back: ${err.message.split('\n')[0]}`);
          // The failed attempt's child (no crash event while starting) must not hold its ports.
          await this.children.find((c) => c.spec.name === name)?.stop();
          if (this.stopping === null) this.scheduleRestart(name, 0);
        },
      );
    }, delay);
  }

  private async startRelay(): Promise<void> {
    const launch = relayLaunch(this.config);
    for (const f of launch.files) {
      mkdirSync(join(f.path, '..'), { recursive: true });
      writeFileSync(f.path, f.content, { mode: f.mode ?? 0o600 });
    }
    const child = this.spawn(this.config.relay.kind, launch.command, launch.args);
    const relay = createMediaRelay(this.config.relay);
    try {
      await waitUntilReady(child, () => relay.ping(), 20_000);
    } finally {
      await relay.close();
    }
  }

  private async startKamailio(): Promise<void> {
    if (ensureTlsCertificate(this.config) === 'generated')
      this.say(`SIP TLS: generated a self-signed certificate ${this.config.sip.tls.certFile}`);
    const cfgPath = writeKamailioConfig(this.config);
    const child = this.spawn('kamailio', 'kamailio', kamailioArgs(this.config, cfgPath));
    const rpc = kamailioRpcFromConfig(this.config, { timeoutMs: 1000 });
    await waitUntilReady(child, () => rpc.call('core.version'), 30_000);
  }

  private async startControlPlane(): Promise<void> {
    await this.startNodeService('control-plane', `http://${this.config.api.host}:${this.config.api.port}/health`);
  }

  /** The built-in AI peer, unless AI_PLATFORM_WS_URL points at a real one. */
  private async startDemoAgent(): Promise<void> {
    if (this.env['AI_PLATFORM_WS_URL']) return;
    const { host, port } = this.config.demoAgent;
    // A WebSocket-only server: any HTTP answer (426 Upgrade Required) means it listens.
    await this.startNodeService('demo-agent', `http://${host}:${port}/`, () => true);
  }

  /**
   * A number routed to the AI, so a softphone registered as any SIP user can dial it
   * and talk to the demo agent (or the configured AI platform). Created through the
   * API like any number; already there is fine.
   */
  private async ensureDemoNumber(): Promise<void> {
    const token = await mintToken({ role: 'operator', secret: this.config.secrets.jwtSecretKey, ttlSeconds: 60 });
    const res = await fetch(`http://${this.config.api.host}:${this.config.api.port}/api/numbers/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        number: DEMO_NUMBER,
        route_type: 'ai',
        ai_dialect: this.config.ai.dialect,
        description: 'Demo: talk to the AI',
      }),
    });
    if (res.status !== 201 && res.status !== 409)
      throw new Error(`creating the demo number ${DEMO_NUMBER} answered ${res.status}: ${await res.text()}`);
  }

  private async startMediaGateway(): Promise<void> {
    await this.startNodeService(
      'media-gateway',
      `http://${this.config.gateway.httpHost}:${this.config.gateway.httpPort}/health`,
    );
  }

  /** A service of this repo (dist/services/<name>/src/main.js), ready when its health URL answers (200 unless `ok` says otherwise). */
  private async startNodeService(
    name: string,
    healthUrl: string,
    ok: (status: number) => boolean = (st) => st === 200,
  ): Promise<void> {
    const main = join(REPO_ROOT, 'dist', 'services', name, 'src', 'main.js');
    const child = this.spawn(name, process.execPath, [main]);
    await waitUntilReady(
      child,
      async () => {
        const res = await fetch(healthUrl, { signal: AbortSignal.timeout(1000) });
        if (!ok(res.status)) throw new Error(`${healthUrl} answered ${res.status}`);
      },
      30_000,
    );
  }

  /** Stops every child, newest first. Idempotent; concurrent calls share one stop. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      for (const r of this.restarts.values()) if (r.timer) clearTimeout(r.timer);
      for (const child of [...this.children].reverse()) await child.stop();
      this.registry.clear();
    })();
    return this.stopping;
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
