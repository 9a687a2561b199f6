import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { mintToken, type Role } from '../../services/common/src/auth/tokens';
import { CHART_DIR, helmBinary, runHelm } from '../../scripts/deploy/helm';
import { REPO_ROOT } from '../../scripts/stack/env';
import { pcapRtp, RtpPeer } from '../../harness/rtp-peer';
import {
  G711A_PCAP,
  freeUdpPort,
  registerScenario,
  runSipp,
  startSipp,
  uacMediaScenario,
  waitForAnswer,
  type RunningSipp,
  type SippRun,
} from '../../harness/sipp';
import { messagesReceived, smsProviderScenario } from '../support/sms';

/**
 * Issue 13's acceptance: the chart's own rendered pod templates run under podman.
 * `helm template` renders the chart with tests/deploy/fixtures/podman-values.yaml (every
 * pod on the host network, this test's own ports), and `podman kube play` runs the
 * rendered Deployments, ConfigMap and PersistentVolumeClaim. What kube play 4.3 does not
 * do, the harness does, and says so:
 * - Secrets: each rendered Secret's `data` becomes a podman secret of the same name
 *   (`podman secret create`, JSON of key → base64 value, the form kube play 4.3 reads
 *   for `secretKeyRef`); the values stay the chart's generated ones.
 * - Services: on the host network every Service is 127.0.0.1 with its own port. kube play
 *   4.3 ignores `hostAliases` with host networking (tried: /etc/hosts lacks them), so the
 *   harness replaces each rendered Service name in the ConfigMap's and the Secrets' values
 *   with 127.0.0.1 (DATABASE_URL's host, DEMO_AGENT_HOST, KAMAILIO_RPC_HOST, ...).
 * - `status.podIP` / `status.hostIP` fieldRefs (kube play 4.3 resolves only metadata ones)
 *   become 127.0.0.1, what they are on a one-node host network.
 * - containerPorts are dropped: kube play 4.3 publishes them, which host networking forbids
 *   (Kubernetes treats them as declarations there). The probes still use them by name.
 * - emptyDir volumes: kube play 4.3 makes a named volume called after the pod's volume
 *   (`tmp`, `state`: shared by every pod); each is renamed <pod>-<volume>, as private as
 *   in Kubernetes.
 * - A second gateway pod from the same template (host network: it needs its own ports)
 *   gets them through its own copy of the ConfigMap: kube play 4.3 lets envFrom override
 *   env, the reverse of Kubernetes.
 * - Init containers run first as a Pod of their own (kube play 4.3 races removing them).
 * - Readiness: the harness runs each container's readinessProbe (exec in the container,
 *   httpGet, tcpSocket) until it passes, as the kubelet would.
 * Everything it starts is named with the release name `sabpod` and removed afterwards
 * (and before, in case an earlier run was killed).
 */
const run = promisify(execFile);
const RELEASE = 'sabpod';
const CONTAINERS_CONF = join(REPO_ROOT, '.local', 'containers', 'containers.conf');
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const VALUES = join(REPO_ROOT, 'tests', 'deploy', 'fixtures', 'podman-values.yaml');
const IMAGES = ['app', 'kamailio', 'rtpengine', 'postgres'].map((n) => `localhost/sip-ai-bridge/${n}:${VERSION}`);

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  exec?: { command: string[] };
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
  periodSeconds?: number;
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef: { name: string } }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  restartPolicy?: string;
  hostNetwork?: boolean;
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string; emptyDir?: Record<string, never>; persistentVolumeClaim?: { claimName: string } }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { template?: { spec: PodSpec } } & Record<string, unknown>;
}

