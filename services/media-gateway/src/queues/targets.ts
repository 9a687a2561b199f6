import type { Kysely } from 'kysely';
import type { Dialect } from '../../../common/src/ai-protocol/dialect';
import type { Database } from '../../../common/src/db/schema';
import type { AiAction } from '../../../common/src/ivr/menu';
import type { AiTarget } from '../calls/call';
import type { CallHandle } from '../calls/handle';
import type { AiTargetResolver } from './seats';

export interface RouteTargetsOptions {
  readonly db: Kysely<Database>;
  /** A number's AI settings, as an `ai|<digits>` call gets them (CallManager.resolveTarget). */
  readonly numberTarget: (digits: string) => Promise<AiTarget>;
  /** AI_PLATFORM_WS_URL (or the demo agent) and AI_DIALECT. */
  readonly defaultTarget: { readonly url: string; readonly dialect: Dialect };
  /** The built-in demo agent serves each dialect on its own path (/olib, /twilio, /binary). */
  readonly demoAgentUrl?: string;
}

/**
 * Where an AI agent of a queue (or an AI action) points: an AI route (its URL or the
 * default AI, its dialect, its options as custom parameters), a number's AI
 * settings, or a bare URL and dialect. Null: the route does not exist.
 */
export class RouteTargets implements AiTargetResolver {
  constructor(private readonly o: RouteTargetsOptions) {}

  async resolve(
    call: CallHandle,
    action: Omit<AiAction, 'type'>,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<AiTarget | null> {
    const custom: Record<string, string> = { route: call.parties.route || 'direct' };
    if (action.number) {
      const t = await this.o.numberTarget(action.number.replace(/^\+/, ''));
      return { ...t, customParameters: { ...t.customParameters, ...custom, ...extra } };
    }
    let url = this.o.defaultTarget.url;
    let dialect: Dialect = action.dialect ?? this.o.defaultTarget.dialect;
    if (action.ai_route) {
      const row = await this.o.db
        .selectFrom('ai_routes')
        .select(['name', 'agent_url', 'dialect', 'options'])
        .where('name', '=', action.ai_route)
        .executeTakeFirst();
      if (!row) return null;
      url = row.agent_url ?? url;
      dialect = row.dialect;
      custom['ai_route'] = row.name;
      for (const [k, v] of Object.entries(row.options ?? {}))
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') custom[k] = String(v);
    } else if (action.url) {
      url = action.url;
      dialect = action.dialect ?? 'olib';
    }
    const demo = this.o.demoAgentUrl;
    if (demo && url === demo) url = `${demo}/${dialect}`;
    return { url, dialect, customParameters: { ...custom, ...extra }, record: false };
  }
}
