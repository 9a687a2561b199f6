import { createServer, type Server } from 'node:http';

/** The Prometheus registry the server renders (prom-client's Registry fits). */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Whether the gateway should be sent calls now; `status` names why not (draining, database unreachable). */
export type Readiness =
  { readonly ready: true } | { readonly ready: false; readonly status: string; readonly reason: string };

export interface OpsHttpServerOptions {
  /** The gateway's name in /health. */
  readonly gatewayId: string;
  readonly activeCalls: () => number;
  readonly registry: MetricsRegistry;
  /** Asked on every /health (default: always ready). */
  readonly readiness?: () => Promise<Readiness>;
}

/**
 * One gateway's operations endpoint (loopback): `GET /health` (status, gateway id,
 * active calls) for the stack's readiness probe: 200 when it takes calls, 503 while it
 * drains or cannot reach its database; `GET /live` (200 while the process serves: a
 * liveness probe that does not restart a gateway with live calls because the database
 * blinked); `GET /metrics` for Prometheus.
 * Under a primary (GATEWAY_WORKERS > 1) the replicas have none: the primary serves
 * both for all of them (replicas/primary.ts).
 */
export class OpsHttpServer {
  private readonly http: Server;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: OpsHttpServerOptions) {
    this.http = createServer((req, res) => {
      if (req.url === '/health') {
        const readiness = this.options.readiness ?? (() => Promise.resolve<Readiness>({ ready: true }));
        readiness()
          .catch((err: Error): Readiness => ({ ready: false, status: 'unavailable', reason: err.message }))
          .then((r) => {
            const body = { gateway: this.options.gatewayId, active_calls: this.options.activeCalls() };
            res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify(r.ready ? { status: 'ok', ...body } : { status: r.status, reason: r.reason, ...body }),
            );
          })
          .catch(() => res.destroy());
        return;
      }
      if (req.url === '/live') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'ok', gateway: this.options.gatewayId }));
        return;
      }
      if (req.url === '/metrics') {
        const registry = this.options.registry;
        registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { 'content-type': registry.contentType });
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
  }

  /** Resolves once listening; rejects if the port is taken. */
  listen(port: number, host: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => resolve());
    });
  }

  /** The port listened on (the one the OS chose for 0). */
  get port(): number {
    const address = this.http.address();
    return address !== null && typeof address === 'object' ? address.port : 0;
  }

  /** Stops listening and waits for open requests. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => this.http.close(() => resolve()));
    return this.closing;
  }
}
