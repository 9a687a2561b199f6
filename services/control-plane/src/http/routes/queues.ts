import {
  AGENT_LIST_SCHEMA,
  AGENT_PARAMS_SCHEMA,
  AGENT_SCHEMA,
  ALL_STATS_SCHEMA,
  ASSIGN_SCHEMA,
  CREATE_AGENT_SCHEMA,
  CREATE_QUEUE_SCHEMA,
  DELETED_SCHEMA,
  ENTRY_LIST_SCHEMA,
  ENTRY_PARAMS_SCHEMA,
  ENTRY_SCHEMA,
  MOVE_SCHEMA,
  PUT_VIP_SCHEMA,
  QUEUE_LIST_SCHEMA,
  QUEUE_PARAMS_SCHEMA,
  QUEUE_SCHEMA,
  STATS_QUERY_SCHEMA,
  STATS_SCHEMA,
  UPDATE_AGENT_SCHEMA,
  UPDATE_QUEUE_SCHEMA,
  VIP_LIST_SCHEMA,
  VIP_PARAMS_SCHEMA,
  VIP_SCHEMA,
  type AssignInput,
  type CreateAgentInput,
  type CreateQueueInput,
  type IdParams,
  type MoveInput,
  type PutVipInput,
  type QueueFields,
  type QueueParams,
  type StatsQuery,
  type UpdateAgentInput,
  type VipParams,
} from '../../queues/schemas';
import type { QueueService } from '../../queues/service';
import { LIST_QUERY_SCHEMA, type ListQuery } from '../page';
import { defineRoute, type Route } from '../route';

const TAG = 'queues';
const ERROR = { $ref: '#/components/schemas/Error' };
const queueNotFound = { description: 'No such queue (ERR_QUEUE_NOT_FOUND)', schema: ERROR };
const agentNotFound = {
  description: 'No such queue or agent (ERR_QUEUE_NOT_FOUND, ERR_QUEUE_AGENT_NOT_FOUND)',
  schema: ERROR,
};
const entryNotFound = {
  description: 'No such queue, or no such caller in it (ERR_QUEUE_NOT_FOUND, ERR_QUEUE_ENTRY_NOT_FOUND)',
  schema: ERROR,
};
const notWaiting = {
  description: 'The caller is offered or connected already (ERR_QUEUE_ENTRY_NOT_WAITING, `state`)',
  schema: ERROR,
};
const refused = {
  description:
    'Invalid body (ERR_VALIDATION) or an action naming something that does not exist (ERR_IVR_TARGET_NOT_FOUND)',
  schema: ERROR,
};

