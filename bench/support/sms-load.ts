import { Agent, request } from 'node:http';

/** One request of an open-loop HTTP load. */
export interface HttpCall {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
}

export interface HttpLoadOptions {
  readonly host: string;
  readonly port: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly rate: number;
  readonly seconds: number;
  /** Keep-alive connections the requests are spread over. */
  readonly connections: number;
  /** Requests outstanding at once; past this the generator stops offering and the step is short. */
  readonly maxInFlight: number;
  readonly call: (i: number) => HttpCall;
  /** Every answer, with the time it came (performance.now() ms). */
  readonly onAnswer?: (i: number, status: number, body: string, atMs: number) => void;
}

export interface HttpLoadResult {
  readonly offered: number;
  readonly issued: number;
  readonly answered: number;
  readonly statuses: Readonly<Record<number, number>>;
  /** Errors that were not HTTP answers (socket resets, timeouts). */
  readonly errors: number;
  /** Scheduled send → answer (ms): the queueing a late generator would hide is included. */
  readonly latencies: number[];
  readonly seconds: number;
}

/**
 * An open-loop HTTP load: request i is due at start + i / rate, issued on time over
 * `connections` keep-alive sockets (never waiting for earlier answers), and its latency
 * counts from when it was due. If `maxInFlight` requests are outstanding the due ones
 * wait, and their wait is in their latency.
 */
export async function httpLoad(o: HttpLoadOptions): Promise<HttpLoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections, maxFreeSockets: o.connections });
  const offered = Math.round(o.rate * o.seconds);
  const statuses: Record<number, number> = {};
  const latencies: number[] = [];
  let issued = 0;
  let answered = 0;
  let errors = 0;
  let inFlight = 0;
  const start = performance.now();
  const dueAt = (i: number): number => start + (i * 1000) / o.rate;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));

  const issue = (i: number): void => {
    const c = o.call(i);
    inFlight++;
    const req = request(
      {
        host: o.host,
        port: o.port,
        method: c.method,
        path: c.path,
        agent,
        headers: { ...o.headers, ...(c.body !== undefined ? { 'content-length': Buffer.byteLength(c.body) } : {}) },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const now = performance.now();
          const status = res.statusCode ?? 0;
          statuses[status] = (statuses[status] ?? 0) + 1;
          latencies.push(now - dueAt(i));
          answered++;
          o.onAnswer?.(i, status, Buffer.concat(parts).toString('utf8'), now);
          done();
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      errors++;
      done();
    });
    req.end(c.body);
  };
  const done = (): void => {
    inFlight--;
    pump();
  };
  let timer: NodeJS.Timeout | undefined;
  const pump = (): void => {
    const due = Math.min(offered, Math.floor(((performance.now() - start) * o.rate) / 1000) + 1);
    while (issued < due && inFlight < o.maxInFlight) issue(issued++);
    if (issued >= offered && inFlight === 0) finish();
  };
  const tick = (): void => {
    pump();
    if (issued < offered) timer = setTimeout(tick, 2);
  };
  tick();
  await finished;
  clearTimeout(timer);
  agent.destroy();
  return { offered, issued, answered, statuses, errors, latencies, seconds: (performance.now() - start) / 1000 };
}
