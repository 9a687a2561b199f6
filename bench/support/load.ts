import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/stack/env';
import { renderTemplate } from '../../scripts/stack/kamailio';
import { PidRegistry, SupervisedChild, waitUntilReady } from '../../scripts/stack/processes';
import type { LocalStack } from '../../scripts/stack/supervisor';
import { mintToken } from '../../services/common/src/auth/tokens';
import { freeUdpPort, type SippRun } from '../../harness/sipp';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One step of a load ramp: what was offered and what came back. */
export interface StepResult {
  readonly offered: number;
  readonly successful: number;
  readonly failed: number;
  readonly seconds: number;
  readonly achieved: number;
  /** Response times SIPp measured in this step (ms), when the scenario measures any. */
  readonly rtts: readonly number[];
}

function parseSippCount(run: SippRun, label: string): number {
  const line = run.stdout
    .split('\n')
    .filter((l) => l.includes(label))
    .pop();
  const cells = line?.split('|').map((c) => c.trim()) ?? [];
  const value = Number(cells[cells.length - 1]);
  return Number.isFinite(value) ? value : 0;
}

/**
 * Sums SIPp runs that each had `callsEach` calls to make. Exit code 0 is SIPp's own
 * "every call succeeded" (its final screen on a pipe can be cut short); otherwise the
 * counts come from the screen, and calls it never finished count as failures.
 * `tailSeconds` (a call's hold time) is left out of the rate.
 */
export function summarise(
  offered: number,
  callsEach: number,
  runs: readonly SippRun[],
  seconds: number,
  tailSeconds = 0,
): StepResult {
  let successful = 0;
  let failed = 0;
  const rtts: number[] = [];
  for (const run of runs) {
    const ok = run.code === 0 ? callsEach : parseSippCount(run, 'Successful call');
    const bad = run.code === 0 ? 0 : parseSippCount(run, 'Failed call');
    successful += ok;
    failed += bad + Math.max(0, callsEach - ok - bad);
    rtts.push(...run.rtts);
    if (ok < callsEach) {
      const why = (run.errors || run.stderr).split('\n').filter(Boolean).slice(0, 3).join(' | ');
      console.log(`    SIPp exit ${run.code}: ${ok}/${callsEach} ok; ${why.slice(0, 300)}`);
    }
  }
  // The last calls placed are still held for tailSeconds after the offered load stops.
  return { offered, successful, failed, seconds, achieved: successful / Math.max(1e-3, seconds - tailSeconds), rtts };
}

/**
 * A step counts only if every call succeeded and the achieved rate (over the step's
 * wall time, SIPp's start and last answers included: about half a second of a 10 s
 * step on the reference machine) is at least this share of the offered rate. A
 * target that falls behind finishes late, and its step fails here however many calls
 * it eventually answered.
 */
export const MIN_ACHIEVED_SHARE = 0.9;

/**
 * Steps the offered rate up until a step has a failure or achieves under
 * MIN_ACHIEVED_SHARE of its offered rate; returns the last clean step. `step(rate)`
 * runs one step.
 */
export async function ramp(
  name: string,
  rates: readonly number[],
  stepSeconds: number,
  step: (rate: number) => Promise<StepResult>,
): Promise<{ best: StepResult | null; steps: StepResult[] }> {
  const steps: StepResult[] = [];
  let best: StepResult | null = null;
  for (const rate of rates) {
    const r = await step(rate);
    steps.push(r);
    const ok = r.failed === 0 && r.successful >= rate * stepSeconds && r.achieved >= MIN_ACHIEVED_SHARE * rate;
    const latency =
      r.rtts.length > 0
        ? `  INVITE→200 p50 ${percentile(r.rtts, 50).toFixed(1)} ms p99 ${percentile(r.rtts, 99).toFixed(1)} ms`
        : '';
    console.log(
      `  ${name.padEnd(9)} offered ${String(rate).padStart(5)}/s  ok ${String(r.successful).padStart(6)}  failed ${String(r.failed).padStart(5)}  ` +
        `achieved ${r.achieved.toFixed(0).padStart(5)}/s${latency}${ok ? '' : '  <- limit'}`,
    );
    if (!ok) break;
    best = r;
    await sleep(2000);
  }
  // Let an overloaded target drain its queues (and PostgreSQL its backlog) before the next ramp.
  await sleep(15_000);
  return { best, steps };
}

