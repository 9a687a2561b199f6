import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry } from 'prom-client';

/** The environment variable that tells a forked replica which one it is. */
export const REPLICA_INDEX_ENV = 'GATEWAY_REPLICA_INDEX';

/** What a replica sends its primary once it answers SIP and has joined the gateway set. */
export const READY_MESSAGE = 'media-gateway:ready';

export interface PrimaryLogger {
  info(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
  error(message: string, meta?: object): unknown;
}

export interface PrimaryOptions {
  readonly replicas: number;
  readonly id: string;
  readonly httpPort: number;
  /** Address the health and metrics server binds (GATEWAY_HTTP_HOST); default loopback. */
  readonly httpHost?: string;
  readonly logger: PrimaryLogger;
  /** How long replicas get to end their calls on stop before they are killed. */
  readonly stopTimeoutMs?: number;
}

/**
 * GATEWAY_WORKERS > 1: this process only supervises. It forks one gateway replica per
 * worker (each a whole gateway: SIP user agent on its own port, its own calls, RTP
 * ports and event loop, its own row in Kamailio's gateway set, see replicaPorts), so
 * the 20 ms media work of many calls spreads over the machine's cores, and serves the
 * replicas' /health and /metrics (prom-client's cluster aggregation: counters and
 * histograms summed; event-loop lag averaged) on GATEWAY_HTTP_PORT. A replica that
 * dies is replaced; its calls are lost, the others' go on.
 */
export class GatewayPrimary {
  private readonly workers = new Map<number, Worker>();
  private readonly aggregator = new AggregatorRegistry();
  private http: Server | null = null;
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: PrimaryOptions) {}

  /** Forks every replica and resolves once all are ready and /health answers; rejects if one fails to start. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.replicas }, (_, i) => this.fork(i)));
    const http = createServer((req, res) => {
      if (req.url === '/health' && this.stopping) {
        // The replicas are draining: not ready for new calls (they answer INVITEs 503 already).
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'draining', gateway: this.options.id, replicas: this.workers.size }));
        return;
      }
      if (req.url === '/live') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'ok', gateway: this.options.id }));
        return;
      }
      if (req.url === '/health' || req.url === '/metrics') {
        this.aggregator
          .clusterMetrics()
          .then((text) => {
            if (req.url === '/metrics') {
              res.writeHead(200, { 'content-type': this.aggregator.contentType });
              res.end(text);
              return;
            }
            const active = Number(/^gateway_active_ai_calls (\S+)$/m.exec(text)?.[1] ?? 0);
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({
                status: 'ok',
                gateway: this.options.id,
                replicas: this.workers.size,
                active_calls: active,
              }),
            );
          })
          .catch((err: Error) => {
            res.writeHead(503);
            res.end(err.message);
          });
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.options.httpPort, this.options.httpHost ?? '127.0.0.1', () => resolve());
    });
    this.http = http;
    this.options.logger.info(
      `media-gateway: ${this.options.replicas} replicas ready, health and metrics on http://${this.options.httpHost ?? '127.0.0.1'}:${this.options.httpPort}/metrics`,
    );
  }

  /** Asks every replica to stop (each ends its calls and leaves the gateway set), then closes. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const timeoutMs = this.options.stopTimeoutMs ?? 15_000;
      await Promise.all(
        [...this.workers.values()].map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              const kill = setTimeout(() => worker.process.kill('SIGKILL'), timeoutMs);
              worker.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              worker.process.kill('SIGTERM');
            }),
        ),
      );
      const http = this.http;
      if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
    })();
    return this.stopping;
  }

  private fork(index: number): Promise<void> {
    const worker = cluster.fork({ [REPLICA_INDEX_ENV]: String(index) });
    this.workers.set(index, worker);
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: unknown) => {
        if (message === READY_MESSAGE && !ready) {
          ready = true;
          resolve();
        }
      });
      worker.once('exit', (code, signal) => {
        if (!ready) {
          reject(new Error(`media-gateway replica ${index} exited during start-up (${signal ?? code})`));
          return;
        }
        if (this.stopping) return;
        this.options.logger.error('media-gateway replica died; starting a new one', { replica: index, code, signal });
        this.fork(index).catch((err: Error) =>
          this.options.logger.error('media-gateway replica could not be replaced', {
            replica: index,
            error: err.message,
          }),
        );
      });
    });
  }
}
