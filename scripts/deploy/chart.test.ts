import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { chartValues, DEPLOY_DOCS, renderDeployDocs, schemaValuePaths, valuesPaths } from '../deploy-docs';
import { REPO_ROOT } from '../stack/env';
import { ENV_SCHEMA } from '../../services/common/src/config';
import { CHART_DIR, helmBinary, runHelm } from './helm';
import { allowed, type Endpoint, type NetworkPolicy } from './netpol';

// The chart's acceptance: helm lint and template with the real helm, every object valid
// against the Kubernetes schemas, and the facts that matter asserted on what is rendered.

interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly spec?: Record<string, unknown>;
  readonly data?: Record<string, string>;
}

interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef?: { name: string; key: string } };
}

interface Probe {
  readonly httpGet?: unknown;
  readonly tcpSocket?: unknown;
  readonly exec?: unknown;
}

interface Container {
  readonly name: string;
  readonly env?: readonly EnvVar[];
  readonly ports?: readonly { name?: string; containerPort: number; protocol?: string; hostPort?: number }[];
  readonly readinessProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

interface PodSpec {
  readonly hostNetwork?: boolean;
  readonly dnsPolicy?: string;
  readonly initContainers?: readonly (Container & { readonly args?: readonly string[] })[];
  readonly containers: readonly Container[];
}

const RELEASE = 'sab';
const NAMESPACE = 'sip-system';
const TRUNK = '203.0.113.0/24';

/** Strict policies with an external database (the second required combination). */
const STRICT_EXTERNAL_DB = [
  '--set',
  'networkPolicy.profile=strict',
  '--set',
  'kamailio.hostNetwork=false',
  '--set-json',
  `networkPolicy.trunkCidrs=["${TRUNK}"]`,
  '--set',
  'postgresql.enabled=false',
  '--set',
  'externalDatabase.host=db.internal',
  '--set',
  'externalDatabase.existingSecret=db-credentials',
];

const COMBINATIONS: Record<string, readonly string[]> = {
  default: [],
  'strict, external database': STRICT_EXTERNAL_DB,
  'strict, bundled database, Prometheus operator': [
    '--set',
    'networkPolicy.profile=strict',
    '--set',
    'kamailio.hostNetwork=false',
    '--set-json',
    `networkPolicy.trunkCidrs=["${TRUNK}"]`,
    '--api-versions',
    'monitoring.coreos.com/v1',
  ],
  'external database URL, no demo agent, no autoscaler, NodePort API': [
    '--set',
    'postgresql.enabled=false',
    '--set',
    'externalDatabase.url=postgresql://sipai:pw@db.internal:5432/sipai',
    '--set',
    'demoAgent.enabled=false',
    '--set',
    'mediaGateway.autoscaling.enabled=false',
    '--set',
    'mediaGateway.replicas=3',
    '--set',
    'controlPlane.service.type=NodePort',
    '--set',
    'controlPlane.service.nodePort=30080',
    '--set',
    'networkPolicy.enabled=false',
  ],
};

let helm = '';
const figures: string[] = [];

beforeAll(async () => {
  helm = await helmBinary();
}, 120_000);

afterAll(() => {
  if (figures.length) process.stdout.write(`chart figures:\n  ${figures.join('\n  ')}\n`);
});

function render(args: readonly string[]): K8sObject[] {
  const run = runHelm(helm, ['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...args]);
  if (run.status !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${run.stderr}`);
  return parseAllDocuments(run.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function renderFailure(args: readonly string[]): string {
  const run = runHelm(helm, ['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...args]);
  expect(run.status).not.toBe(0);
  return run.stderr;
}

function validate(objects: readonly K8sObject[]): { kind: string; name: string; error: string | null }[] {
  const run = spawnSync(process.execPath, [join(__dirname, 'k8s-validate.mjs')], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
    cwd: REPO_ROOT,
    timeout: 60_000,
  });
  if (run.status !== 0 && run.status !== 2) throw new Error(`validator failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as { kind: string; name: string; error: string | null }[];
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function podSpecs(objects: readonly K8sObject[]): [string, PodSpec][] {
  return objects
    .filter((o) => WORKLOAD_KINDS.has(o.kind))
    .map((o) => [o.metadata.name, (o.spec as { template: { spec: PodSpec } }).template.spec]);
}

function find(objects: readonly K8sObject[], kind: string, component: string): K8sObject {
  const name = `${RELEASE}-sip-ai-bridge-${component}`;
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

function pod(objects: readonly K8sObject[], component: string): PodSpec {
  return (find(objects, 'Deployment', component).spec as { template: { spec: PodSpec } }).template.spec;
}

function container(objects: readonly K8sObject[], component: string): Container {
  const c = pod(objects, component).containers[0];
  if (!c) throw new Error(`${component} has no container`);
  return c;
}

function configMap(objects: readonly K8sObject[]): Record<string, string> {
  return find(objects, 'ConfigMap', 'config').data ?? {};
}

describe('helm lint and helm template', () => {
  it.each(Object.entries(COMBINATIONS))('%s: lint passes', (label, args) => {
    // helm lint has no --api-versions: lint renders without the operator's API.
    const lintArgs = args.filter((a, i) => a !== '--api-versions' && args[i - 1] !== '--api-versions');
    const run = runHelm(helm, ['lint', CHART_DIR, '--strict', ...lintArgs]);
    expect({ status: run.status, out: run.stdout + run.stderr }).toEqual({
      status: 0,
      out: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed'),
    });
    figures.push(`helm lint (${label}): ${run.ms.toFixed(0)} ms`);
  });

  it.each(Object.entries(COMBINATIONS))(
    '%s: every rendered object validates against the Kubernetes schemas',
    (label, args) => {
      const started = performance.now();
      const objects = render(args);
      const ms = performance.now() - started;
      const results = validate(objects);
      expect(results).toHaveLength(objects.length);
      expect(results.filter((r) => r.error !== null)).toEqual([]);
      const kinds = [...new Set(objects.map((o) => o.kind))].sort();
      figures.push(`helm template (${label}): ${ms.toFixed(0)} ms, ${objects.length} objects (${kinds.join(', ')})`);
    },
  );

  it('the schema validator rejects an invalid object (so a pass means something)', () => {
    const broken = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'broken' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: { spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 'sip' }] }] } },
      },
    };
    const [result] = validate([broken]);
    expect(result?.error).toMatch(/containerPort/);
  });
});

