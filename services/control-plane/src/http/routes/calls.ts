import {
  ACTIVE_CALLS_QUERY_SCHEMA,
  CALL_DETAIL_SCHEMA,
  CALL_LIST_SCHEMA,
  CALL_PARAMS_SCHEMA,
  LIST_CALLS_QUERY_SCHEMA,
  RECORDING_BODY_SCHEMA,
  type ActiveCallsQuery,
  type CallParams,
  type ListCallsQuery,
} from '../../calls/schemas';
import type { CallHistory } from '../../calls/history';
import { HISTORY_LIST_SCHEMA, HISTORY_QUERY_SCHEMA, type HistoryQuery } from '../../calls/history-schemas';
import type { CallService } from '../../calls/service';
import { defineRoute, type Route } from '../route';

const TAG = 'calls';
const ERROR = { $ref: '#/components/schemas/Error' };
const notFound = { description: 'No such call (ERR_CALL_NOT_FOUND)', schema: ERROR };
const FILTERS =
  'Filters: from_number, to_number (digits match with or without "+"). Each item is the call as GET /api/calls/{call_id} shows it, ' +
  'without transcript, events and recording.';

/**
 * `/api/calls/*`: the calls the media gateways answered, read from what they record
 * (tables calls and call_events), and their recordings. The seed's call-control
 * endpoints (initiate, hangup, transfer, hold, resume) are not here: they need the
 * gateways to take commands. `/api/calls/active` comes before `/api/calls/{call_id}`.
 */
export function callRoutes(calls: CallService): Route[] {
  return [
    defineRoute<undefined, ActiveCallsQuery>({
      method: 'get',
      path: '/api/calls/active',
      operationId: 'listActiveCalls',
      summary: 'List active calls',
      description: `Calls in progress, newest first; duration_seconds is the time so far. ${FILTERS}`,
      tag: TAG,
      access: 'any-role',
      query: ACTIVE_CALLS_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of active calls', schema: CALL_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await calls.active(query) };
      },
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

/**
 * `GET /api/calls/history`: every finished call, AI and proxied, with costs. Mount it
 * before callRoutes: `/api/calls/{call_id}` would take "history" as a call id.
 */
export function callHistoryRoutes(history: CallHistory): Route[] {
  return [
    defineRoute<undefined, HistoryQuery>({
      method: 'get',
      path: '/api/calls/history',
      operationId: 'listCallHistory',
      summary: 'Call history with costs',
      description:
        'Finished calls, newest first: the AI calls the gateways handled and the calls Kamailio only proxied (user to user, trunks), ' +
        "one item per SIP Call-ID, with duration, billable seconds and a cost estimate from the trunk's rates. " +
        'Filters: number (either party), user, trunk, direction, disposition, kind, from (inclusive) and to (exclusive) on started_at.',
      tag: TAG,
      access: 'any-role',
      query: HISTORY_QUERY_SCHEMA,
      responses: {
        200: { description: 'One page of the history', schema: HISTORY_LIST_SCHEMA },
        400: { description: 'A query parameter is invalid, or `to` is before `from` (ERR_VALIDATION)', schema: ERROR },
      },
      async handle({ query }) {
        return { status: 200, body: await history.list(query) };
      },
    }),
  ];
}
