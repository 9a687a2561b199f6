/**
 * Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), enough to decide whether one
 * connection is allowed by a set of rendered policies: the tests ask "can X reach Y on
 * port P" instead of reading YAML. One namespace; ipBlock peers match external addresses.
 */

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] }[];
}

interface PolicyPort {
  readonly protocol?: string;
  readonly port?: number | string;
  readonly endPort?: number;
}

interface PolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: { readonly cidr: string; readonly except?: readonly string[] };
}

interface PolicyRule {
  readonly from?: readonly PolicyPeer[];
  readonly to?: readonly PolicyPeer[];
  readonly ports?: readonly PolicyPort[];
}

export interface NetworkPolicy {
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly podSelector: LabelSelector;
    readonly policyTypes?: readonly string[];
    readonly ingress?: readonly PolicyRule[];
    readonly egress?: readonly PolicyRule[];
  };
}

/** A pod of the release (by its labels) or an address outside the cluster. */
export type Endpoint =
  | { readonly kind: 'pod'; readonly labels: Readonly<Record<string, string>> }
  | { readonly kind: 'external'; readonly ip: string };

export interface Connection {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
}

export function selects(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const inValues = value !== undefined && (e.values ?? []).includes(value);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function ipv4ToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`);
  }
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (base === undefined || !Number.isInteger(bits)) throw new Error(`not a CIDR: ${cidr}`);
  if (bits === 0) return true;
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4ToInt(ip) / size) === Math.floor(ipv4ToInt(base) / size);
}

function peerMatches(peer: PolicyPeer, endpoint: Endpoint): boolean {
  if (peer.ipBlock) {
    // Pod-to-pod traffic is matched by selectors; ipBlock is for addresses outside.
    if (endpoint.kind !== 'external') return false;
    const { cidr, except = [] } = peer.ipBlock;
    return inCidr(endpoint.ip, cidr) && !except.some((e) => inCidr(endpoint.ip, e));
  }
  if (endpoint.kind !== 'pod') return false;
  // Everything is in one namespace: a namespaceSelector matches it ({} matches every namespace).
  if (peer.namespaceSelector && !peer.podSelector) return true;
  return selects(peer.podSelector ?? {}, endpoint.labels);
}

function portMatches(ports: readonly PolicyPort[] | undefined, protocol: string, port: number): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') throw new Error(`named port ${p.port}: the evaluator takes numbers only`);
    return p.endPort === undefined ? p.port === port : port >= p.port && port <= p.endPort;
  });
}

function policyTypes(policy: NetworkPolicy): readonly string[] {
  return policy.spec.policyTypes ?? (policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
}

/** One direction: isolated when a policy of that type selects the pod; then some rule must allow. */
function directionAllows(
  policies: readonly NetworkPolicy[],
  direction: 'Ingress' | 'Egress',
  self: Endpoint,
  peer: Endpoint,
  protocol: string,
  port: number,
): boolean {
  if (self.kind !== 'pod') return true;
  const applying = policies.filter(
    (p) => policyTypes(p).includes(direction) && selects(p.spec.podSelector, self.labels),
  );
  if (applying.length === 0) return true;
  return applying.some((p) =>
    (direction === 'Ingress' ? (p.spec.ingress ?? []) : (p.spec.egress ?? [])).some((rule) => {
      const peers = direction === 'Ingress' ? rule.from : rule.to;
      const peerOk = !peers || peers.length === 0 || peers.some((x) => peerMatches(x, peer));
      return peerOk && portMatches(rule.ports, protocol, port);
    }),
  );
}

/** Whether the policies let this connection through: the sender's egress and the receiver's ingress. */
export function allowed(policies: readonly NetworkPolicy[], c: Connection): boolean {
  return (
    directionAllows(policies, 'Egress', c.from, c.to, c.protocol, c.port) &&
    directionAllows(policies, 'Ingress', c.to, c.from, c.protocol, c.port)
  );
}
