import type { Kysely, Selectable } from 'kysely';
import { DIALECTS } from '../../../../common/src/ai-protocol/dialect';
import type { Database, ListenForkScope, ListenForksTable } from '../../../../common/src/db/schema';
import { AppError } from '../../../../common/src/errors';
import { defineRoute, type Route } from '../route';

const TAG = 'listen-forks';
const ERROR = { $ref: '#/components/schemas/Error' };
const notFound = { description: 'No such rule (ERR_LISTEN_FORK_NOT_FOUND)', schema: ERROR };
const invalid = { description: 'A body or id that cannot be one (ERR_VALIDATION naming the field)', schema: ERROR };
const exists = { description: 'A rule for this scope and value exists (ERR_LISTEN_FORK_EXISTS)', schema: ERROR };

/** What `value` must look like for each scope (the same shapes the users, numbers and trunks APIs accept). */
const VALUE_PATTERNS: Record<ListenForkScope, RegExp> = {
  user: /^[A-Za-z0-9._-]{1,64}$/,
  number: /^\+[1-9][0-9]{6,14}$/,
  trunk: /^[A-Za-z0-9_-]{1,48}$/,
};

const fields = {
  scope: {
    enum: ['user', 'number', 'trunk'],
    description: 'What `value` names: a SIP username, an E.164 number or a trunk_id.',
  },
  value: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._+-]+$' },
  ai_url: {
    type: ['string', 'null'],
    maxLength: 2048,
    pattern: '^wss?://[^\\s]+$',
    description: 'ws:// or wss:// URL of the listening AI; null: the platform default (AI_PLATFORM_WS_URL).',
  },
  ai_dialect: { enum: [...DIALECTS] },
  custom_parameters: {
    type: 'object',
    maxProperties: 32,
    propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
    additionalProperties: { type: 'string', maxLength: 1024 },
    description: 'Handed to the AI in the start frame.',
  },
  enabled: { type: 'boolean' },
} as const;

const CREATE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['scope', 'value'],
  properties: fields,
} as const;
const UPDATE_SCHEMA = { type: 'object', additionalProperties: false, minProperties: 1, properties: fields } as const;
const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } },
} as const;
const RULE_SCHEMA = {
  type: 'object',
  required: [
    'id',
    'scope',
    'value',
    'ai_url',
    'ai_dialect',
    'custom_parameters',
    'enabled',
    'created_at',
    'updated_at',
  ],
  properties: {
    id: { type: 'integer' },
    ...fields,
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
} as const;
const LIST_SCHEMA = {
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: RULE_SCHEMA } },
};

interface RuleInput {
  scope?: ListenForkScope;
  value?: string;
  ai_url?: string | null;
  ai_dialect?: (typeof DIALECTS)[number];
  custom_parameters?: Record<string, string>;
  enabled?: boolean;
}
interface IdParams {
  id: string;
}

