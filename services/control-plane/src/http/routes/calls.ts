import type { CallControl } from '../../calls/control';
import {
  ACTIVE_CALL_PAGE_SCHEMA,
  ACTIVE_CALLS_QUERY_SCHEMA,
  CALL_COMMAND_PARAMS_SCHEMA,
  CALL_COMMAND_QUERY_SCHEMA,
  COMMAND_ACCEPTED_SCHEMA,
  COMMAND_RESULT_SCHEMA,
  HANGUP_BODY_SCHEMA,
  INITIATE_BODY_SCHEMA,
  INITIATED_SCHEMA,
  TRANSFER_BODY_SCHEMA,
  type CallCommandQuery,
  type HangupBody,
  type InitiateCallBody,
  type TransferBody,
  CALL_DETAIL_SCHEMA,
  CALL_LIST_SCHEMA,
  CALL_PARAMS_SCHEMA,
  LIST_CALLS_QUERY_SCHEMA,
  RECORDING_BODY_SCHEMA,
  type ActiveCallsQuery,
  type CallParams,
  type ListCallsQuery,
} from '../../calls/schemas';
import type { CallService } from '../../calls/service';
import { defineRoute, type Route } from '../route';

const TAG = 'calls';
const ERROR = { $ref: '#/components/schemas/Error' };
const notFound = { description: 'No such call (ERR_CALL_NOT_FOUND)', schema: ERROR };

/**
 * `POST /api/calls/{call_id}/<command>`: the command goes to the gateway that owns the
 * call and the answer is its result (or 202 with `?wait=false`).
 */
function commandRoute<B extends object | undefined = undefined>(
  control: CallControl,
  spec: {
    readonly command: 'hangup' | 'transfer' | 'hold' | 'resume';
    readonly summary: string;
    readonly description: string;
    readonly body?: object;
    readonly bodyExample?: Record<string, unknown>;
  },
): Route {
  return defineRoute<B, CallCommandQuery, CallParams>({
    method: 'post',
    path: `/api/calls/{call_id}/${spec.command}`,
    operationId: `${spec.command}Call`,
    summary: spec.summary,
    description: `${spec.description} Waits up to CALL_COMMAND_TIMEOUT_MS for the gateway; any control-plane replica reaches any gateway.`,
    tag: TAG,
    access: 'any-role',
    params: CALL_COMMAND_PARAMS_SCHEMA,
    query: CALL_COMMAND_QUERY_SCHEMA,
    ...(spec.body ? { body: spec.body, bodyExample: spec.bodyExample } : {}),
    responses: {
      200: { description: 'Done: what the gateway reported', schema: COMMAND_RESULT_SCHEMA },
      202: {
        description: 'Sent (`?wait=false`): follow the call with GET /api/calls/{call_id}',
        schema: COMMAND_ACCEPTED_SCHEMA,
      },
      404: notFound,
      409: {
        description:
          'The call has ended (ERR_CALL_NOT_ACTIVE), its gateway cannot do this (ERR_CALL_COMMAND_UNSUPPORTED), or the transfer failed (ERR_CALL_TRANSFER_FAILED)',
        schema: ERROR,
      },
      410: { description: "The call's gateway is gone (ERR_CALL_GATEWAY_LOST)", schema: ERROR },
      502: { description: 'The gateway failed the command (ERR_CALL_COMMAND_FAILED)', schema: ERROR },
      504: { description: 'The gateway did not answer in time (ERR_CALL_COMMAND_TIMEOUT)', schema: ERROR },
    },
    async handle({ params, query, body }) {
      const args = (body ?? {}) as Record<string, unknown>;
      const reply = await control.command(params.call_id, spec.command, args, query);
      return { status: reply.waited ? 200 : 202, body: reply.body };
    },
  });
}
const FILTERS =
  'Filters: from_number, to_number (digits match with or without "+"). Each item is the call as GET /api/calls/{call_id} shows it, ' +
  'without transcript, events and recording.';

/**
 * `/api/calls/*`: the calls the media gateways answered or placed, read from what they
 * record (tables calls and call_events), their recordings, and call control: new
 * outbound calls and commands to live calls (call control, services/control-plane/src/calls/control.ts).
 * `/api/calls/active` and `/api/calls/initiate` come before `/api/calls/{call_id}`.
 */