/** `/api/queues`: queues, agents, VIP numbers, the callers in them, statistics and operator moves. */
export function queueRoutes(queues: QueueService): Route[] {
  return [
    // Before /api/queues/{name} ("stats" is a reserved queue name).
    defineRoute<undefined, StatsQuery>({
      method: 'get',
      path: '/api/queues/stats',
      operationId: 'listQueueStats',
      summary: "Every queue's statistics",
      description: 'As GET /api/queues/{name}/stats, for all queues, in name order.',
      tag: TAG,
      access: 'any-role',
      query: STATS_QUERY_SCHEMA,
      responses: { 200: { description: 'Statistics', schema: ALL_STATS_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await queues.allStats(query.since) };
      },
    }),
    defineRoute<CreateQueueInput>({
      method: 'post',
      path: '/api/queues/',
      operationId: 'createQueue',
      summary: 'Add a queue',
      tag: TAG,
      access: 'any-role',
      body: CREATE_QUEUE_SCHEMA,
      bodyExample: {
        name: 'sales',
        description: 'Sales line',
        strategy: 'round_robin',
        ring_timeout_seconds: 15,
        wrap_up_seconds: 10,
        max_wait_seconds: 300,
        max_wait_action: { type: 'voicemail', ai_route: 'sales-ai' },
        max_length: 20,
        max_length_action: { type: 'busy' },
        hold_music: 'jazz.wav',
        announce_position: true,
        announce_wait: true,
        announce_interval_seconds: 45,
        leave_digit: '0',
        leave_action: { type: 'menu', menu: 'main' },
        service_level_seconds: 20,
      },
      responses: {
        201: { description: 'Created', schema: QUEUE_SCHEMA },
        400: refused,
        409: { description: 'Name taken (ERR_QUEUE_EXISTS)', schema: ERROR },
      },
      async handle({ body }) {
        return { status: 201, body: await queues.create(body) };
      },
    }),
    defineRoute<undefined, ListQuery>({
      method: 'get',
      path: '/api/queues/',
      operationId: 'listQueues',
      summary: 'List queues',
      description: 'In name order, each with the callers waiting now.',
      tag: TAG,
      access: 'any-role',
      query: LIST_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of queues', schema: QUEUE_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await queues.list(query) };
      },
    }),
    defineRoute<undefined, undefined, QueueParams>({
      method: 'get',
      path: '/api/queues/{name}',
      operationId: 'getQueue',
      summary: 'Get a queue',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      responses: { 200: { description: 'The queue', schema: QUEUE_SCHEMA }, 404: queueNotFound },
      async handle({ params }) {
        return { status: 200, body: await queues.get(params.name) };
      },
    }),
    defineRoute<QueueFields, undefined, QueueParams>({
      method: 'put',
      path: '/api/queues/{name}',
      operationId: 'updateQueue',
      summary: 'Update a queue',
      description: 'Changes only the fields given; the gateways apply them at their next dispatch.',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      body: UPDATE_QUEUE_SCHEMA,
      bodyExample: { max_wait_seconds: 120, max_wait_action: { type: 'ai', ai_route: 'sales-ai' }, hold_music: null },
      responses: { 200: { description: 'The updated queue', schema: QUEUE_SCHEMA }, 400: refused, 404: queueNotFound },
      async handle({ params, body }) {
        return { status: 200, body: await queues.update(params.name, body) };
      },
    }),
    defineRoute<undefined, undefined, QueueParams>({
      method: 'delete',
      path: '/api/queues/{name}',
      operationId: 'deleteQueue',
      summary: 'Delete a queue',
      description:
        'With its agents and VIP numbers. Refused (409 ERR_QUEUE_IN_USE, `used_by`) while a number, an AI route, a menu or another queue names it, or callers are in it.',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Deleted', schema: DELETED_SCHEMA },
        404: queueNotFound,
        409: { description: 'Still in use (ERR_QUEUE_IN_USE)', schema: ERROR },
      },
      async handle({ params }) {
        return { status: 200, body: await queues.remove(params.name) };
      },
    }),
    defineRoute<CreateAgentInput, undefined, QueueParams>({
      method: 'post',
      path: '/api/queues/{name}/agents',
      operationId: 'addQueueAgent',
      summary: 'Add an agent to a queue',
      description:
        'A SIP user (kind sip_user, username) or an AI route (kind ai, ai_route, optional max_concurrent_calls).',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      body: CREATE_AGENT_SCHEMA,
      bodyExample: { kind: 'sip_user', username: 'alice', position: 1, paused: false },
      responses: {
        201: { description: 'Added', schema: AGENT_SCHEMA },
        400: refused,
        404: queueNotFound,
        409: { description: 'Already an agent of the queue (ERR_QUEUE_AGENT_EXISTS)', schema: ERROR },
      },
      async handle({ params, body }) {
        return { status: 201, body: await queues.addAgent(params.name, body) };
      },
    }),
    defineRoute<undefined, ListQuery, QueueParams>({
      method: 'get',
      path: '/api/queues/{name}/agents',
      operationId: 'listQueueAgents',
      summary: "List a queue's agents",
      description: 'In position order.',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      query: LIST_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of agents', schema: AGENT_LIST_SCHEMA }, 404: queueNotFound },
      async handle({ params, query }) {
        return { status: 200, body: await queues.listAgents(params.name, query) };
      },
    }),
    defineRoute<UpdateAgentInput, undefined, IdParams>({
      method: 'put',
      path: '/api/queues/{name}/agents/{id}',
      operationId: 'updateQueueAgent',
      summary: 'Pause, resume, reorder or re-limit an agent',
      tag: TAG,
      access: 'any-role',
      params: AGENT_PARAMS_SCHEMA,
      body: UPDATE_AGENT_SCHEMA,
      bodyExample: { paused: true, position: 2 },
      responses: { 200: { description: 'The agent', schema: AGENT_SCHEMA }, 404: agentNotFound },
      async handle({ params, body }) {
        return { status: 200, body: await queues.updateAgent(params.name, params.id, body) };
      },
    }),
    defineRoute<undefined, undefined, IdParams>({
      method: 'delete',
      path: '/api/queues/{name}/agents/{id}',
      operationId: 'removeQueueAgent',
      summary: 'Remove an agent from a queue',
      description: 'A call the agent is on goes on.',
      tag: TAG,
      access: 'any-role',
      params: AGENT_PARAMS_SCHEMA,
      responses: { 200: { description: 'Removed', schema: DELETED_SCHEMA }, 404: agentNotFound },
      async handle({ params }) {
        return { status: 200, body: await queues.removeAgent(params.name, params.id) };
      },
    }),
    defineRoute<PutVipInput, undefined, QueueParams>({
      method: 'put',
      path: '/api/queues/{name}/vips',
      operationId: 'putQueueVip',
      summary: "Give a caller's number a priority in a queue",
      description:
        'Callers from this number enter the queue with this priority (priority_source vip). Setting it again updates it (200).',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      body: PUT_VIP_SCHEMA,
      bodyExample: { number: '+14155550123', priority: 50 },
      responses: {
        201: { description: 'Added', schema: VIP_SCHEMA },
        200: { description: 'Priority updated', schema: VIP_SCHEMA },
        404: queueNotFound,
      },
      async handle({ params, body }) {
        return queues.putVip(params.name, body);
      },
    }),
    defineRoute<undefined, ListQuery, QueueParams>({
      method: 'get',
      path: '/api/queues/{name}/vips',
      operationId: 'listQueueVips',
      summary: "List a queue's VIP numbers",
      description: 'Highest priority first.',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      query: LIST_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of VIP numbers', schema: VIP_LIST_SCHEMA }, 404: queueNotFound },
      async handle({ params, query }) {
        return { status: 200, body: await queues.listVips(params.name, query) };
      },
    }),
    defineRoute<undefined, undefined, VipParams>({
      method: 'delete',
      path: '/api/queues/{name}/vips/{number}',
      operationId: 'removeQueueVip',
      summary: 'Remove a VIP number from a queue',
      tag: TAG,
      access: 'any-role',
      params: VIP_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Removed', schema: DELETED_SCHEMA },
        404: { description: 'Not a VIP of the queue (ERR_QUEUE_VIP_NOT_FOUND)', schema: ERROR },
      },
      async handle({ params }) {
        return { status: 200, body: await queues.removeVip(params.name, params.number) };
      },
    }),
    defineRoute<undefined, ListQuery, QueueParams>({
      method: 'get',
      path: '/api/queues/{name}/entries',
      operationId: 'listQueueEntries',
      summary: 'The callers in a queue',
      description:
        'Waiting callers first, in the order they will be served (position 1 is next), then callers offered to or talking to an agent.',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      query: LIST_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of callers', schema: ENTRY_LIST_SCHEMA }, 404: queueNotFound },
      async handle({ params, query }) {
        return { status: 200, body: await queues.entries(params.name, query) };
      },
    }),
    defineRoute<undefined, StatsQuery, QueueParams>({
      method: 'get',
      path: '/api/queues/{name}/stats',
      operationId: 'getQueueStats',
      summary: "A queue's statistics",
      description:
        'waiting and longest_wait_seconds now; offered, answered, abandoned, overflowed, service_level (answered within service_level_seconds ÷ (answered + abandoned)) and avg_wait_seconds since `since` (default 24 hours ago).',
      tag: TAG,
      access: 'any-role',
      params: QUEUE_PARAMS_SCHEMA,
      query: STATS_QUERY_SCHEMA,
      responses: { 200: { description: 'Statistics', schema: STATS_SCHEMA }, 404: queueNotFound },
      async handle({ params, query }) {
        return { status: 200, body: await queues.stats(params.name, query.since) };
      },
    }),
    defineRoute<undefined, undefined, IdParams>({
      method: 'post',
      path: '/api/queues/{name}/entries/{id}/front',
      operationId: 'moveQueueEntryToFront',
      summary: 'Move a waiting caller to the front',
      description:
        'The caller gets the highest priority anyone waiting has and goes before everyone of that priority (priority_source api); the gateways dispatch at once.',
      tag: TAG,
      access: 'any-role',
      params: ENTRY_PARAMS_SCHEMA,
      responses: { 200: { description: 'The caller', schema: ENTRY_SCHEMA }, 404: entryNotFound, 409: notWaiting },
      async handle({ params }) {
        return { status: 200, body: await queues.front(params.name, params.id) };
      },
    }),
    defineRoute<MoveInput, undefined, IdParams>({
      method: 'post',
      path: '/api/queues/{name}/entries/{id}/move',
      operationId: 'moveQueueEntry',
      summary: 'Move a waiting caller to another queue',
      description:
        "The caller keeps the time it entered (so it does not lose its place in time) and its priority unless one is given; its gateway switches to the new queue's music and rules.",
      tag: TAG,
      access: 'any-role',
      params: ENTRY_PARAMS_SCHEMA,
      body: MOVE_SCHEMA,
      bodyExample: { queue: 'support', priority: 10 },
      responses: {
        200: { description: 'The caller, in its new queue', schema: ENTRY_SCHEMA },
        400: refused,
        404: entryNotFound,
        409: notWaiting,
      },
      async handle({ params, body }) {
        return { status: 200, body: await queues.move(params.name, params.id, body) };
      },
    }),
    defineRoute<AssignInput, undefined, IdParams>({
      method: 'post',
      path: '/api/queues/{name}/entries/{id}/assign',
      operationId: 'assignQueueEntry',
      summary: 'Offer a waiting caller to one agent',
      description:
        'The caller is offered to this agent of the queue (even a paused one); the gateway holding the caller rings the agent, and puts the caller back in line, in the same place, if the agent does not answer.',
      tag: TAG,
      access: 'any-role',
      params: ENTRY_PARAMS_SCHEMA,
      body: ASSIGN_SCHEMA,
      bodyExample: { agent_id: 3 },
      responses: {
        200: { description: 'The caller, offered', schema: ENTRY_SCHEMA },
        404: { description: 'No such queue, caller or agent', schema: ERROR },
        409: notWaiting,
      },
      async handle({ params, body }) {
        return { status: 200, body: await queues.assign(params.name, params.id, body) };
      },
    }),
  ];
}