function view(r: Selectable<ListenForksTable>): Record<string, unknown> {
  return {
    id: Number(r.id),
    scope: r.scope,
    value: r.value,
    ai_url: r.ai_url,
    ai_dialect: r.ai_dialect,
    custom_parameters: r.custom_parameters,
    enabled: r.enabled,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

function checkValue(scope: ListenForkScope, value: string): void {
  if (!VALUE_PATTERNS[scope].test(value))
    throw new AppError('ERR_VALIDATION', `value is not a ${scope === 'number' ? 'E.164 number' : scope} name`, {
      fields: [{ field: 'value', message: `must be a ${scope === 'number' ? 'E.164 number' : `${scope} name`}` }],
    });
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}

/** `/api/listen-forks`: which calls between people are copied, listen-only, to an AI; admin tokens only. */
export function listenForkRoutes(db: Kysely<Database>): Route[] {
  const find = async (id: string): Promise<Selectable<ListenForksTable>> => {
    const row = await db.selectFrom('listen_forks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new AppError('ERR_LISTEN_FORK_NOT_FOUND', `no listen-only fork rule ${id}`);
    return row;
  };
  return [
    defineRoute<RuleInput>({
      method: 'post',
      path: '/api/listen-forks',
      operationId: 'createListenFork',
      summary: 'Copy matching calls between people to a listening AI',
      description:
        'Calls that do not go through a media gateway (user to user, trunk to user) whose caller or callee is this user or number, or that use this trunk, are copied with both parties on labelled tracks (docs/listen-forks.md). The call itself is never touched.',
      tag: TAG,
      access: 'admin',
      body: CREATE_SCHEMA,
      bodyExample: {
        scope: 'trunk',
        value: 'skyetel-1',
        ai_url: 'wss://listener.example/stream',
        ai_dialect: 'olib',
        custom_parameters: { team: 'quality' },
        enabled: true,
      },
      responses: { 201: { description: 'Created', schema: RULE_SCHEMA }, 400: invalid, 409: exists },
      async handle({ body }) {
        const scope = body.scope as ListenForkScope;
        checkValue(scope, body.value as string);
        try {
          const row = await db
            .insertInto('listen_forks')
            .values({
              scope,
              value: body.value as string,
              ai_url: body.ai_url ?? null,
              ai_dialect: body.ai_dialect,
              custom_parameters: JSON.stringify(body.custom_parameters ?? {}),
              enabled: body.enabled,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          return { status: 201, body: view(row) };
        } catch (err) {
          if (isUniqueViolation(err))
            throw new AppError('ERR_LISTEN_FORK_EXISTS', `a rule for ${scope} ${String(body.value)} exists`);
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/listen-forks',
      operationId: 'listListenForks',
      summary: 'Listen-only fork rules',
      tag: TAG,
      access: 'admin',
      responses: { 200: { description: 'Every rule, oldest first', schema: LIST_SCHEMA } },
      async handle() {
        const rows = await db.selectFrom('listen_forks').selectAll().orderBy('id').execute();
        return { status: 200, body: { items: rows.map(view) } };
      },
    }),
    defineRoute<undefined, undefined, IdParams>({
      method: 'get',
      path: '/api/listen-forks/{id}',
      operationId: 'getListenFork',
      summary: 'One listen-only fork rule',
      tag: TAG,
      access: 'admin',
      params: ID_PARAMS,
      responses: { 200: { description: 'The rule', schema: RULE_SCHEMA }, 400: invalid, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: view(await find(params.id)) };
      },
    }),
    defineRoute<RuleInput, undefined, IdParams>({
      method: 'put',
      path: '/api/listen-forks/{id}',
      operationId: 'updateListenFork',
      summary: 'Change a listen-only fork rule',
      description:
        'Fields left out keep their value. Calls already forked keep their fork; the change applies to new calls.',
      tag: TAG,
      access: 'admin',
      params: ID_PARAMS,
      body: UPDATE_SCHEMA,
      bodyExample: { ai_url: null, ai_dialect: 'twilio', enabled: false },
      responses: {
        200: { description: 'The rule as changed', schema: RULE_SCHEMA },
        400: invalid,
        404: notFound,
        409: exists,
      },
      async handle({ params, body }) {
        const current = await find(params.id);
        checkValue(body.scope ?? current.scope, body.value ?? current.value);
        try {
          const row = await db
            .updateTable('listen_forks')
            .set({
              ...(body.scope !== undefined ? { scope: body.scope } : {}),
              ...(body.value !== undefined ? { value: body.value } : {}),
              ...(body.ai_url !== undefined ? { ai_url: body.ai_url } : {}),
              ...(body.ai_dialect !== undefined ? { ai_dialect: body.ai_dialect } : {}),
              ...(body.custom_parameters !== undefined
                ? { custom_parameters: JSON.stringify(body.custom_parameters) }
                : {}),
              ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
              updated_at: new Date(),
            })
            .where('id', '=', params.id)
            .returningAll()
            .executeTakeFirst();
          if (!row) throw new AppError('ERR_LISTEN_FORK_NOT_FOUND', `no listen-only fork rule ${params.id}`);
          return { status: 200, body: view(row) };
        } catch (err) {
          if (isUniqueViolation(err))
            throw new AppError('ERR_LISTEN_FORK_EXISTS', 'a rule for that scope and value exists');
          throw err;
        }
      },
    }),
    defineRoute<undefined, undefined, IdParams>({
      method: 'delete',
      path: '/api/listen-forks/{id}',
      operationId: 'deleteListenFork',
      summary: 'Delete a listen-only fork rule',
      description: 'New calls are no longer forked; forks running now end with their calls.',
      tag: TAG,
      access: 'admin',
      params: ID_PARAMS,
      responses: {
        200: { description: 'Deleted', schema: { type: 'object', properties: { deleted: { type: 'boolean' } } } },
        400: invalid,
        404: notFound,
      },
      async handle({ params }) {
        const res = await db.deleteFrom('listen_forks').where('id', '=', params.id).executeTakeFirst();
        if (res.numDeletedRows === 0n)
          throw new AppError('ERR_LISTEN_FORK_NOT_FOUND', `no listen-only fork rule ${params.id}`);
        return { status: 200, body: { deleted: true } };
      },
    }),
  ];
}
