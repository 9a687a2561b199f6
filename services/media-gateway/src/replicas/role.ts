import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { READY_MESSAGE, REPLICA_INDEX_ENV } from './primary';

/**
 * What this gateway process is (GATEWAY_WORKERS):
 *   single   GATEWAY_WORKERS = 1: the whole gateway in this process.
 *   primary  GATEWAY_WORKERS > 1, not forked: only supervises the replicas (GatewayPrimary).
 *   replica  forked by a primary: a whole gateway, replica `index` of `of`.
 */
export type GatewayRole =
  | { readonly kind: 'single'; readonly index: 0; readonly of: number }
  | { readonly kind: 'primary'; readonly replicas: number }
  | { readonly kind: 'replica'; readonly index: number; readonly of: number };

/** Whether a primary forked this process. */
export function isReplica(): boolean {
  return cluster.isWorker;
}

/** This process's role, from GATEWAY_WORKERS and whether the cluster module forked it. */
export function gatewayRole(workers: number, env: NodeJS.ProcessEnv = process.env): GatewayRole {
  if (isReplica()) return { kind: 'replica', index: Number(env[REPLICA_INDEX_ENV]), of: workers };
  if (workers > 1) return { kind: 'primary', replicas: workers };
  return { kind: 'single', index: 0, of: workers };
}

/**
 * A replica's metrics go to its primary, which serves them for all: constructing an
 * AggregatorRegistry is what makes prom-client answer the primary's requests over IPC.
 */
export function reportMetricsToPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
}

/** Tells a primary (if any: a replica has an IPC channel) that this gateway answers SIP and joined the set. */
export function announceReady(): void {
  process.send?.(READY_MESSAGE);
}
