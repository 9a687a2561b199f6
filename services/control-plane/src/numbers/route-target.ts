import type { FieldError } from '../../../common/src/errors';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { ForwardFallback, NumberRouteType } from '../../../common/src/db/schema';
import { parseE164 } from './e164';
import { DEFAULT_FORWARD_TIMEOUT_SECONDS, NAME_PATTERN, USERNAME_PATTERN, type RouteFields } from './schemas';

/** Where a DID's calls go, once checked: the columns of its `numbers` row. */
export interface NumberRoute {
  readonly route_type: NumberRouteType;
  /** Username, queue / IVR name, or E.164 number or username (forward); null for the AI. */
  readonly target: string | null;
  /** ai, and forward (its fallback): the AI settings; null for the other routes. */
  readonly ai_dialect: Dialect | null;
  readonly ai_agent_url: string | null;
  readonly ai_options: Record<string, unknown> | null;
  /** forward only: how long the target rings, and what answers when it does not. */
  readonly forward_timeout_seconds: number | null;
  readonly forward_fallback: ForwardFallback | null;
}

export type RouteCheck =
  { readonly ok: true; readonly route: NumberRoute } | { readonly ok: false; readonly fields: FieldError[] };

const AI_FIELDS = ['ai_dialect', 'ai_agent_url', 'ai_options'] as const;
const FORWARD_FIELDS = ['forward_timeout_seconds', 'forward_fallback'] as const;
const username = new RegExp(USERNAME_PATTERN);
const name = new RegExp(NAME_PATTERN);

/**
 * Checks that the route's fields fit its type: a target for everything but the AI
 * (which takes ai_* fields instead), of the right form. A forward target is an E.164
 * number (normalised, and not the number itself: a loop) or, when it does not start
 * with "+", a SIP username (the caller checks the user exists). A forward number rings
 * for forward_timeout_seconds (default 30) and may carry AI settings for its fallback;
 * with forward_fallback "ai" they default like route_type ai's (olib, the configured
 * default agent, no options).
 */
export function checkRoute(fields: RouteFields, ownNumber: string): RouteCheck {
  const problems: FieldError[] = [];
  const target = fields.target ?? null;
  if (fields.route_type !== 'forward') {
    for (const key of FORWARD_FIELDS) {
      if (fields[key] !== undefined && fields[key] !== null)
        problems.push({ field: key, message: 'is only allowed with route_type forward' });
    }
  }
  if (fields.route_type === 'ai') {
    if (target !== null)
      problems.push({
        field: 'target',
        message: 'must be absent for route_type ai (the AI answers the number itself)',
      });
    if (problems.length > 0) return { ok: false, fields: problems };
    return {
      ok: true,
      route: {
        route_type: 'ai',
        target: null,
        ai_dialect: fields.ai_dialect ?? 'olib',
        ai_agent_url: fields.ai_agent_url ?? null,
        ai_options: fields.ai_options ?? {},
        forward_timeout_seconds: null,
        forward_fallback: null,
      },
    };
  }
  if (fields.route_type === 'forward') return checkForward(fields, ownNumber, problems);
  for (const key of AI_FIELDS) {
    if (fields[key] !== undefined && fields[key] !== null)
      problems.push({ field: key, message: 'is only allowed with route_type ai or forward' });
  }
  if (target === null) {
    problems.push({ field: 'target', message: `is required for route_type ${fields.route_type}` });
  } else if (fields.route_type === 'sip_user' && !username.test(target)) {
    problems.push({ field: 'target', message: 'must be a SIP username' });
  } else if ((fields.route_type === 'queue' || fields.route_type === 'ivr') && !name.test(target)) {
    problems.push({
      field: 'target',
      message: `must be a ${fields.route_type} name: 1–64 letters, digits, "_", "." or "-"`,
    });
  }
  if (problems.length > 0) return { ok: false, fields: problems };
  return {
    ok: true,
    route: {
      route_type: fields.route_type,
      target,
      ai_dialect: null,
      ai_agent_url: null,
      ai_options: null,
      forward_timeout_seconds: null,
      forward_fallback: null,
    },
  };
}

function checkForward(fields: RouteFields, ownNumber: string, problems: FieldError[]): RouteCheck {
  const target = fields.target ?? null;
  let normalised = target;
  if (target === null) {
    problems.push({ field: 'target', message: 'is required for route_type forward' });
  } else if (target.trim().startsWith('+')) {
    const parsed = parseE164(target);
    if (!parsed.ok) problems.push({ field: 'target', message: parsed.problem });
    else if (parsed.e164 === ownNumber)
      problems.push({ field: 'target', message: 'is the number itself (the call would loop)' });
    else normalised = parsed.e164;
  } else if (!username.test(target)) {
    problems.push({
      field: 'target',
      message: 'must be an E.164 number ("+", the country code, then the number) or a SIP username',
    });
  }
  if (problems.length > 0) return { ok: false, fields: problems };
  const fallback = fields.forward_fallback ?? 'none';
  const ai = fallback === 'ai';
  return {
    ok: true,
    route: {
      route_type: 'forward',
      target: normalised,
      ai_dialect: fields.ai_dialect ?? (ai ? 'olib' : null),
      ai_agent_url: fields.ai_agent_url ?? null,
      ai_options: fields.ai_options ?? (ai ? {} : null),
      forward_timeout_seconds: fields.forward_timeout_seconds ?? DEFAULT_FORWARD_TIMEOUT_SECONDS,
      forward_fallback: fallback,
    },
  };
}

/** A forward target that names a SIP user rather than a number. */
export function forwardsToUser(route: Pick<NumberRoute, 'route_type' | 'target'>): boolean {
  return route.route_type === 'forward' && route.target !== null && !route.target.startsWith('+');
}

/**
 * The value of the number in Kamailio's htable `did` (the view did_htable computes the
 * same): `<route_type>|<target>`, `ai|<the DID's digits>` for the AI, and
 * `forward|<target as stored>|<seconds>|<none|ai>` for a forward (a number keeps its
 * "+", which tells it from a username).
 */
export function kamailioRouteValue(
  number: string,
  route: Pick<NumberRoute, 'route_type' | 'target' | 'forward_timeout_seconds' | 'forward_fallback'>,
): string {
  switch (route.route_type) {
    case 'ai':
      return `ai|${number.replace(/^\+/, '')}`;
    case 'forward':
      return `forward|${route.target ?? ''}|${route.forward_timeout_seconds ?? DEFAULT_FORWARD_TIMEOUT_SECONDS}|${route.forward_fallback ?? 'none'}`;
    default:
      return `${route.route_type}|${route.target ?? ''}`;
  }
}
