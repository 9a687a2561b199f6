import type { FieldError } from '../../../common/src/errors';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { NumberRouteType } from '../../../common/src/db/schema';
import { parseE164 } from './e164';
import { NAME_PATTERN, USERNAME_PATTERN, type RouteFields } from './schemas';

/** Where a DID's calls go, once checked: the columns of its `numbers` row. */
export interface NumberRoute {
  readonly route_type: NumberRouteType;
  /** Username, queue / IVR name, or E.164 number (forward); null for the AI. */
  readonly target: string | null;
  readonly ai_dialect: Dialect | null;
  readonly ai_agent_url: string | null;
  readonly ai_options: Record<string, unknown> | null;
}

export type RouteCheck =
  { readonly ok: true; readonly route: NumberRoute } | { readonly ok: false; readonly fields: FieldError[] };

const AI_FIELDS = ['ai_dialect', 'ai_agent_url', 'ai_options'] as const;
const username = new RegExp(USERNAME_PATTERN);
const name = new RegExp(NAME_PATTERN);

/**
 * Checks that the route's fields fit its type: a target for everything but the AI
 * (which takes ai_* fields instead), of the right form. Forward targets are
 * normalised to E.164 and may not be the number itself (a loop).
 */
export function checkRoute(fields: RouteFields, ownNumber: string): RouteCheck {
  const problems: FieldError[] = [];
  const target = fields.target ?? null;
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
      },
    };
  }
  for (const key of AI_FIELDS) {
    if (fields[key] !== undefined && fields[key] !== null)
      problems.push({ field: key, message: 'is only allowed with route_type ai' });
  }
  let normalised = target;
  if (target === null) {
    problems.push({ field: 'target', message: `is required for route_type ${fields.route_type}` });
  } else if (fields.route_type === 'sip_user' && !username.test(target)) {
    problems.push({ field: 'target', message: 'must be a SIP username' });
  } else if ((fields.route_type === 'queue' || fields.route_type === 'ivr') && !name.test(target)) {
    problems.push({
      field: 'target',
      message: `must be a ${fields.route_type} name: 1–64 letters, digits, "_", "." or "-"`,
    });
  } else if (fields.route_type === 'forward') {
    const parsed = parseE164(target);
    if (!parsed.ok) problems.push({ field: 'target', message: parsed.problem });
    else if (parsed.e164 === ownNumber)
      problems.push({ field: 'target', message: 'is the number itself (the call would loop)' });
    else normalised = parsed.e164;
  }
  if (problems.length > 0) return { ok: false, fields: problems };
  return {
    ok: true,
    route: {
      route_type: fields.route_type,
      target: normalised,
      ai_dialect: null,
      ai_agent_url: null,
      ai_options: null,
    },
  };
}

/**
 * The value of the number in Kamailio's htable `did` (the view did_htable computes the
 * same): `<route_type>|<target>`, numbers as E.164 digits without '+', and
 * `ai|<the DID's digits>` for the AI.
 */
export function kamailioRouteValue(number: string, route: Pick<NumberRoute, 'route_type' | 'target'>): string {
  const digits = (e164: string): string => e164.replace(/^\+/, '');
  switch (route.route_type) {
    case 'ai':
      return `ai|${digits(number)}`;
    case 'forward':
      return `forward|${digits(route.target ?? '')}`;
    default:
      return `${route.route_type}|${route.target ?? ''}`;
  }
}