export function callRoutes(calls: CallService, control: CallControl): Route[] {
  return [
    defineRoute<undefined, ActiveCallsQuery>({
      method: 'get',
      path: '/api/calls/active',
      operationId: 'listActiveCalls',
      summary: 'List live calls',
      description:
        'Every call in progress, newest first: AI calls (kind `ai`: initiated, ringing or active) and the calls Kamailio only proxies ' +
        '(kind `proxied`: user to user, trunk to user, user to trunk), each once. duration_seconds is the time so far. ' +
        'Filters: from_number, to_number (digits match with or without "+"). When Kamailio does not answer, the AI calls are still listed and `kamailio` is `unavailable`.',
      tag: TAG,
      access: 'any-role',
      query: ACTIVE_CALLS_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of live calls', schema: ACTIVE_CALL_PAGE_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await control.active(query) };
      },
    }),
    defineRoute<InitiateCallBody>({
      method: 'post',
      path: '/api/calls/initiate',
      operationId: 'initiateCall',
      summary: 'Place an outbound AI call',
      description:
        'A media gateway places the call through Kamailio (a trunk, or a registered SIP user with to_user) and connects the AI when it is answered. ' +
        "The caller ID must be one of this system's numbers, or the from_user's own username (400 ERR_CALLER_ID_NOT_ALLOWED). " +
        'Status events go to webhook_url, signed (docs/webhooks.md); GET /api/calls/{call_id} shows the same states.',
      tag: TAG,
      access: 'any-role',
      body: INITIATE_BODY_SCHEMA,
      bodyExample: {
        from_number: '+15557770001',
        to_number: '+14155550123',
        webhook_url: 'https://example.com/call-status',
        ai: { url: 'wss://ai.example.com/agent', dialect: 'olib' },
        custom_parameters: { campaign: 'reminders' },
        record: false,
        ring_timeout_seconds: 30,
      },
      responses: {
        201: { description: 'The call, waiting for a gateway to place it', schema: INITIATED_SCHEMA },
        400: {
          description:
            'Invalid body (ERR_VALIDATION), a caller ID that is not ours (ERR_CALLER_ID_NOT_ALLOWED), or a webhook_url that may not be called (ERR_WEBHOOK_URL_INVALID)',
          schema: ERROR,
        },
      },
      async handle({ body }) {
        return { status: 201, body: await control.initiate(body) };
      },
    }),
    commandRoute<HangupBody>(control, {
      command: 'hangup',
      summary: 'Hang up a call',
      description:
        'AI calls: the gateway that owns the call sends the BYE and closes the AI stream (end reason `api hangup: <reason>`, ended_by `api`); ' +
        'a call not yet placed is cancelled. Calls Kamailio proxies (`kd-…` ids): Kamailio sends a BYE to both parties.',
      body: HANGUP_BODY_SCHEMA,
      bodyExample: { reason: 'operator request' },
    }),
    commandRoute<TransferBody>(control, {
      command: 'transfer',
      summary: 'Transfer an AI call',
      description:
        'Hands the caller to `target` (mode blind, bridged or warm). The result carries the SIP status of the transfer.',
      body: TRANSFER_BODY_SCHEMA,
      bodyExample: { mode: 'blind', target: '+14155550123', announce: 'A caller about an invoice.' },
    }),
    commandRoute(control, {
      command: 'hold',
      summary: 'Put an AI call on hold',
      description: 'The caller hears music on hold; the AI gets a `hold` event and its stream pauses.',
    }),
    commandRoute(control, {
      command: 'resume',
      summary: 'Resume an AI call on hold',
      description: 'The caller hears the AI again; the AI gets a `resume` event.',
    }),
    defineRoute<undefined, ListCallsQuery>({
      method: 'get',
      path: '/api/calls/',
      operationId: 'listCalls',
      summary: 'Call history',
      description: `Active and ended calls, newest first. ${FILTERS} Also state, started_after (inclusive) and started_before (exclusive).`,
      tag: TAG,
      access: 'any-role',
      query: LIST_CALLS_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of calls', schema: CALL_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await calls.list(query) };
      },
    }),
    defineRoute<undefined, undefined, CallParams>({
      method: 'get',
      path: '/api/calls/{call_id}',
      operationId: 'getCall',
      summary: 'Get a call with its transcript, events and recording',
      description:
        'transcript: what the AI sent as text, in order. events: everything the gateway recorded for the call (DTMF, hold, resume, AI reconnects, transfer, ...). ' +
        'recording: null when the call was not recorded, else whether it can be downloaded from download_url (and why not).',
      tag: TAG,
      access: 'any-role',
      params: CALL_PARAMS_SCHEMA,
      responses: { 200: { description: 'The call', schema: CALL_DETAIL_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await calls.get(params.call_id) };
      },
    }),
    defineRoute<undefined, undefined, CallParams>({
      method: 'get',
      path: '/api/calls/{call_id}/recording',
      operationId: 'downloadCallRecording',
      summary: "Download a call's recording",
      description:
        'A stereo 16-bit PCM WAV (8 kHz; left: the caller, right: the AI), as an attachment. Available once the call has ended.',
      tag: TAG,
      access: 'any-role',
      params: CALL_PARAMS_SCHEMA,
      responses: {
        200: { description: 'The WAV file', contentType: 'audio/wav', schema: RECORDING_BODY_SCHEMA },
        404: {
          description:
            'No such call (ERR_CALL_NOT_FOUND), or no recording to give (ERR_RECORDING_NOT_AVAILABLE, `reason`: not_recorded, in_progress or file_missing)',
          schema: ERROR,
        },
      },
      async handle({ params }) {
        const recording = await calls.recording(params.call_id);
        return {
          status: 200,
          stream: recording.stream,
          contentType: 'audio/wav',
          headers: {
            'Content-Length': String(recording.bytes),
            'Content-Disposition': `attachment; filename="${recording.filename}"`,
            // A recording of someone's voice: no shared cache keeps a copy.
            'Cache-Control': 'private, no-store',
          },
        };
      },
    }),
  ];
}
