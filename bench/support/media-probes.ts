import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second, the unit of /proc/<pid>/stat CPU times. */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  readonly ppid: number;
  /** utime + stime, in ms. */
  readonly cpuMs: number;
}

/** proc(5): the fields after "(comm)" start with state, ppid, …; utime and stime are fields 14 and 15. */
function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { ppid, cpuMs: (ticks * 1000) / CLOCK_TICKS };
}

/**
 * CPU time (user + system, ms) of each named process and all its descendants
 * (Kamailio's workers are forked children; rtpengine's and Node's threads are already
 * in their process's figure). A process that has exited counts as 0.
 */
export function processTreesCpuMs(
  roots: Readonly<Record<string, number | undefined>>,
  table: ProcessTable = processTable(),
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, root] of Object.entries(roots)) {
    let total = 0;
    for (const pid of treePids(table, root)) total += table.stats.get(pid)?.cpuMs ?? 0;
    out[name] = total;
  }
  return out;
}

/** One read of /proc: every process's CPU and parent, and each parent's children. */
export interface ProcessTable {
  readonly stats: ReadonlyMap<number, ProcStat>;
  readonly children: ReadonlyMap<number, readonly number[]>;
}

export function processTable(): ProcessTable {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readProcStat(Number(entry));
    if (s) stats.set(Number(entry), s);
  }
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  return { stats, children };
}

/** `root` and all its descendants. */
function treePids(table: ProcessTable, root: number | undefined): number[] {
  const out: number[] = [];
  const pending = root === undefined ? [] : [root];
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    if (table.stats.has(pid)) out.push(pid);
    pending.push(...(table.children.get(pid) ?? []));
  }
  return out;
}

/** How long a thread ran and how long it sat runnable waiting for a core, in ms. */
export interface SchedTimes {
  readonly runMs: number;
  readonly waitMs: number;
}

/**
 * The scheduler's times of the main thread (for Node.js, the event loop) of `root` and
 * each descendant, from /proc/<pid>/schedstat (the kernel's sched-stats: time on the
 * CPU and time waiting on a run queue, in ns). Empty where the kernel keeps no schedstats.
 */
export function processTreeSchedTimes(
  root: number | undefined,
  table: ProcessTable = processTable(),
): Map<number, SchedTimes> {
  const out = new Map<number, SchedTimes>();
  for (const pid of treePids(table, root)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/schedstat`, 'utf8');
    } catch {
      continue;
    }
    const [run, wait] = text.trim().split(' ').map(Number);
    if (Number.isFinite(run) && Number.isFinite(wait))
      out.set(pid, { runMs: (run as number) / 1e6, waitMs: (wait as number) / 1e6 });
  }
  return out;
}

/**
 * Over a window of `wallMs`: the busy threads' (those that ran at least 10 % of it)
 * average share of the window on a core and waiting runnable for one, in %.
 */
export function schedShare(
  a: ReadonlyMap<number, SchedTimes>,
  b: ReadonlyMap<number, SchedTimes>,
  wallMs: number,
): { threads: number; runPct: number; waitPct: number } {
  let threads = 0;
  let run = 0;
  let wait = 0;
  for (const [pid, end] of b) {
    const start = a.get(pid);
    if (!start || end.runMs - start.runMs < 0.1 * wallMs) continue;
    threads++;
    run += end.runMs - start.runMs;
    wait += end.waitMs - start.waitMs;
  }
  const pct = (ms: number): number => (threads > 0 ? (100 * ms) / threads / wallMs : NaN);
  return { threads, runPct: pct(run), waitPct: pct(wait) };
}

/** CPU time (user + system, ms) of one process alone, not its children (the bench's own figure: it is the stack's parent). */
export function processCpuMs(pid: number): number {
  return readProcStat(pid)?.cpuMs ?? 0;
}

/** The machine's CPU time (ms summed over cores) from /proc/stat's first line. */
export interface MachineCpu {
  readonly busyMs: number;
  /** Time spent in softirq: on loopback, most of the UDP path runs here, charged to no process. */
  readonly softirqMs: number;
  readonly totalMs: number;
}

export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const toMs = (t: number | undefined): number => ((t ?? 0) * 1000) / CLOCK_TICKS;
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busyMs: toMs(busy), softirqMs: toMs(softirq), totalMs: toMs(busy + (idle ?? 0) + (iowait ?? 0)) };
}

/** One Prometheus text exposition, as sample name + labels → value. */
export type Scrape = ReadonlyMap<string, number>;

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** A value of `after` minus the same sample of `before` (absent = 0). */
export function delta(before: Scrape, after: Scrape, sample: string): number {
  return (after.get(sample) ?? 0) - (before.get(sample) ?? 0);
}

export interface HistogramQuantiles {
  readonly count: number;
  /** NaN without observations; Infinity when it falls past the last finite bucket. */
  readonly p50: number;
  readonly p99: number;
}

/**
 * p50/p99 of the observations a prom-client histogram took between two scrapes,
 * interpolating linearly inside the bucket the quantile falls in (as PromQL's
 * histogram_quantile does).
 */
export function histogramQuantiles(before: Scrape, after: Scrape, name: string): HistogramQuantiles {
  const buckets: Array<{ le: number; count: number }> = [];
  for (const key of after.keys()) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(key);
    if (!m) continue;
    buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: delta(before, after, key) });
  }
  buckets.sort((a, b) => a.le - b.le);
  const count = buckets.at(-1)?.count ?? 0;
  const quantile = (q: number): number => {
    if (count <= 0) return NaN;
    const rank = q * count;
    let lower = 0;
    let below = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (b.le === Infinity) return Infinity;
        const inBucket = b.count - below;
        return inBucket > 0 ? lower + ((rank - below) / inBucket) * (b.le - lower) : b.le;
      }
      lower = b.le;
      below = b.count;
    }
    return NaN;
  };
  return { count, p50: quantile(0.5), p99: quantile(0.99) };
}
