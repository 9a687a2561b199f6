import { createServer, type Server } from 'node:http';

/** The Prometheus registry the server renders (prom-client's Registry fits). */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface OpsHttpServerOptions {
  /** The gateway's name in /health. */
  readonly gatewayId: string;
  readonly activeCalls: () => number;
  readonly registry: MetricsRegistry;
}

/**
 * One gateway's operations endpoint (loopback): `GET /health` (status, gateway id,
 * active calls) for the stack's readiness probe and `GET /metrics` for Prometheus.
 * Under a primary (GATEWAY_WORKERS > 1) the replicas have none: the primary serves
 * both for all of them (replicas/primary.ts).
 */
export class OpsHttpServer {
  private readonly http: Server;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: OpsHttpServerOptions) {
    this.http = createServer((req, res) => {
      if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ status: 'ok', gateway: this.options.gatewayId, active_calls: this.options.activeCalls() }),
        );
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
