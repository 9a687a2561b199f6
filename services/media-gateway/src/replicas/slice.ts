/**
 * What one replica of a multi-process gateway (GATEWAY_WORKERS > 1) owns: its own SIP
 * port (in-dialog requests must reach the process that holds the dialog, so replicas
 * cannot share one), its own slice of the RTP port range, and its own name in
 * Kamailio's gateway set. Pure, so the arithmetic is tested without processes.
 */
export interface GatewayPorts {
  readonly id: string;
  readonly sipPort: number;
  readonly rtpPortMin: number;
  readonly rtpPortMax: number;
}

/**
 * Replica `index` of `count`: SIP port base + index, the id suffixed `/index`, and an
 * equal share of the RTP range that starts on an even port (RFC 3550 §11) and holds
 * whole RTP/RTCP pairs.
 */
export function replicaPorts(base: GatewayPorts, index: number, count: number): GatewayPorts {
  if (!Number.isInteger(count) || count < 1)
    throw new TypeError(`replica count must be a positive integer, got ${count}`);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new TypeError(`replica index ${index} is not in 0..${count - 1}`);
  if (count === 1) return base;
  const first = base.rtpPortMin + (base.rtpPortMin % 2);
  const pairs = Math.floor((base.rtpPortMax - first + 1) / 2);
  const share = Math.floor(pairs / count);
  if (share < 1)
    throw new RangeError(`RTP ports ${base.rtpPortMin}-${base.rtpPortMax} cannot be shared by ${count} replicas`);
  const rtpPortMin = first + 2 * share * index;
  return {
    id: `${base.id}/${index}`,
    sipPort: base.sipPort + index,
    rtpPortMin,
    rtpPortMax: rtpPortMin + 2 * share - 1,
  };
}
