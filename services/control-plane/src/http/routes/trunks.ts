import {
  CREATE_TRUNK_SCHEMA,
  DELETED_TRUNK_SCHEMA,
  LIST_TRUNKS_QUERY_SCHEMA,
  TRUNK_CREDENTIALS_SCHEMA,
  TRUNK_ID_PARAMS_SCHEMA,
  TRUNK_LIST_SCHEMA,
  TRUNK_SCHEMA,
  TRUNK_STATUS_SCHEMA,
  TRUNK_SUMMARY_SCHEMA,
  UPDATE_TRUNK_SCHEMA,
  type CreateTrunkInput,
  type ListTrunksQuery,
  type TrunkIdParams,
  type UpdateTrunkInput,
} from '../../trunks/schemas';
import type { TrunkService } from '../../trunks/service';
import { defineRoute, type Route } from '../route';

const TAG = 'trunks';
const ERROR = { $ref: '#/components/schemas/Error' };
const notFound = { description: 'No such trunk (ERR_TRUNK_NOT_FOUND)', schema: ERROR };
const SYNC_NOTE =
  "The change and Kamailio's rows (dispatcher set 1, address group 1, uacreg) are written in one transaction, then Kamailio reloads what changed; " +
  'if it cannot be told, the change stands and `warning` says so.';