describe('rendered facts', () => {
  it('Kamailio publishes SIP 5060 UDP and TCP and TLS 5061: on the host network by default, as hostPorts in strict', () => {
    const expected = [
      { name: 'sip-udp', containerPort: 5060, protocol: 'UDP' },
      { name: 'sip-tcp', containerPort: 5060, protocol: 'TCP' },
      { name: 'sip-tls', containerPort: 5061, protocol: 'TCP' },
    ];
    const basic = render([]);
    expect(pod(basic, 'kamailio').hostNetwork).toBe(true);
    expect(container(basic, 'kamailio').ports).toEqual(expect.arrayContaining(expected));
    const strict = render(STRICT_EXTERNAL_DB);
    expect(pod(strict, 'kamailio').hostNetwork).toBe(false);
    expect(container(strict, 'kamailio').ports).toEqual(
      expect.arrayContaining(expected.map((p) => ({ ...p, hostPort: p.containerPort }))),
    );
    const moved = render(['--set', 'sip.port=5080', '--set', 'sip.tlsPort=5081', '--set', 'kamailio.rpcPort=5082']);
    expect(container(moved, 'kamailio').ports).toEqual(
      expect.arrayContaining([
        { name: 'sip-udp', containerPort: 5080, protocol: 'UDP' },
        { name: 'sip-tls', containerPort: 5081, protocol: 'TCP' },
      ]),
    );
    expect(configMap(moved)).toMatchObject({ SIP_PROXY_PORT: '5080', SIP_TLS_PORT: '5081' });
  });

  it('the control-plane migrates the schema in an init container; the other pods join the host network only when asked (podman values)', () => {
    const objects = render([]);
    const init = pod(objects, 'control-plane').initContainers ?? [];
    expect(init.map((c) => [c.name, c.args])).toEqual([['migrate', ['migrate']]]);
    expect(init[0]?.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef?.key).toBe('DATABASE_URL');
    const components = ['control-plane', 'media-gateway', 'demo-agent', 'postgresql'];
    for (const c of components) expect([c, pod(objects, c).hostNetwork]).toEqual([c, undefined]);
    const podman = render(['-f', join(REPO_ROOT, 'tests', 'deploy', 'fixtures', 'podman-values.yaml')]);
    for (const c of components)
      expect([c, pod(podman, c).hostNetwork, pod(podman, c).dnsPolicy]).toEqual([c, true, 'ClusterFirstWithHostNet']);
    // PostgreSQL listens on postgresql.port, which a host-network pod needs when 5432 is taken.
    expect(container(podman, 'postgresql').env).toEqual(expect.arrayContaining([{ name: 'PGPORT', value: '25732' }]));
  });

  it('rtpengine runs on the host network with the RTP range from values', () => {
    const objects = render(['--set', 'rtpengine.rtpPortMin=40000', '--set', 'rtpengine.rtpPortMax=44999']);
    expect(pod(objects, 'rtpengine').hostNetwork).toBe(true);
    expect(configMap(objects)).toMatchObject({
      RTP_PORT_MIN: '40000',
      RTP_PORT_MAX: '44999',
      MEDIA_RELAY: 'rtpengine',
    });
    expect(configMap(render([]))).toMatchObject({ RTP_PORT_MIN: '10000', RTP_PORT_MAX: '20000' });
  });

  it('the API listens on 8080 behind a Service, the gateways on SIP 5070 with their pod address', () => {
    const objects = render([]);
    expect(container(objects, 'control-plane').ports).toContainEqual({
      name: 'http',
      containerPort: 8080,
      protocol: 'TCP',
    });
    expect(find(objects, 'Service', 'control-plane').spec).toMatchObject({
      ports: [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }],
    });
    expect(configMap(objects)).toMatchObject({ API_HOST: '0.0.0.0', API_PORT: '8080', GATEWAY_SIP_PORT: '5070' });
    const gwEnv = container(objects, 'media-gateway').env ?? [];
    expect(gwEnv).toContainEqual({
      name: 'GATEWAY_SIP_ADDRESS',
      valueFrom: { fieldRef: { fieldPath: 'status.podIP' } },
    });
  });

  it.each(Object.entries(COMBINATIONS))(
    '%s: every container has liveness and readiness probes and resources',
    (_l, args) => {
      const specs = podSpecs(render(args));
      expect(specs.length).toBeGreaterThanOrEqual(4);
      for (const [name, spec] of specs) {
        for (const c of spec.containers) {
          const where = `${name}/${c.name}`;
          expect({ where, readiness: c.readinessProbe !== undefined }).toEqual({ where, readiness: true });
          expect({ where, liveness: c.livenessProbe !== undefined }).toEqual({ where, liveness: true });
          expect({ where, requests: c.resources?.requests, limits: c.resources?.limits }).toEqual({
            where,
            requests: { cpu: expect.any(String), memory: expect.any(String) },
            limits: { cpu: expect.any(String), memory: expect.any(String) },
          });
        }
      }
    },
  );

  it('pods apart: clients reach Kamailio and rtpengine by Service name, which bind their pod address; RPC only for rpcAllowedCidrs', () => {
    const objects = render(['--set', 'kamailio.rpcAllowedCidrs={10.42.0.0/16,192.0.2.0/24}']);
    const cm = configMap(objects);
    const svc = (component: string): string => find(objects, 'Service', component).metadata.name;
    expect(cm).toMatchObject({
      KAMAILIO_RPC_HOST: svc('kamailio'),
      KAMAILIO_EVAPI_HOST: svc('kamailio'),
      RTPENGINE_NG_HOST: svc('rtpengine'),
      KAMAILIO_RPC_ALLOWED_CIDRS: '10.42.0.0/16,192.0.2.0/24',
      GATEWAY_HTTP_HOST: '0.0.0.0',
    });
    const podIp = { valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };
    expect(container(objects, 'kamailio').env).toContainEqual({ name: 'KAMAILIO_CONTROL_LISTEN_ADDRESS', ...podIp });
    expect(container(objects, 'rtpengine').env).toContainEqual({ name: 'RTPENGINE_NG_LISTEN_ADDRESS', ...podIp });
    // Defaults: MicroK8s' pod network and loopback; every name the chart sets is a variable the services read.
    const defaults = configMap(render([]));
    expect(defaults['KAMAILIO_RPC_ALLOWED_CIDRS']).toBe('10.1.0.0/16,127.0.0.1/32');
    for (const name of [
      'KAMAILIO_RPC_HOST',
      'KAMAILIO_EVAPI_HOST',
      'RTPENGINE_NG_HOST',
      'KAMAILIO_RPC_ALLOWED_CIDRS',
      'GATEWAY_HTTP_HOST',
    ]) {
      expect({ name, known: name in ENV_SCHEMA.properties }).toEqual({ name, known: true });
    }
    expect(renderFailure(['--set', 'kamailio.rpcAllowedCidrs={10.1.0.0}'])).toMatch(/rpcAllowedCidrs/);
  });

  it('the gateways scale with an autoscaler from values, or run a fixed count without one', () => {
    const scaled = render([
      '--set',
      'mediaGateway.autoscaling.minReplicas=3',
      '--set',
      'mediaGateway.autoscaling.maxReplicas=7',
      '--set',
      'mediaGateway.autoscaling.targetCPUUtilizationPercentage=55',
    ]);
    expect(find(scaled, 'HorizontalPodAutoscaler', 'media-gateway').spec).toMatchObject({
      scaleTargetRef: { kind: 'Deployment', name: `${RELEASE}-sip-ai-bridge-media-gateway` },
      minReplicas: 3,
      maxReplicas: 7,
      metrics: [{ resource: { name: 'cpu', target: { averageUtilization: 55 } } }],
    });
    // The autoscaler owns the count: a replicas field would fight it on every upgrade.
    expect(find(scaled, 'Deployment', 'media-gateway').spec).not.toHaveProperty('replicas');
    const fixed = render(['--set', 'mediaGateway.autoscaling.enabled=false', '--set', 'mediaGateway.replicas=4']);
    expect(fixed.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
    expect(find(fixed, 'Deployment', 'media-gateway').spec).toMatchObject({ replicas: 4 });
    expect(find(render(['--set', 'controlPlane.replicas=3']), 'Deployment', 'control-plane').spec).toMatchObject({
      replicas: 3,
    });
  });

  it('PodDisruptionBudgets cover Kamailio, rtpengine, the control-plane and the gateways', () => {
    const pdbs = render([]).filter((o) => o.kind === 'PodDisruptionBudget');
    expect(pdbs.map((o) => o.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual([
      'control-plane',
      'kamailio',
      'media-gateway',
      'rtpengine',
    ]);
  });

  it('the demo agent is optional and the database is bundled or external', () => {
    const without = render(['--set', 'demoAgent.enabled=false']);
    expect(without.some((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'demo-agent')).toBe(false);
    const bundled = render([]);
    expect(find(bundled, 'Deployment', 'postgresql')).toBeDefined();
    expect(find(bundled, 'PersistentVolumeClaim', 'postgresql')).toBeDefined();
    const external = render(STRICT_EXTERNAL_DB);
    expect(external.some((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'postgresql')).toBe(false);
    // The password comes from the user's Secret; the URL refers to it, it does not hold it.
    const env = container(external, 'control-plane').env ?? [];
    expect(env).toContainEqual({
      name: 'DATABASE_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'db-credentials', key: 'password' } },
    });
    expect(env).toContainEqual({
      name: 'DATABASE_URL',
      value: 'postgresql://sipai:$(DATABASE_PASSWORD)@db.internal:5432/sipai',
    });
  });

  it('a ServiceMonitor exists only where the Prometheus operator does', () => {
    expect(render([]).some((o) => o.kind === 'ServiceMonitor')).toBe(false);
    const withOperator = render(['--api-versions', 'monitoring.coreos.com/v1']);
    expect(withOperator.filter((o) => o.kind === 'ServiceMonitor').map((o) => o.metadata.name)).toEqual([
      `${RELEASE}-sip-ai-bridge-control-plane`,
      `${RELEASE}-sip-ai-bridge-media-gateway`,
    ]);
  });
});

describe('secrets', () => {
  const GIVEN = {
    jwtSecretKey: 'given-jwt-secret-key-0123456789abcdef',
    sipJwtSecret: 'given-sip-jwt-secret-0123456789abcdef',
    sipSharedSecret: 'given-sip-shared-secret-0123456789abcd',
    proxySharedSecret: 'given-proxy-shared-secret-0123456789ab',
    webhookSigningSecret: 'given-webhook-signing-secret-0123456789',
  };
  const givenArgs = Object.entries(GIVEN).flatMap(([k, v]) => ['--set', `secrets.${k}=${v}`]);

  function secretData(objects: readonly K8sObject[], component: string): Record<string, string> {
    return Object.fromEntries(
      Object.entries(find(objects, 'Secret', component).data ?? {}).map(([k, v]) => [
        k,
        Buffer.from(v, 'base64').toString('utf8'),
      ]),
    );
  }

  it('values given are stored as given', () => {
    expect(secretData(render(givenArgs), 'secrets')).toEqual({
      JWT_SECRET_KEY: GIVEN.jwtSecretKey,
      SIP_JWT_SECRET: GIVEN.sipJwtSecret,
      SIP_SHARED_SECRET: GIVEN.sipSharedSecret,
      PROXY_SHARED_SECRET: GIVEN.proxySharedSecret,
      WEBHOOK_SIGNING_SECRET: GIVEN.webhookSigningSecret,
    });
  });

  it('values not given are generated (48 random characters), different on every fresh render', () => {
    const a = secretData(render([]), 'secrets');
    const b = secretData(render([]), 'secrets');
    for (const key of [
      'JWT_SECRET_KEY',
      'SIP_JWT_SECRET',
      'SIP_SHARED_SECRET',
      'PROXY_SHARED_SECRET',
      'WEBHOOK_SIGNING_SECRET',
    ]) {
      expect(a[key]).toMatch(/^[A-Za-z0-9]{48}$/);
      expect(a[key]).not.toBe(b[key]);
    }
    const db = secretData(render([]), 'database');
    expect(db['password']).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(db['DATABASE_URL']).toBe(
      `postgresql://sipai:${db['password']}@${RELEASE}-sip-ai-bridge-postgresql:5432/sipai`,
    );
  });

  it('upgrades keep the stored values: the Secret is looked up and the stored value wins over a new one', () => {
    // helm template has no cluster, so lookup returns nothing there. The template passes
    // lookup's result to sab.secretValue; that helper is proven on a stored Secret below.
    const source = readFileSync(join(CHART_DIR, 'templates', 'secrets.yaml'), 'utf8');
    expect(source).toMatch(/lookup "v1" "Secret" \.Release\.Namespace \$name/);
    expect(source.match(/include "sab\.secretValue" \(list [^)]*\$existing/g)).toHaveLength(6);
    const probe = mkdtempSync(join(tmpdir(), 'sab-chart-'));
    try {
      mkdirSync(join(probe, 'templates'));
      writeFileSync(join(probe, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.0.1\n');
      cpSync(join(CHART_DIR, 'templates', '_helpers.tpl'), join(probe, 'templates', '_helpers.tpl'));
      const stored = Buffer.from('stored-secret').toString('base64');
      writeFileSync(
        join(probe, 'templates', 'probe.yaml'),
        [
          `{{- $existing := dict "data" (dict "JWT_SECRET_KEY" "${stored}") }}`,
          'kept: {{ include "sab.secretValue" (list "" $existing "JWT_SECRET_KEY" 48) }}',
          'given: {{ include "sab.secretValue" (list "from-values" $existing "JWT_SECRET_KEY" 48) }}',
          'fresh: {{ include "sab.secretValue" (list "" dict "JWT_SECRET_KEY" 48) }}',
          '',
        ].join('\n'),
      );
      const run = runHelm(helm, ['template', 'p', probe]);
      expect(run.stderr).toBe('');
      const out = parseAllDocuments(run.stdout)[0]?.toJS() as Record<string, string>;
      expect(out['kept']).toBe(stored);
      expect(out['given']).toBe(Buffer.from('from-values').toString('base64'));
      expect(Buffer.from(out['fresh'] ?? '', 'base64').toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  });

  it('secrets.existingSecret: no Secret is created and every pod refers to the given one', () => {
    const objects = render(['--set', 'secrets.existingSecret=my-secrets']);
    expect(objects.some((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-secrets'))).toBe(false);
    for (const [name, spec] of podSpecs(objects)) {
      if (name.endsWith('-postgresql') || name.endsWith('-rtpengine')) continue;
      const refs = (spec.containers[0]?.env ?? []).filter((e) => e.name === 'JWT_SECRET_KEY');
      expect({ name, refs }).toEqual({
        name,
        refs: [{ name: 'JWT_SECRET_KEY', valueFrom: { secretKeyRef: { name: 'my-secrets', key: 'JWT_SECRET_KEY' } } }],
      });
    }
  });

  it.each(Object.entries(COMBINATIONS))('%s: no secret value is inlined outside Secrets', (_l, args) => {
    const objects = render([...args, ...givenArgs, '--set', 'postgresql.password=given-db-password-0123']);
    const secretValues = objects
      .filter((o) => o.kind === 'Secret')
      .flatMap((o) => Object.values(o.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8')))
      .filter((v) => v.length >= 8);
    const markers = [...Object.values(GIVEN), 'given-db-password-0123', ...secretValues];
    for (const o of objects.filter((x) => x.kind !== 'Secret')) {
      const text = JSON.stringify(o);
      for (const m of markers) {
        expect({ object: `${o.kind}/${o.metadata.name}`, leaks: text.includes(m) }).toEqual({
          object: `${o.kind}/${o.metadata.name}`,
          leaks: false,
        });
        expect(text.includes(Buffer.from(m).toString('base64'))).toBe(false);
      }
    }
    // And env never carries a secret by value.
    const secretNames = /SECRET|PASSWORD/;
    for (const [name, spec] of podSpecs(objects)) {
      for (const e of spec.containers.flatMap((c) => c.env ?? [])) {
        if (secretNames.test(e.name))
          expect({ name, env: e.name, value: e.value }).toEqual({ name, env: e.name, value: undefined });
      }
    }
  });
});

describe('values.schema.json rejects bad values with helm’s error', () => {
  it.each([
    ['negative replicas', ['--set', 'controlPlane.replicas=-1'], 'controlPlane.replicas'],
    ['an unknown policy profile', ['--set', 'networkPolicy.profile=open'], 'networkPolicy.profile'],
    ['a bad CIDR', ['--set-json', 'networkPolicy.trunkCidrs=["10.0.0.0/33"]'], 'networkPolicy.trunkCidrs.0'],
    [
      'a CIDR that is not one',
      ['--set-json', 'networkPolicy.trunkCidrs=["example.com"]'],
      'networkPolicy.trunkCidrs.0',
    ],
    ['a short secret', ['--set', 'secrets.jwtSecretKey=short'], 'secrets.jwtSecretKey'],
    ['a port out of range', ['--set', 'sip.port=70000'], 'sip.port'],
    ['a misspelt value', ['--set', 'mediaGateway.maxCall=10'], 'maxCall'],
    ['an unknown dialect', ['--set', 'ai.dialect=sip'], 'ai.dialect'],
  ])('%s', (_label, args, path) => {
    const stderr = renderFailure(args);
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toContain(path);
  });

  it('strict policies refuse a host-network Kamailio and an empty trunk list, with a reason', () => {
    expect(
      renderFailure(['--set', 'networkPolicy.profile=strict', '--set-json', `networkPolicy.trunkCidrs=["${TRUNK}"]`]),
    ).toContain('needs kamailio.hostNetwork=false');
    expect(renderFailure(['--set', 'networkPolicy.profile=strict', '--set', 'kamailio.hostNetwork=false'])).toContain(
      'needs networkPolicy.trunkCidrs',
    );
    expect(renderFailure(['--set', 'postgresql.enabled=false'])).toContain(
      'externalDatabase.url or externalDatabase.host',
    );
  });
});

describe('network policies', () => {
  const labels = (component: string): Endpoint => ({
    kind: 'pod',
    labels: {
      'app.kubernetes.io/name': 'sip-ai-bridge',
      'app.kubernetes.io/instance': RELEASE,
      'app.kubernetes.io/component': component,
      app: 'sip-server',
      component,
    },
  });
  const kamailio = labels('kamailio');
  const cp = labels('control-plane');
  const gw = labels('media-gateway');
  const demo = labels('demo-agent');
  const pg = labels('postgresql');
  const trunk: Endpoint = { kind: 'external', ip: '203.0.113.9' };
  const stranger: Endpoint = { kind: 'external', ip: '198.51.100.7' };
  const otherPod: Endpoint = { kind: 'pod', labels: { app: 'something-else' } };

  type Case = [string, Endpoint, Endpoint, 'TCP' | 'UDP', number, boolean];
  function check(policies: readonly NetworkPolicy[], cases: readonly Case[]): void {
    const got = cases.map(([label, from, to, protocol, port]) => [
      label,
      allowed(policies, { from, to, protocol, port }),
    ]);
    expect(got).toEqual(cases.map(([label, , , , , expected]) => [label, expected]));
  }
  const policiesOf = (objects: readonly K8sObject[]): NetworkPolicy[] =>
    objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];

  it('strict: only the trunks reach SIP, only Kamailio reaches the gateways, only our components reach Kamailio control and the database', () => {
    const bundled = policiesOf(render(COMBINATIONS['strict, bundled database, Prometheus operator'] ?? []));
    check(bundled, [
      ['trunk → Kamailio SIP/UDP', trunk, kamailio, 'UDP', 5060, true],
      ['trunk → Kamailio SIP/TCP', trunk, kamailio, 'TCP', 5060, true],
      ['trunk → Kamailio SIP/TLS', trunk, kamailio, 'TCP', 5061, true],
      ['stranger → Kamailio SIP/UDP', stranger, kamailio, 'UDP', 5060, false],
      ['stranger → Kamailio SIP/TLS', stranger, kamailio, 'TCP', 5061, false],
      ['trunk → Kamailio RPC', trunk, kamailio, 'TCP', 5081, false],
      ['control-plane → Kamailio RPC', cp, kamailio, 'TCP', 5081, true],
      ['gateway → Kamailio RPC (gateway set)', gw, kamailio, 'TCP', 5081, true],
      ['demo agent → Kamailio RPC', demo, kamailio, 'TCP', 5081, false],
      ['other pod → Kamailio RPC', otherPod, kamailio, 'TCP', 5081, false],
      ['control-plane → Kamailio evapi', cp, kamailio, 'TCP', 8448, true],
      ['gateway → Kamailio evapi', gw, kamailio, 'TCP', 8448, false],
      ['Kamailio → gateway SIP/UDP', kamailio, gw, 'UDP', 5070, true],
      ['Kamailio → gateway SIP/TCP', kamailio, gw, 'TCP', 5070, true],
      ['control-plane → gateway SIP', cp, gw, 'UDP', 5070, false],
      ['trunk → gateway SIP', trunk, gw, 'UDP', 5070, false],
      ['other pod → gateway SIP', otherPod, gw, 'UDP', 5070, false],
      ['Kamailio → SMS endpoint', kamailio, cp, 'UDP', 5090, true],
      ['gateway → SMS endpoint', gw, cp, 'UDP', 5090, false],
      ['stranger → SMS endpoint', stranger, cp, 'TCP', 5090, false],
      ['stranger → API', stranger, cp, 'TCP', 8080, true],
      ['control-plane → database', cp, pg, 'TCP', 5432, true],
      ['Kamailio → database', kamailio, pg, 'TCP', 5432, true],
      ['gateway → database', gw, pg, 'TCP', 5432, true],
      ['demo agent → database', demo, pg, 'TCP', 5432, false],
      ['other pod → database', otherPod, pg, 'TCP', 5432, false],
      ['stranger → database', stranger, pg, 'TCP', 5432, false],
      ['gateway → demo agent', gw, demo, 'TCP', 8090, true],
      ['Kamailio → demo agent', kamailio, demo, 'TCP', 8090, false],
      ['gateway → AI platform (wss)', gw, stranger, 'TCP', 443, true],
      ['control-plane → AI platform (webhook)', cp, stranger, 'TCP', 443, true],
      ['gateway → elsewhere, port 22', gw, stranger, 'TCP', 22, false],
      ['control-plane → elsewhere, port 25', cp, stranger, 'TCP', 25, false],
      ['gateway → rtpengine RTP', gw, stranger, 'UDP', 15000, true],
      ['control-plane → rtpengine RTP range', cp, stranger, 'UDP', 15000, false],
      ['rtpengine (node) → gateway RTP', stranger, gw, 'UDP', 30500, true],
      ['rtpengine (node) → gateway outside its RTP range', stranger, gw, 'UDP', 32500, false],
    ]);
  });

  it('strict with an API allow-list and node CIDRs narrows the API and RTP to them', () => {
    const policies = policiesOf(
      render([
        ...STRICT_EXTERNAL_DB,
        '--set-json',
        'networkPolicy.apiCidrs=["192.0.2.0/24"]',
        '--set-json',
        'networkPolicy.nodeCidrs=["10.1.0.0/16"]',
      ]),
    );
    const office: Endpoint = { kind: 'external', ip: '192.0.2.10' };
    const node: Endpoint = { kind: 'external', ip: '10.1.2.3' };
    check(policies, [
      ['office → API', office, cp, 'TCP', 8080, true],
      ['stranger → API', stranger, cp, 'TCP', 8080, false],
      ['node (rtpengine) → gateway RTP', node, gw, 'UDP', 31000, true],
      ['stranger → gateway RTP', stranger, gw, 'UDP', 31000, false],
      ['gateway → external database', gw, stranger, 'TCP', 5432, true],
    ]);
  });

  it('basic: SIP and the API are open, the database and Kamailio control stay inside the release', () => {
    const policies = policiesOf(render([]));
    check(policies, [
      ['stranger → Kamailio SIP/UDP', stranger, kamailio, 'UDP', 5060, true],
      ['stranger → API', stranger, cp, 'TCP', 8080, true],
      ['stranger → Kamailio RPC', stranger, kamailio, 'TCP', 5081, false],
      ['other pod → Kamailio RPC', otherPod, kamailio, 'TCP', 5081, false],
      ['control-plane → Kamailio RPC', cp, kamailio, 'TCP', 5081, true],
      ['other pod → database', otherPod, pg, 'TCP', 5432, false],
      ['gateway → database', gw, pg, 'TCP', 5432, true],
    ]);
  });
});

describe('documentation', () => {
  it('docs/deploy.md is generated from values.schema.json (node dist/scripts/deploy-docs.js)', () => {
    expect(readFileSync(DEPLOY_DOCS, 'utf8')).toBe(renderDeployDocs());
  });

  it('every value in values.yaml is described by the schema, and nothing else is', () => {
    expect(valuesPaths().sort()).toEqual(
      schemaValuePaths()
        .map(([p]) => p)
        .sort(),
    );
  });

  it('the README section and the deploy script set only values that exist', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('## Deploy to Kubernetes (MicroK8s)');
    expect(start).toBeGreaterThanOrEqual(0);
    const section = readme.slice(
      start,
      readme.indexOf('\n## ', start + 1) === -1 ? undefined : readme.indexOf('\n## ', start + 1),
    );
    const script = readFileSync(join(REPO_ROOT, 'scripts', 'deploy-microk8s.sh'), 'utf8');
    const known = new Set(valuesPaths());
    const values = chartValues();
    for (const [where, text] of [
      ['README', section],
      ['deploy-microk8s.sh', script],
    ] as const) {
      const names = [...text.matchAll(/--set(?:-string|-json|-file)?[ =]'?([A-Za-z][\w.]*)(?:\[\d+\])?=/g)].map(
        (m) => m[1] ?? '',
      );
      expect({ where, found: names.length > 0 }).toEqual({ where, found: true });
      for (const name of names) {
        const exists = known.has(name) || [...known].some((k) => k.startsWith(`${name}.`));
        expect({ where, name, exists }).toEqual({ where, name, exists: true });
      }
    }
    expect(values).toHaveProperty('networkPolicy.profile');
    expect(section).toContain('scripts/deploy-microk8s.sh');
    expect(section).toContain('kubectl get pods -n sip-system');
  });
});