async function podman(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('podman', [...args], { env: podmanEnv, timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout.trim();
}

/** Installs podman and the project's containers.conf (scripts/bootstrap.sh images); the error when that failed. */
function bootstrap(): string | null {
  const boot = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'bootstrap.sh'), 'images'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  return boot.status === 0 ? null : `scripts/bootstrap.sh images failed: ${(boot.stderr ?? '').trim().slice(-2000)}`;
}

/** When this run began: anonymous volumes podman made since then for its images' VOLUMEs are this run's. */
const RUN_STARTED = Date.now();

/**
 * Removes every pod, volume and secret named after the release (this run's or a killed
 * earlier run's), and the anonymous volumes podman created for the images' VOLUME paths
 * the pod templates do not mount (e.g. of an init container podman already removed).
 */
async function cleanUp(): Promise<void> {
  const containers = await podman(['ps', '-a', '-q', '--filter', `name=^${RELEASE}-`]).catch(() => '');
  if (containers)
    await podman(['rm', '-f', '-v', '-t', '5', ...containers.split('\n')], 120_000).catch(() => undefined);
  const pods = await podman(['pod', 'ps', '-q', '--filter', `name=^${RELEASE}-`]).catch(() => '');
  if (pods) await podman(['pod', 'rm', '-f', '-t', '5', ...pods.split('\n')], 120_000).catch(() => undefined);
  const volumes = JSON.parse((await podman(['volume', 'inspect', '--all']).catch(() => '')) || '[]') as {
    Name: string;
    Anonymous?: boolean;
    CreatedAt: string;
  }[];
  for (const v of volumes) {
    const ours = v.Name.startsWith(`${RELEASE}-`);
    const anonymousOfThisRun = v.Anonymous === true && Date.parse(v.CreatedAt) >= RUN_STARTED - 1000;
    // Without -f: a volume some other container still uses stays.
    if (ours || anonymousOfThisRun) await podman(['volume', 'rm', v.Name]).catch(() => undefined);
  }
  const secrets = (await podman(['secret', 'ls', '--format', '{{.Name}}']).catch(() => ''))
    .split('\n')
    .filter((s) => s.startsWith(`${RELEASE}-`));
  if (secrets.length > 0) await podman(['secret', 'rm', ...secrets]).catch(() => undefined);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, timeout: 1000 });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** The stack as rendered: objects by kind, the secrets' values, the ports from the values file. */
class Rendered {
  readonly objects: K8sObject[];
  constructor(yamlText: string) {
    this.objects = parseAllDocuments(yamlText)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
  }
  of(kind: string): K8sObject[] {
    return this.objects.filter((o) => o.kind === kind);
  }
  named(kind: string, component: string): K8sObject {
    const o = this.objects.find((x) => x.kind === kind && x.metadata.name === `${RELEASE}-sip-ai-bridge-${component}`);
    if (!o) throw new Error(`no ${kind} ${component} in the rendered chart`);
    return o;
  }
  secret(component: string, key: string): string {
    const value = this.named('Secret', component).data?.[key];
    if (value === undefined) throw new Error(`Secret ${component} has no ${key}`);
    return Buffer.from(value, 'base64').toString('utf8');
  }
  /** The object with every Service name in its values replaced by 127.0.0.1 (Secret values are base64). */
  local(o: K8sObject): K8sObject {
    const names = this.of('Service')
      .map((s) => s.metadata.name)
      .sort((a, b) => b.length - a.length);
    const swap = (v: string): string =>
      names.reduce((acc, n) => acc.replace(new RegExp(`\\b${n}\\b`, 'g'), '127.0.0.1'), v);
    const copy = structuredClone(o);
    const data = copy.data ?? {};
    for (const [k, v] of Object.entries(data)) {
      data[k] =
        o.kind === 'Secret' ? Buffer.from(swap(Buffer.from(v, 'base64').toString('utf8'))).toString('base64') : swap(v);
    }
    return copy;
  }
  config(key: string): string {
    const value = this.named('ConfigMap', 'config').data?.[key];
    if (value === undefined) throw new Error(`the ConfigMap has no ${key}`);
    return value;
  }
}

