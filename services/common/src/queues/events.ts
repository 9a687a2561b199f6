/**
 * The PostgreSQL NOTIFY channel queues run on (db/migrations/0053_ivr_queues.sql).
 * Every media gateway LISTENs; the control-plane only writes rows and notifies, so
 * queues keep working while no control-plane runs.
 */
export const QUEUE_CHANNEL = 'queue_events';

export type QueueNotice =
  /** Something changed in `queue` (a caller arrived or left, a seat or an agent freed, an operator moved someone): dispatch it. */
  | { readonly kind: 'kick'; readonly queue: string }
  /** Entry `entry` of `gateway` was offered to an agent (state offered, agent set): that gateway connects it. */
  | { readonly kind: 'offer'; readonly entry: string; readonly gateway: string }
  /** An operator moved entry `entry` (of `gateway`) to another queue: that gateway plays the new queue's music and rules. */
  | { readonly kind: 'moved'; readonly entry: string; readonly gateway: string; readonly queue: string };

/** Seat scopes (call_seats.scope). */
export function numberScope(e164: string): string {
  return `number:${e164}`;
}
export function aiRouteScope(name: string): string {
  return `ai_route:${name}`;
}
