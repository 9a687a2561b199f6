import {
  AI_ROUTE_LIST_SCHEMA,
  AI_ROUTE_SCHEMA,
  CREATE_AI_ROUTE_SCHEMA,
  UPDATE_AI_ROUTE_SCHEMA,
  type AiRouteFields,
  type CreateAiRouteInput,
} from '../../ai-routes/schemas';
import type { AiRouteService } from '../../ai-routes/service';
import { DELETED_SCHEMA, MENU_PARAMS_SCHEMA, type NameParams } from '../../ivr/schemas';
import { LIST_QUERY_SCHEMA, type ListQuery } from '../page';
import { defineRoute, type Route } from '../route';

const TAG = 'ai-routes';
const ERROR = { $ref: '#/components/schemas/Error' };
const notFound = { description: 'No such AI route (ERR_AI_ROUTE_NOT_FOUND)', schema: ERROR };
const refused = {
  description:
    'Invalid body (ERR_VALIDATION), an agent_url that cannot be used (ERR_AI_URL_INVALID) or a queue that does not exist (ERR_IVR_TARGET_NOT_FOUND)',
  schema: ERROR,
};

/** `/api/ai-routes`: named AIs with their URL, dialect, options, concurrency limit and overflow queue. */
export function aiRouteRoutes(routes: AiRouteService): Route[] {
  return [
    defineRoute<CreateAiRouteInput>({
      method: 'post',
      path: '/api/ai-routes/',
      operationId: 'createAiRoute',
      summary: 'Add an AI route',
      description:
        'A named AI for menus, queues and agents: agent_url (null: the default AI), dialect, options, max_concurrent_calls (callers over it wait in `queue`, or get busy).',
      tag: TAG,
      access: 'any-role',
      body: CREATE_AI_ROUTE_SCHEMA,
      bodyExample: {
        name: 'sales-ai',
        agent_url: 'wss://agent.example.com/sales',
        dialect: 'olib',
        options: { greeting: 'Sales, how can I help?' },
        max_concurrent_calls: 2,
      },
      responses: {
        201: { description: 'Created', schema: AI_ROUTE_SCHEMA },
        400: refused,
        409: { description: 'Name taken (ERR_AI_ROUTE_EXISTS)', schema: ERROR },
      },
      async handle({ body }) {
        return { status: 201, body: await routes.create(body) };
      },
    }),
    defineRoute<undefined, ListQuery>({
      method: 'get',
      path: '/api/ai-routes/',
      operationId: 'listAiRoutes',
      summary: 'List AI routes',
      description: 'In name order, each with the calls holding one of its seats now (active_calls).',
      tag: TAG,
      access: 'any-role',
      query: LIST_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of AI routes', schema: AI_ROUTE_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await routes.list(query) };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'get',
      path: '/api/ai-routes/{name}',
      operationId: 'getAiRoute',
      summary: 'Get an AI route',
      tag: TAG,
      access: 'any-role',
      params: MENU_PARAMS_SCHEMA,
      responses: { 200: { description: 'The AI route', schema: AI_ROUTE_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await routes.get(params.name) };
      },
    }),
    defineRoute<AiRouteFields, undefined, NameParams>({
      method: 'put',
      path: '/api/ai-routes/{name}',
      operationId: 'updateAiRoute',
      summary: 'Update an AI route',
      description: 'Changes only the fields given; applies from the next call.',
      tag: TAG,
      access: 'any-role',
      params: MENU_PARAMS_SCHEMA,
      body: UPDATE_AI_ROUTE_SCHEMA,
      bodyExample: { max_concurrent_calls: 5, queue: null },
      responses: { 200: { description: 'The updated AI route', schema: AI_ROUTE_SCHEMA }, 400: refused, 404: notFound },
      async handle({ params, body }) {
        return { status: 200, body: await routes.update(params.name, body) };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'delete',
      path: '/api/ai-routes/{name}',
      operationId: 'deleteAiRoute',
      summary: 'Delete an AI route',
      description:
        'Refused (409 ERR_AI_ROUTE_IN_USE, `used_by`) while a menu, a queue action or a queue agent names it.',
      tag: TAG,
      access: 'any-role',
      params: MENU_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Deleted', schema: DELETED_SCHEMA },
        404: notFound,
        409: { description: 'Still in use (ERR_AI_ROUTE_IN_USE)', schema: ERROR },
      },
      async handle({ params }) {
        return { status: 200, body: await routes.remove(params.name) };
      },
    }),
  ];
}