/** One Deployment's pod template made runnable by kube play 4.3 (see the file comment). */
function forPodman(deployment: K8sObject, rename?: { name: string; env: Record<string, string> }): K8sObject {
  const d = structuredClone(deployment);
  if (rename) d.metadata.name = rename.name;
  const podName = `${d.metadata.name}-pod-0`;
  const spec = d.spec?.template?.spec;
  if (!spec) throw new Error(`${d.metadata.name} has no pod template`);
  const emptyDirs = new Set((spec.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
  for (const v of spec.volumes ?? []) if (emptyDirs.has(v.name)) v.name = `${podName}-${v.name}`;
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    delete c.ports;
    for (const e of c.env ?? []) {
      const path = e.valueFrom?.fieldRef?.fieldPath;
      if (path === 'status.podIP' || path === 'status.hostIP') {
        delete e.valueFrom;
        e.value = '127.0.0.1';
      }
    }
    // kube play 4.3 lets envFrom override env (Kubernetes does the opposite), so a copy's
    // own settings go into its own copy of the ConfigMap (see `deploy`).
    if (rename) for (const ref of c.envFrom ?? []) ref.configMapRef.name = `${rename.name}-${ref.configMapRef.name}`;
    for (const m of c.volumeMounts ?? []) if (emptyDirs.has(m.name)) m.name = `${podName}-${m.name}`;
  }
  return d;
}

interface PlayedPod {
  readonly pod: string;
  readonly started: number;
  readonly containers: { readonly name: string; readonly probe?: Probe; readonly ports: Map<string, number> }[];
}

class PodmanStack {
  readonly rendered: Rendered;
  readonly dir = mkdtempSync(join(tmpdir(), 'chart-pods-'));
  readonly pods: PlayedPod[] = [];
  constructor(rendered: Rendered) {
    this.rendered = rendered;
  }

  async createSecrets(): Promise<void> {
    for (const s of this.rendered.of('Secret').map((x) => this.rendered.local(x))) {
      const file = join(this.dir, `${s.metadata.name}.json`);
      writeFileSync(file, JSON.stringify(s.data ?? {}), { mode: 0o600 });
      await podman(['secret', 'create', s.metadata.name, file]);
      rmSync(file);
    }
  }

  async playClaims(): Promise<void> {
    for (const pvc of this.rendered.of('PersistentVolumeClaim')) await this.play(`pvc-${pvc.metadata.name}`, [pvc]);
  }

  private async play(file: string, objects: K8sObject[]): Promise<void> {
    const path = join(this.dir, `${file}.yaml`);
    writeFileSync(path, objects.map((o) => stringify(o)).join('---\n'));
    await podman(['kube', 'play', path], 180_000);
  }

  /**
   * Runs a template's init containers to completion, in order, as a Pod of their own.
   * kube play 4.3 runs init containers itself but then mostly fails to remove them ("cannot
   * remove container ... as it is running": it races with its own exit handling), leaving
   * a half-made pod; the same containers played as a Pod with restartPolicy Never work.
   */
  private async runInitContainers(d: K8sObject): Promise<void> {
    const spec = d.spec?.template?.spec as PodSpec;
    for (const init of spec.initContainers ?? []) {
      const name = `${d.metadata.name}-init-${init.name}`;
      const { initContainers: _unused, ...rest } = spec;
      const pod: K8sObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: { ...rest, containers: [init], restartPolicy: 'Never' },
      };
      const started = Date.now();
      await this.play(name, [...this.rendered.of('ConfigMap').map((c) => this.rendered.local(c)), pod]);
      const code = await podman(['wait', `${name}-${init.name}`], 180_000);
      const logs = await podman(['logs', `${name}-${init.name}`]).catch((e: Error) => e.message);
      await podman(['pod', 'rm', '-f', name], 60_000);
      if (code !== '0') throw new Error(`init container ${init.name} of ${d.metadata.name} exited ${code}:\n${logs}`);
      console.log(`[chart-pods] init container ${init.name}: ${logs.trim()} (${Date.now() - started} ms)`);
    }
    delete spec.initContainers;
  }

  /** Plays one Deployment (with the ConfigMaps it reads); `ready` then waits for it. */
  async deploy(component: string, rename?: { name: string; env: Record<string, string> }): Promise<PlayedPod> {
    const original = this.rendered.named('Deployment', component);
    const d = forPodman(original, rename);
    const started = Date.now();
    await this.runInitContainers(d);
    const configMaps = this.rendered.of('ConfigMap').map((c) => {
      const local = this.rendered.local(c);
      if (rename) {
        local.metadata.name = `${rename.name}-${local.metadata.name}`;
        local.data = { ...local.data, ...rename.env };
      }
      return local;
    });
    await this.play(d.metadata.name, [...configMaps, d]);
    const spec = original.spec?.template?.spec as PodSpec;
    const played: PlayedPod = {
      pod: `${d.metadata.name}-pod-0`,
      started,
      containers: spec.containers.map((c) => {
        const ports = new Map((c.ports ?? []).filter((p) => p.name).map((p) => [p.name as string, p.containerPort]));
        // A renamed copy listens where its env overrides say.
        const http = rename?.env['GATEWAY_HTTP_PORT'];
        if (http && ports.has('http')) ports.set('http', Number(http));
        return { name: c.name, ...(c.readinessProbe ? { probe: c.readinessProbe } : {}), ports };
      }),
    };
    this.pods.push(played);
    return played;
  }

  /** Runs every container's readinessProbe until all pass (the kubelet's job), bounded. */
  async ready(p: PlayedPod, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (const c of p.containers) {
      if (!c.probe) continue;
      let last = '';
      for (;;) {
        try {
          if (await this.probe(p.pod, c)) break;
          last = 'probe failed';
        } catch (err) {
          last = (err as Error).message.split('\n')[0] ?? '';
        }
        if (Date.now() > deadline) {
          const logs = await podman(['logs', '--tail', '40', `${p.pod}-${c.name}`]).catch((e: Error) => e.message);
          throw new Error(`${p.pod}/${c.name} not ready within ${timeoutMs} ms (${last}); log:\n${logs}`);
        }
        await sleep(500);
      }
    }
    const ms = Date.now() - p.started;
    console.log(`[chart-pods] ${p.pod} ready ${(ms / 1000).toFixed(1)} s after kube play started it`);
    return ms;
  }

  private async probe(pod: string, c: PlayedPod['containers'][number]): Promise<boolean> {
    const port = (ref: number | string): number => {
      const n = typeof ref === 'number' ? ref : c.ports.get(ref);
      if (n === undefined) throw new Error(`probe names an unknown port ${String(ref)}`);
      return n;
    };
    const probe = c.probe as Probe;
    if (probe.exec) {
      await podman(['exec', `${pod}-${c.name}`, ...probe.exec.command], 10_000);
      return true;
    }
    if (probe.httpGet) {
      const res = await fetch(`http://127.0.0.1:${port(probe.httpGet.port)}${probe.httpGet.path}`, {
        signal: AbortSignal.timeout(3000),
      });
      return res.status >= 200 && res.status < 400;
    }
    if (probe.tcpSocket) return tcpOpen(port(probe.tcpSocket.port));
    throw new Error('unsupported probe');
  }

  async state(pod: string): Promise<string> {
    return podman(['pod', 'inspect', '--format', '{{.State}}', pod]);
  }
}

