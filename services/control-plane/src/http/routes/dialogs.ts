import { AppError } from '../../../../common/src/errors';
import type { KamailioDialogs } from '../../kamailio/dialogs';
import { defineRoute, type Route } from '../route';

const TAG = 'calls';
const ERROR = { $ref: '#/components/schemas/Error' };

const DIALOG_SCHEMA = {
  type: 'object',
  properties: {
    dialog_id: { type: 'string', description: "<h_entry>.<h_id> in Kamailio's dialog table" },
    call_id: { type: 'string' },
    state: { type: 'string', enum: ['unconfirmed', 'early', 'answered_no_ack', 'confirmed', 'ended'] },
    from_uri: { type: 'string' },
    to_uri: { type: 'string' },
    caller: { type: ['string', 'null'] },
    callee: { type: ['string', 'null'] },
    trunk_id: { type: ['string', 'null'] },
    started_at: { type: ['string', 'null'], format: 'date-time' },
    duration_seconds: { type: 'integer', minimum: 0 },
    expires_at: { type: ['string', 'null'], format: 'date-time' },
    end_reason: {
      type: ['string', 'null'],
      description:
        'What the CDR will say if the dialog ends now: no_ack (answer never ACKed through the proxy), no_bye (ends without a BYE through the proxy), bye.',
    },
  },
  required: [
    'dialog_id',
    'call_id',
    'state',
    'from_uri',
    'to_uri',
    'caller',
    'callee',
    'trunk_id',
    'started_at',
    'duration_seconds',
    'expires_at',
    'end_reason',
  ],
} as const;

const LIST_SCHEMA = {
  type: 'object',
  properties: { items: { type: 'array', items: DIALOG_SCHEMA }, total: { type: 'integer', minimum: 0 } },
  required: ['items', 'total'],
} as const;

const ENDED_SCHEMA = {
  type: 'object',
  properties: { dialog_id: { type: 'string' }, ended: { type: 'boolean' } },
  required: ['dialog_id', 'ended'],
} as const;

const PARAMS_SCHEMA = {
  type: 'object',
  properties: { dialog_id: { type: 'string', pattern: '^[0-9]{1,10}\\.[0-9]{1,10}$', maxLength: 21 } },
  required: ['dialog_id'],
  additionalProperties: false,
} as const;

/**
 * `/api/dialogs`: the calls Kamailio itself tracks (user to user, trunk to user, and
 * the proxy's side of AI calls): what holds users' and trunks' call slots. Operators
 * end a stuck one here; Kamailio also ends dialogs whose parties stopped answering
 * its in-dialog keepalives.
 */
export function dialogRoutes(dialogs: KamailioDialogs): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/dialogs',
      operationId: 'listDialogs',
      summary: "List Kamailio's dialogs",
      description:
        'Every dialog Kamailio tracks, with its state, parties, trunk and the CDR reason it would end with now.',
      tag: TAG,
      access: 'any-role',
      responses: { 200: { description: 'The dialogs', schema: LIST_SCHEMA } },
      async handle() {
        const items = await dialogs.list();
        return { status: 200, body: { items, total: items.length } };
      },
    }),
    defineRoute<undefined, undefined, { dialog_id: string }>({
      method: 'delete',
      path: '/api/dialogs/{dialog_id}',
      operationId: 'endDialog',
      summary: 'End a dialog',
      description: 'Kamailio sends a BYE to both parties, frees the call slots and writes the CDR.',
      tag: TAG,
      access: 'any-role',
      params: PARAMS_SCHEMA,
      responses: {
        200: { description: 'Ended', schema: ENDED_SCHEMA },
        404: { description: 'No such dialog (ERR_DIALOG_NOT_FOUND)', schema: ERROR },
      },
      async handle({ params }) {
        if (!(await dialogs.end(params.dialog_id)))
          throw new AppError('ERR_DIALOG_NOT_FOUND', `no dialog ${params.dialog_id}`);
        return { status: 200, body: { dialog_id: params.dialog_id, ended: true } };
      },
    }),
  ];
}