/** The seed's `/api/trunks/*` endpoints; operator and admin tokens. */
export function trunkRoutes(trunks: TrunkService): Route[] {
  return [
    defineRoute<CreateTrunkInput>({
      method: 'post',
      path: '/api/trunks/',
      operationId: 'createTrunk',
      summary: 'Create a SIP trunk (any wholesale provider)',
      description: `Outbound-capable active trunks become dispatcher destinations, inbound-capable ones allowlist entries, and requires_registration a uac registration. The password is stored (Kamailio answers the provider's challenges with it) and shown only by GET …/credentials. ${SYNC_NOTE}`,
      tag: TAG,
      access: 'any-role',
      body: CREATE_TRUNK_SCHEMA,
      bodyExample: {
        trunk_id: 'skyetel-1',
        name: 'Skyetel East',
        provider: 'skyetel',
        proxy_address: 'sip.skyetel.example',
        proxy_port: 5060,
        transport: 'UDP',
        username: 'acct42',
        password: 'correct-horse-battery',
        realm: 'skyetel.example',
        preferred_codecs: ['PCMU', 'PCMA'],
        allowed_ips: ['192.0.2.10', '198.51.100.0/24'],
        max_concurrent_calls: 100,
        calls_per_second_limit: 10,
        priority: 10,
        weight: 1,
        requires_registration: true,
      },
      responses: {
        201: { description: 'Created', schema: TRUNK_SCHEMA },
        409: { description: 'trunk_id taken (ERR_TRUNK_EXISTS)', schema: ERROR },
      },
      async handle({ body }) {
        return { status: 201, body: await trunks.create(body) };
      },
    }),
    defineRoute<undefined, ListTrunksQuery>({
      method: 'get',
      path: '/api/trunks/',
      operationId: 'listTrunks',
      summary: 'List trunks',
      description: 'In priority order, then by trunk_id. Filters: provider (exact), status.',
      tag: TAG,
      access: 'any-role',
      query: LIST_TRUNKS_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of trunks', schema: TRUNK_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await trunks.list(query) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/trunks/stats/summary',
      operationId: 'getTrunkSummary',
      summary: 'Overall trunk statistics',
      description:
        'Trunks by status and provider, registrations, calls through trunks now (Kamailio) and answered today (CDRs).',
      tag: TAG,
      access: 'any-role',
      responses: { 200: { description: 'Summary', schema: TRUNK_SUMMARY_SCHEMA } },
      async handle() {
        return { status: 200, body: await trunks.summary() };
      },
    }),
    defineRoute<undefined, undefined, TrunkIdParams>({
      method: 'get',
      path: '/api/trunks/{trunk_id}',
      operationId: 'getTrunk',
      summary: 'Get a trunk',
      tag: TAG,
      access: 'any-role',
      params: TRUNK_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'The trunk', schema: TRUNK_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await trunks.get(params.trunk_id) };
      },
    }),
    defineRoute<UpdateTrunkInput, undefined, TrunkIdParams>({
      method: 'put',
      path: '/api/trunks/{trunk_id}',
      operationId: 'updateTrunk',
      summary: 'Update a trunk',
      description: `Changes only the fields given. ${SYNC_NOTE}`,
      tag: TAG,
      access: 'any-role',
      params: TRUNK_ID_PARAMS_SCHEMA,
      body: UPDATE_TRUNK_SCHEMA,
      bodyExample: {
        name: 'Skyetel West',
        provider: 'skyetel',
        proxy_address: 'sip2.skyetel.example',
        username: 'acct43',
        password: 'correct-horse-battery',
        realm: 'skyetel.example',
      },
      responses: { 200: { description: 'The updated trunk', schema: TRUNK_SCHEMA }, 404: notFound },
      async handle({ params, body }) {
        return { status: 200, body: await trunks.update(params.trunk_id, body) };
      },
    }),
    defineRoute<undefined, undefined, TrunkIdParams>({
      method: 'delete',
      path: '/api/trunks/{trunk_id}',
      operationId: 'deleteTrunk',
      summary: 'Delete a trunk',
      description:
        'Removes it and its Kamailio rows; calls in progress continue. Numbers that named it keep working with trunk_id null.',
      tag: TAG,
      access: 'any-role',
      params: TRUNK_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'Deleted', schema: DELETED_TRUNK_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await trunks.remove(params.trunk_id) };
      },
    }),
    defineRoute<undefined, undefined, TrunkIdParams>({
      method: 'get',
      path: '/api/trunks/{trunk_id}/status',
      operationId: 'getTrunkStatus',
      summary: 'Trunk status and statistics',
      description:
        'OPTIONS reachability (dispatcher.list), registration (uac.reg_info), active calls (dialog profile `trunk`), call attempts in the last minute, answered calls and the last error (acc / acc_cdrs). ' +
        'When Kamailio does not answer, its parts are null and `kamailio_error` says why.',
      tag: TAG,
      access: 'any-role',
      params: TRUNK_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'Status', schema: TRUNK_STATUS_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await trunks.status(params.trunk_id) };
      },
    }),
    defineRoute<undefined, undefined, TrunkIdParams>({
      method: 'post',
      path: '/api/trunks/{trunk_id}/activate',
      operationId: 'activateTrunk',
      summary: 'Activate a trunk',
      description:
        'Restores its dispatcher destination, allowlist entries and registration. Activating an active trunk changes nothing.',
      tag: TAG,
      access: 'any-role',
      params: TRUNK_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'The trunk, active', schema: TRUNK_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await trunks.activate(params.trunk_id) };
      },
    }),
    defineRoute<undefined, undefined, TrunkIdParams>({
      method: 'post',
      path: '/api/trunks/{trunk_id}/deactivate',
      operationId: 'deactivateTrunk',
      summary: 'Deactivate (drain) a trunk',
      description:
        'No new calls: its dispatcher destination, allowlist entries and registration are removed. Calls in progress are in-dialog and continue.',
      tag: TAG,
      access: 'any-role',
      params: TRUNK_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'The trunk, inactive', schema: TRUNK_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await trunks.deactivate(params.trunk_id) };
      },
    }),
    defineRoute<undefined, undefined, TrunkIdParams>({
      method: 'get',
      path: '/api/trunks/{trunk_id}/credentials',
      operationId: 'getTrunkCredentials',
      summary: 'SIP client configuration of a trunk, with its password',
      description: 'The only endpoint that returns the trunk password.',
      tag: TAG,
      access: 'any-role',
      params: TRUNK_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'Credentials', schema: TRUNK_CREDENTIALS_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return {
          status: 200,
          body: await trunks.credentials(params.trunk_id),
          headers: { 'cache-control': 'no-store' },
        };
      },
    }),
  ];
}
