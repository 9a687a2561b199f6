import {
  BLOCK_NUMBER_SCHEMA,
  BLOCKED_LIST_SCHEMA,
  BLOCKED_NUMBER_SCHEMA,
  CREATE_NUMBER_SCHEMA,
  DELETED_NUMBER_SCHEMA,
  LIST_BLOCKED_QUERY_SCHEMA,
  LIST_NUMBERS_QUERY_SCHEMA,
  NUMBER_LIST_SCHEMA,
  NUMBER_PARAMS_SCHEMA,
  NUMBER_SCHEMA,
  UNBLOCKED_NUMBER_SCHEMA,
  UPDATE_NUMBER_SCHEMA,
  type BlockNumberInput,
  type CreateNumberInput,
  type ListBlockedQuery,
  type ListNumbersQuery,
  type NumberParams,
  type UpdateNumberInput,
} from '../../numbers/schemas';
import type { BlocklistService, NumberService } from '../../numbers/service';
import { defineRoute, type Route } from '../route';

const TAG = 'numbers';
const ERROR = { $ref: '#/components/schemas/Error' };
const notFound = { description: 'No such number (ERR_NUMBER_NOT_FOUND)', schema: ERROR };
const PATH_NUMBER = 'In the path, the number is +14155550123, %2B14155550123 or 14155550123.';

/**
 * `/api/numbers/*`: the seed's blocklist endpoints and the DID routes. The blocklist
 * routes come first: `/api/numbers/blocked` would otherwise match `/api/numbers/{number}`.
 */
export function numberRoutes(numbers: NumberService, blocklist: BlocklistService): Route[] {
  return [
    defineRoute<BlockNumberInput>({
      method: 'post',
      path: '/api/numbers/block',
      operationId: 'blockNumber',
      summary: 'Block a number',
      description:
        'Kamailio refuses calls from it (inbound, 603) and to it (outbound, 403) from the next call on, and counts them. ' +
        'Blocking a blocked number updates its reason (200).',
      tag: TAG,
      access: 'any-role',
      body: BLOCK_NUMBER_SCHEMA,
      bodyExample: { number: '+14155550123', reason: 'Robocaller' },
      responses: {
        201: { description: 'Blocked', schema: BLOCKED_NUMBER_SCHEMA },
        200: { description: 'Was blocked already; reason updated', schema: BLOCKED_NUMBER_SCHEMA },
      },
      async handle({ body }) {
        return blocklist.block(body);
      },
    }),
    defineRoute<undefined, undefined, NumberParams>({
      method: 'delete',
      path: '/api/numbers/block/{number}',
      operationId: 'unblockNumber',
      summary: 'Unblock a number',
      description: `Takes effect from the next call. ${PATH_NUMBER}`,
      tag: TAG,
      access: 'any-role',
      params: NUMBER_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Unblocked', schema: UNBLOCKED_NUMBER_SCHEMA },
        404: { description: 'Not blocked (ERR_NUMBER_NOT_BLOCKED)', schema: ERROR },
      },
      async handle({ params }) {
        return { status: 200, body: await blocklist.unblock(params.number) };
      },
    }),
    defineRoute<undefined, ListBlockedQuery>({
      method: 'get',
      path: '/api/numbers/blocked',
      operationId: 'listBlockedNumbers',
      summary: 'List blocked numbers',
      description: 'Newest first, each with the calls Kamailio refused for it (htable blockhits).',
      tag: TAG,
      access: 'any-role',
      query: LIST_BLOCKED_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of blocked numbers', schema: BLOCKED_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await blocklist.list(query) };
      },
    }),
    defineRoute<CreateNumberInput>({
      method: 'post',
      path: '/api/numbers/',
      operationId: 'createNumber',
      summary: 'Add a number (DID) and its route',
      description:
        'route_type sip_user (target: a SIP user), ai (ai_dialect, ai_agent_url, ai_options), queue / ivr (target: a name) or forward ' +
        '(target: an E.164 number, called out through the trunks). Kamailio routes the number from the next call on. ' +
        'max_concurrent_calls limits its calls at once; callers over it wait in `queue` (which must exist) with queue_priority, or get busy.',
      tag: TAG,
      access: 'any-role',
      body: CREATE_NUMBER_SCHEMA,
      bodyExample: {
        number: '+14155550123',
        route_type: 'ai',
        ai_dialect: 'olib',
        ai_agent_url: 'wss://agent.example.com/stream',
        ai_options: { greeting: 'Hello, how can I help?', voice: 'alloy' },
        trunk_id: 'skyetel-1',
        recording_enabled: false,
        enabled: true,
        description: 'Main line',
        max_concurrent_calls: 10,
        queue_priority: 0,
      },
      responses: {
        201: { description: 'Created', schema: NUMBER_SCHEMA },
        409: { description: 'Number exists (ERR_NUMBER_EXISTS)', schema: ERROR },
      },
      async handle({ body }) {
        return { status: 201, body: await numbers.create(body) };
      },
    }),
    defineRoute<undefined, ListNumbersQuery>({
      method: 'get',
      path: '/api/numbers/',
      operationId: 'listNumbers',
      summary: 'List numbers',
      description: 'In number order. Filters: route_type, trunk_id, enabled, search (digits the number contains).',
      tag: TAG,
      access: 'any-role',
      query: LIST_NUMBERS_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of numbers', schema: NUMBER_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await numbers.list(query) };
      },
    }),
    defineRoute<undefined, undefined, NumberParams>({
      method: 'get',
      path: '/api/numbers/{number}',
      operationId: 'getNumber',
      summary: 'Get a number',
      description: PATH_NUMBER,
      tag: TAG,
      access: 'any-role',
      params: NUMBER_PARAMS_SCHEMA,
      responses: { 200: { description: 'The number', schema: NUMBER_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await numbers.get(params.number) };
      },
    }),
    defineRoute<UpdateNumberInput, undefined, NumberParams>({
      method: 'put',
      path: '/api/numbers/{number}',
      operationId: 'updateNumber',
      summary: "Update a number's route or settings",
      description: `Changes only the fields given; a new route_type replaces the whole route. ${PATH_NUMBER}`,
      tag: TAG,
      access: 'any-role',
      params: NUMBER_PARAMS_SCHEMA,
      body: UPDATE_NUMBER_SCHEMA,
      bodyExample: { route_type: 'forward', target: '+14155550199', description: 'After hours' },
      responses: { 200: { description: 'The updated number', schema: NUMBER_SCHEMA }, 404: notFound },
      async handle({ params, body }) {
        return { status: 200, body: await numbers.update(params.number, body) };
      },
    }),
    defineRoute<undefined, undefined, NumberParams>({
      method: 'delete',
      path: '/api/numbers/{number}',
      operationId: 'deleteNumber',
      summary: 'Delete a number',
      description: `Kamailio answers calls to it with 404 from the next call on. ${PATH_NUMBER}`,
      tag: TAG,
      access: 'any-role',
      params: NUMBER_PARAMS_SCHEMA,
      responses: { 200: { description: 'Deleted', schema: DELETED_NUMBER_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await numbers.remove(params.number) };
      },
    }),
  ];
}