/**
 * Several ramps in lockstep: at each rate, one step of every target still going, so on
 * a shared machine they meet the same background load (a ramp run after another one
 * meets another machine). Returns each target's ramp, in the order given.
 */
export async function rampsInterleaved(
  targets: ReadonlyArray<{ readonly name: string; readonly step: (rate: number) => Promise<StepResult> }>,
  rates: readonly number[],
  stepSeconds: number,
): Promise<Array<{ best: StepResult | null; steps: StepResult[] }>> {
  const out = targets.map(() => ({ best: null as StepResult | null, steps: [] as StepResult[], going: true }));
  for (const rate of rates) {
    if (!out.some((o) => o.going)) break;
    for (const [i, t] of targets.entries()) {
      const o = out[i] as (typeof out)[number];
      if (!o.going) continue;
      const r = await t.step(rate);
      o.steps.push(r);
      const ok = r.failed === 0 && r.successful >= rate * stepSeconds && r.achieved >= MIN_ACHIEVED_SHARE * rate;
      console.log(
        `  ${t.name.padEnd(9)} offered ${String(rate).padStart(5)}/s  ok ${String(r.successful).padStart(6)}  failed ${String(r.failed).padStart(5)}  ` +
          `achieved ${r.achieved.toFixed(0).padStart(5)}/s${ok ? '' : '  <- limit'}`,
      );
      if (ok) o.best = r;
      else o.going = false;
      // Let the target drain its queues (and PostgreSQL its backlog) before the next step.
      await sleep(ok ? 2000 : 15_000);
    }
  }
  return out.map(({ best, steps }) => ({ best, steps }));
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

/**
 * A second Kamailio from a baseline template in bench/baseline/, supervised like the
 * stack's own children; ready once it answers SIP on `port`.
 */
export async function startBaselineKamailio(
  stack: LocalStack,
  name: string,
  template: string,
  port: number,
  values: Record<string, string>,
): Promise<SupervisedChild> {
  const dir = join(stack.config.stateDir, name);
  mkdirSync(dir, { recursive: true });
  const cfg = renderTemplate(readFileSync(join(REPO_ROOT, 'bench', 'baseline', template), 'utf8'), {
    CHILDREN: String(stack.config.kamailio.children),
    PORT: String(port),
    ...values,
  });
  const cfgPath = join(dir, 'kamailio.cfg');
  writeFileSync(cfgPath, cfg, { mode: 0o600 });
  const child = new SupervisedChild(
    {
      name,
      command: 'kamailio',
      args: [
        '-f',
        cfgPath,
        '-DD',
        '-E',
        '-Y',
        dir,
        '-P',
        join(dir, 'kamailio.pid'),
        '-m',
        String(stack.config.kamailio.sharedMemoryMb),
        '-M',
        String(stack.config.kamailio.pkgMemoryMb),
      ],
    },
    join(stack.config.stateDir, 'logs', `${name}.log`),
  );
  await new PidRegistry(dir).killLeftovers();
  new PidRegistry(dir).record([child]);
  await waitUntilReady(child, () => probeUdp(port), 15_000);
  return child;
}

/** Resolves when something answers a SIP OPTIONS on 127.0.0.1:port. */
export async function probeUdp(port: number): Promise<void> {
  const sock = createSocket('udp4');
  const local = await freeUdpPort();
  await new Promise<void>((resolve) => sock.bind(local, '127.0.0.1', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SIP answer')), 500);
      sock.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      const msg =
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-probe${Date.now()}\r\n` +
        `From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:${port}>\r\nCall-ID: probe-${Date.now()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

/** An admin bearer token for a bench stack. */
export async function adminToken(stack: LocalStack): Promise<string> {
  return mintToken({ role: 'admin', secret: stack.config.secrets.sipJwtSecret, ttlSeconds: 3600 });
}

/** JSON request to a bench stack's API; throws unless the status is 2xx. */
export async function benchApi(stack: LocalStack, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`http://${stack.config.api.host}:${stack.config.api.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${await adminToken(stack)}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}
