import {
  SEND_SMS_BODY_SCHEMA,
  SMS_DETAIL_SCHEMA,
  SMS_HISTORY_QUERY_SCHEMA,
  SMS_LIST_SCHEMA,
  SMS_PARAMS_SCHEMA,
  SMS_SCHEMA,
} from '../../sms/schemas';
import type { SendSmsBody, SmsHistoryQuery, SmsService } from '../../sms/service';
import { defineRoute, type Route } from '../route';

const TAG = 'sms';
const ERROR = { $ref: '#/components/schemas/Error' };

/**
 * `/api/sms/*`: send (queued, then sent as SIP MESSAGE through a trunk by the queue
 * workers), history, and one message with its status history. `history` comes before
 * `{message_id}`.
 */
export function smsRoutes(sms: SmsService): Route[] {
  return [
    defineRoute<SendSmsBody>({
      method: 'post',
      path: '/api/sms/send',
      operationId: 'sendSms',
      summary: 'Send an SMS',
      description:
        "Stores the message as queued and answers 202; a queue worker sends it as a SIP MESSAGE through the number's trunk (or the active trunks in priority order), " +
        'retrying 408/480/5xx/timeouts with exponential backoff. Follow it with GET /api/sms/{message_id}. With an Idempotency-Key header (or idempotency_key), ' +
        "a repeated request answers 200 with the first request's message and sends nothing again.",
      tag: TAG,
      access: 'any-role',
      body: SEND_SMS_BODY_SCHEMA,
      bodyExample: {
        from_number: '+14155550100',
        to_number: '+14155550123',
        message: 'Your table is ready.',
        idempotency_key: 'table-42',
      },
      responses: {
        202: { description: 'Queued', schema: SMS_SCHEMA },
        200: { description: 'Already queued under this idempotency key', schema: SMS_SCHEMA },
        400: {
          description:
            'Invalid body: a number that is not E.164 (ERR_VALIDATION naming the field), or from_number not ours (ERR_SMS_FROM_NOT_OURS)',
          schema: ERROR,
        },
        403: { description: 'to_number is blocked (ERR_NUMBER_BLOCKED)', schema: ERROR },
        409: {
          description: 'The idempotency key was used with another body (ERR_IDEMPOTENCY_KEY_REUSED)',
          schema: ERROR,
        },
      },
      async handle({ body, header }) {
        const { created, view } = await sms.send(body, header?.('Idempotency-Key'));
        return created
          ? { status: 202, body: view }
          : { status: 200, body: view, headers: { 'Idempotent-Replayed': 'true' } };
      },
    }),
    defineRoute<undefined, SmsHistoryQuery>({
      method: 'get',
      path: '/api/sms/history',
      operationId: 'smsHistory',
      summary: 'SMS history',
      description:
        'Messages in and out, newest first. Filters: number (from or to), direction, status, since (inclusive), until (exclusive).',
      tag: TAG,
      access: 'any-role',
      query: SMS_HISTORY_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of messages', schema: SMS_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await sms.history(query) };
      },
    }),
    defineRoute<undefined, undefined, { message_id: string }>({
      method: 'get',
      path: '/api/sms/{message_id}',
      operationId: 'getSms',
      summary: 'One message with its status history',
      description: 'Status, segments, trunk, the last SIP answer and every status change with its time.',
      tag: TAG,
      access: 'any-role',
      params: SMS_PARAMS_SCHEMA,
      responses: {
        200: { description: 'The message', schema: SMS_DETAIL_SCHEMA },
        404: { description: 'No such message (ERR_SMS_NOT_FOUND)', schema: ERROR },
      },
      async handle({ params }) {
        return { status: 200, body: await sms.get(params.message_id) };
      },
    }),
  ];
}