const bootstrapError = bootstrap();
// Skipped only when podman itself is missing (and could not be installed); any other
// bootstrap failure fails the suite in beforeAll.
const unavailable =
  spawnSync('podman', ['--version'], { env: podmanEnv }).status === 0
    ? null
    : `podman is not available and could not be installed (${bootstrapError ?? 'no error from bootstrap'})`;
if (unavailable) console.warn(`[chart-pods] skipping: ${unavailable}`);
const describePods = unavailable ? describe.skip : describe;

describePods("the chart's rendered pods under podman kube play", () => {
  jest.setTimeout(120_000);
  let stack: PodmanStack;
  let r: Rendered;
  const port = (key: string): number => Number(r.config(key));
  const apiUrl = (): string => `http://127.0.0.1:${port('API_PORT')}`;

  async function api<T = Record<string, unknown>>(
    method: string,
    path: string,
    role: Role,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const token = await mintToken({
      role,
      secret: r.secret('secrets', role === 'admin' ? 'SIP_JWT_SECRET' : 'JWT_SECRET_KEY'),
      ttlSeconds: 600,
      subject: 'chart-pods',
    });
    const res = await fetch(`${apiUrl()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  }

  const proxy = (): string => `127.0.0.1:${port('SIP_PROXY_PORT')}`;
  const expectSipp = (runResult: SippRun, what: string): void => {
    if (runResult.code !== 0)
      throw new Error(`${what}: SIPp exit ${runResult.code}\n${runResult.errors || runResult.stdout.slice(-2000)}`);
  };

  // The SMS provider's address (a trunk is known by its address; 127.0.0.0/8 is all local).
  const PROVIDER = '127.0.0.7';

  interface LiveCall {
    readonly sipp: RunningSipp;
    readonly peer: RtpPeer;
    readonly relay: { address: string; port: number };
  }

  /** Starts an authenticated call to `number` holding `holdMs`; resolves once it is answered. */
  async function startCall(user: string, password: string, number: string, holdMs: number): Promise<LiveCall> {
    const peer = await RtpPeer.open();
    try {
      const sipp = await startSipp({
        scenario: uacMediaScenario({ codec: 'PCMA', holdMs }),
        remote: proxy(),
        keys: { user, callee: number.slice(1), domain: r.config('SIP_DOMAIN'), rtp_port: peer.port },
        auth: { user, password },
        timeoutSeconds: Math.ceil(holdMs / 1000) + 30,
      });
      return { sipp, peer, relay: await waitForAnswer(sipp, 15_000) };
    } catch (err) {
      peer.close();
      throw err;
    }
  }

  /** Sends g711a.pcap into the call and checks, after it ends normally, that the audio came back. */
  async function echoes(
    call: LiveCall,
    audio: ReturnType<typeof pcapRtp>,
    what: string,
  ): Promise<{ sent: number; back: number }> {
    try {
      await call.peer.send(audio, call.relay);
      expectSipp(await call.sipp.done, what);
      const back = call.peer.received.filter((x) => x.packet.payloadType === 8);
      // The echo carries the caller's audio, not comfort silence.
      const loud = back.filter((x) => x.packet.payload.some((b) => b !== 0xd5 && b !== 0x55)).length;
      expect(back.length).toBeGreaterThanOrEqual(Math.floor(audio.length * 0.95));
      expect(loud).toBeGreaterThanOrEqual(Math.floor(audio.length * 0.8));
      return { sent: audio.length, back: back.length };
    } finally {
      call.peer.close();
    }
  }

  async function echoCall(user: string, password: string, number: string): Promise<{ sent: number; back: number }> {
    const audio = pcapRtp(G711A_PCAP, 8);
    const call = await startCall(user, password, number, audio.length * 20 + 1500);
    return echoes(call, audio, 'call to the demo-agent number');
  }

  /** A gateway's /health: its status and how many calls it holds. */
  async function gatewayHealth(httpPort: number): Promise<{ status: string; active_calls: number }> {
    const res = await fetch(`http://127.0.0.1:${httpPort}/health`, { signal: AbortSignal.timeout(3000) });
    return (await res.json()) as { status: string; active_calls: number };
  }

  beforeAll(async () => {
    if (bootstrapError) throw new Error(bootstrapError);
    const began = Date.now();
    await cleanUp();
    // Always through the build script: it rebuilds what this checkout changed (a warm
    // build of an unchanged tree takes seconds), so the pods run the code under test.
    const missing = IMAGES.filter(
      (image) => spawnSync('podman', ['image', 'exists', image], { env: podmanEnv }).status !== 0,
    );
    console.log(
      `[chart-pods] building the images (scripts/images/build.sh)${missing.length ? `; missing: ${missing.join(', ')}` : ''}`,
    );
    const build = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'images', 'build.sh')], {
      encoding: 'utf8',
      timeout: 1_800_000,
      env: podmanEnv,
    });
    if (build.status !== 0) throw new Error(`scripts/images/build.sh failed:\n${build.stderr.slice(-3000)}`);
    const helm = runHelm(await helmBinary(), [
      'template',
      RELEASE,
      CHART_DIR,
      '-f',
      VALUES,
      '--set',
      `image.tag=${VERSION}`,
    ]);
    if (helm.status !== 0) throw new Error(`helm template failed: ${helm.stderr}`);
    r = new Rendered(helm.stdout);
    stack = new PodmanStack(r);
    await stack.createSecrets();
    await stack.playClaims();
    // The database first: kube play waits for the control-plane's init container (the
    // migration), which needs it. Then everything at once, as Kubernetes starts it, and
    // each pod's readiness as the kubelet would see it.
    await stack.ready(await stack.deploy('postgresql'), 120_000);
    const rest: PlayedPod[] = [];
    for (const component of ['control-plane', 'rtpengine', 'kamailio', 'demo-agent', 'media-gateway'])
      rest.push(await stack.deploy(component));
    for (const p of rest) await stack.ready(p, 120_000);
    console.log(
      `[chart-pods] stack up in ${((Date.now() - began) / 1000).toFixed(1)} s (render, secrets, kube play, readiness)`,
    );
  }, 900_000);

  afterAll(async () => {
    const started = Date.now();
    await cleanUp();
    if (stack) rmSync(stack.dir, { recursive: true, force: true });
    const left = await podman(['pod', 'ps', '-q', '--filter', `name=^${RELEASE}-`]).catch(() => '');
    console.log(
      `[chart-pods] cleaned up in ${((Date.now() - started) / 1000).toFixed(1)} s; pods left: ${left || 'none'}`,
    );
  }, 180_000);

  test('every rendered Deployment runs as a pod whose containers are up, on the images built here', async () => {
    const deployments = r.of('Deployment').map((d) => `${d.metadata.name}-pod-0`);
    expect(deployments.sort()).toEqual(stack.pods.map((p) => p.pod).sort());
    for (const p of stack.pods) expect(await stack.state(p.pod)).toBe('Running');
    const images = await podman(['ps', '--filter', `name=^${RELEASE}-`, '--format', '{{.Image}}']);
    expect(new Set(images.split('\n').filter((i) => !i.includes('pause')))).toEqual(new Set(IMAGES));
  });

  test('a SIP user created through the API registers', async () => {
    const username = `podman${Date.now().toString(36)}`;
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    const created = await api('POST', '/api/sip-users/', 'admin', { username, password });
    expect(created.status).toBe(201);
    const result = await runSipp({
      scenario: registerScenario({ first: 401, final: 200 }),
      remote: proxy(),
      keys: { user: username, domain: r.config('SIP_DOMAIN') },
      auth: { user: username, password },
      timeoutSeconds: 15,
    });
    expectSipp(result, 'REGISTER');
  });

  test('a SIPp call to a demo-agent number is answered and its audio echoed', async () => {
    const caller = `caller${Date.now().toString(36)}`;
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    expect((await api('POST', '/api/sip-users/', 'admin', { username: caller, password })).status).toBe(201);
    const number = `+1555779${String(Date.now() % 10000).padStart(4, '0')}`;
    const created = await api('POST', '/api/numbers/', 'operator', {
      number,
      route_type: 'ai',
      ai_dialect: 'olib',
      ai_options: { mode: 'echo' },
    });
    expect(created.status).toBe(201);
    const echoed = await echoCall(caller, password, number);
    console.log(`[chart-pods] echo call: ${echoed.back} of ${echoed.sent} frames came back`);
  });

  test('an SMS sent through the API reaches a SIPp provider trunk', async () => {
    const ours = `+1555779${String((Date.now() + 1) % 10000).padStart(4, '0')}`;
    expect(
      (await api('POST', '/api/numbers/', 'operator', { number: ours, route_type: 'ai', ai_dialect: 'olib' })).status,
    ).toBe(201);
    const providerPort = await freeUdpPort(PROVIDER);
    const provider = await startSipp({
      scenario: smsProviderScenario(['200 OK']),
      remote: proxy(),
      serverMode: true,
      localIp: PROVIDER,
      localPort: providerPort,
      calls: 1000,
      limit: 100,
      timeoutSeconds: 60,
    });
    try {
      const trunk = await api('POST', '/api/trunks/', 'operator', {
        trunk_id: 'podman_sms',
        name: 'SMS provider (SIPp)',
        provider: 'test',
        proxy_address: PROVIDER,
        proxy_port: providerPort,
        transport: 'UDP',
        priority: 10,
      });
      expect(trunk.status).toBe(201);
      const started = Date.now();
      const sent = await api<{ message_id: string; status: string }>('POST', '/api/sms/send', 'operator', {
        from_number: ours,
        to_number: '+14155550124',
        message: 'Hello from the chart pods',
      });
      expect(sent.status).toBe(202);
      let status = '';
      while (Date.now() - started < 30_000) {
        const res = await api<{ status: string }>('GET', `/api/sms/${sent.body.message_id}`, 'operator');
        status = res.body.status;
        if (['sent', 'failed', 'delivered', 'undelivered'].includes(status)) break;
        await sleep(500);
      }
      expect(status).toBe('sent');
      console.log(`[chart-pods] SMS sent through the trunk in ${Date.now() - started} ms`);
    } finally {
      provider.kill();
    }
    const result = await provider.done;
    expect(messagesReceived(result).join('\n')).toContain('Hello from the chart pods');
  });
  test('two gateway pods: SIGTERM one during a call: the call finishes, new calls go to the other; a third takes calls within 5 s of ready', async () => {
    const user = `drain${Date.now().toString(36)}`;
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    expect((await api('POST', '/api/sip-users/', 'admin', { username: user, password })).status).toBe(201);
    const number = `+1555778${String(Date.now() % 10000).padStart(4, '0')}`;
    expect(
      (
        await api('POST', '/api/numbers/', 'operator', {
          number,
          route_type: 'ai',
          ai_dialect: 'olib',
          ai_options: { mode: 'echo' },
        })
      ).status,
    ).toBe(201);
    // A second pod of the same template. On one host network it needs its own ports
    // (in Kubernetes each pod has its own address and the template's ports as they are).
    const gateway = (suffix: string, offset: number): { name: string; env: Record<string, string> } => ({
      name: `${RELEASE}-sip-ai-bridge-media-gateway-${suffix}`,
      env: {
        GATEWAY_SIP_PORT: String(port('GATEWAY_SIP_PORT') + offset),
        GATEWAY_HTTP_PORT: String(port('GATEWAY_HTTP_PORT') + offset),
        GATEWAY_RTP_PORT_MIN: String(25900 + 30 * offset),
        GATEWAY_RTP_PORT_MAX: String(25929 + 30 * offset),
      },
    });
    const second = gateway('b', 1);
    await stack.ready(await stack.deploy('media-gateway', second), 120_000);
    const httpPorts = { a: port('GATEWAY_HTTP_PORT'), b: port('GATEWAY_HTTP_PORT') + 1 };
    const containers = {
      a: `${RELEASE}-sip-ai-bridge-media-gateway-pod-0-media-gateway`,
      b: `${second.name}-pod-0-media-gateway`,
    };

    const audio = pcapRtp(G711A_PCAP, 8);
    const first = await startCall(user, password, number, audio.length * 20 + 1500);
    const echoing = echoes(first, audio, 'the call on the stopping gateway');
    const holders = [];
    for (const g of ['a', 'b'] as const) if ((await gatewayHealth(httpPorts[g])).active_calls > 0) holders.push(g);
    expect(holders).toHaveLength(1);
    const victim = holders[0] as 'a' | 'b';
    const survivor = victim === 'a' ? 'b' : 'a';
    // What the kubelet does to a deleted pod: SIGTERM, then up to the grace period.
    // (`podman stop`, not `podman kill`: the pod's restart policy would start a killed one again.)
    const stopStarted = Date.now();
    const stopping = podman(['stop', '-t', '90', containers[victim]], 120_000);
    let draining = '';
    while (Date.now() - stopStarted < 5000) {
      draining = await gatewayHealth(httpPorts[victim]).then(
        (h) => h.status,
        () => 'gone',
      );
      if (draining === 'draining') break;
      await sleep(100);
    }
    expect(draining).toBe('draining');
    console.log(`[chart-pods] gateway ${victim} draining ${Date.now() - stopStarted} ms after SIGTERM`);

    // A new call during the drain is answered by the other gateway.
    const during = await startCall(user, password, number, 1000);
    expect((await gatewayHealth(httpPorts[survivor])).active_calls).toBe(1);
    expect((await gatewayHealth(httpPorts[victim])).active_calls).toBe(1);
    during.peer.close();
    expectSipp(await during.sipp.done, 'a call during the drain');

    const echoed = await echoing;
    console.log(
      `[chart-pods] the draining gateway's call ended normally: ${echoed.back} of ${echoed.sent} frames echoed`,
    );
    await stopping;
    const exit = await podman(['inspect', '--format', '{{.State.ExitCode}}', containers[victim]]);
    expect(exit).toBe('0');
    console.log(
      `[chart-pods] gateway ${victim} exited 0 ${((Date.now() - stopStarted) / 1000).toFixed(1)} s after SIGTERM`,
    );

    // A third gateway joins: it takes calls within 5 s of being ready (round robin over two).
    const third = gateway('c', 2);
    const played = await stack.deploy('media-gateway', third);
    await stack.ready(played, 120_000);
    const readyAt = Date.now();
    const thirdHttp = port('GATEWAY_HTTP_PORT') + 2;
    let tookAfter = -1;
    while (Date.now() - readyAt < 5000 && tookAfter < 0) {
      const calls = await Promise.all([1, 2].map(() => startCall(user, password, number, 500)));
      if ((await gatewayHealth(thirdHttp)).active_calls > 0) tookAfter = Date.now() - readyAt;
      for (const c of calls) {
        c.peer.close();
        expectSipp(await c.sipp.done, 'a call after the third gateway joined');
      }
    }
    console.log(`[chart-pods] the third gateway answered a call ${tookAfter} ms after it was ready`);
    expect(tookAfter).toBeGreaterThanOrEqual(0);
    expect(tookAfter).toBeLessThanOrEqual(5000);
  }, 240_000);
});
