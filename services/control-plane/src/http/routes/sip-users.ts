import type { ErrorObject } from 'ajv';
import { AppError, type FieldError } from '../../../../common/src/errors';
import {
  BULK_CREATE_RESULT_SCHEMA,
  BULK_CREATE_SIP_USERS_SCHEMA,
  CLIENT_CONFIG_SCHEMA,
  CREATE_SIP_USER_SCHEMA,
  DELETED_SIP_USER_SCHEMA,
  LIST_SIP_USERS_QUERY_SCHEMA,
  MAX_BULK_USERS,
  SIP_USER_ID_PARAMS_SCHEMA,
  SIP_USER_LIST_SCHEMA,
  SIP_USER_SCHEMA,
  SIP_USER_STATS_SCHEMA,
  UPDATE_SIP_USER_SCHEMA,
  type BulkCreateSipUsersInput,
  type CreateSipUserInput,
  type ListSipUsersQuery,
  type SipUserIdParams,
  type UpdateSipUserInput,
} from '../../sip-users/schemas';
import { duplicateRows, type BulkRowError, type SipUserService } from '../../sip-users/service';
import { defineRoute, type Route } from '../route';
import { describeError, fieldPath, validationError } from '../validation';

const TAG = 'sip-users';

/**
 * A bulk body that fails its schema: problems inside `users[i]` are reported per
 * row (with in-batch duplicates alongside), anything else per field.
 */
export function bulkValidationError(errors: readonly ErrorObject[], body: unknown): AppError {
  const rows: BulkRowError[] = [];
  const fields: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const { segments, message } = describeError(e);
    const [top, index] = segments;
    if (top === 'users' && index !== undefined && /^\d+$/.test(index)) {
      const row = {
        index: Number(index),
        field: fieldPath(segments.slice(2)),
        code: 'ERR_VALIDATION' as const,
        message,
      };
      const key = `${row.index}\u0000${row.field}\u0000${message}`;
      if (!seen.has(key)) rows.push(row);
      seen.add(key);
    } else {
      fields.push({ field: fieldPath(segments), message });
    }
  }
  if (fields.length > 0) return validationError('body', fields);
  const users = (body as { users?: unknown }).users;
  if (Array.isArray(users)) rows.push(...duplicateRows(users as Array<{ username?: unknown }>));
  rows.sort((a, b) => a.index - b.index || a.field.localeCompare(b.field));
  const total = Array.isArray(users) ? users.length : 0;
  const bad = new Set(rows.map((r) => r.index)).size;
  return new AppError('ERR_VALIDATION', `${bad} of ${total} users are invalid; nothing was created`, { errors: rows });
}

const notFound = {
  description: 'No such SIP user (ERR_SIP_USER_NOT_FOUND)',
  schema: { $ref: '#/components/schemas/Error' },
};
const kamailioDown = {
  description: 'Kamailio did not answer (ERR_KAMAILIO_UNAVAILABLE)',
  schema: { $ref: '#/components/schemas/Error' },
};

/** The seed's `/api/sip-users/*` endpoints; admin tokens only. */
export function sipUserRoutes(users: SipUserService): Route[] {
  return [
    defineRoute<CreateSipUserInput>({
      method: 'post',
      path: '/api/sip-users/',
      operationId: 'createSipUser',
      summary: 'Create a SIP user',
      description:
        'Stores HA1/HA1B only. Without `password` a strong one is generated. The response carries `credentials` with the password: the only time it is shown.',
      tag: TAG,
      access: 'admin',
      body: CREATE_SIP_USER_SCHEMA,
      bodyExample: {
        username: 'alice',
        password: 'correct-horse-battery',
        display_name: 'Alice Example',
        max_concurrent_calls: 3,
        enabled: true,
        email: 'alice@example.com',
        notes: 'Front desk',
      },
      responses: {
        201: { description: 'Created; `credentials.password` is shown this once', schema: SIP_USER_SCHEMA },
        409: { description: 'Username taken (ERR_SIP_USER_EXISTS)', schema: { $ref: '#/components/schemas/Error' } },
      },
      async handle({ body }) {
        return { status: 201, body: await users.create(body) };
      },
    }),
    defineRoute<undefined, ListSipUsersQuery>({
      method: 'get',
      path: '/api/sip-users/',
      operationId: 'listSipUsers',
      summary: 'List SIP users',
      description: 'Ordered by id. `search` matches username or display_name (case-insensitive substring).',
      tag: TAG,
      access: 'admin',
      query: LIST_SIP_USERS_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of users', schema: SIP_USER_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await users.list(query) };
      },
    }),
    defineRoute<BulkCreateSipUsersInput>({
      method: 'post',
      path: '/api/sip-users/bulk-create',
      operationId: 'bulkCreateSipUsers',
      summary: `Create up to ${MAX_BULK_USERS} SIP users at once`,
      description:
        'All or nothing, in one transaction. Any invalid row (400) or taken username, in the table or earlier in the batch (409), creates nothing; `errors` lists every bad row as {index, field, code, message}.',
      tag: TAG,
      access: 'admin',
      body: BULK_CREATE_SIP_USERS_SCHEMA,
      bodyExample: {
        users: [
          {
            username: 'alice',
            password: 'correct-horse-battery',
            display_name: 'Alice Example',
            email: 'alice@example.com',
            notes: 'Front desk',
          },
          { username: 'bob', display_name: 'Bob Example' },
        ],
      },
      invalidBody: bulkValidationError,
      responses: {
        201: {
          description: 'All created; each user carries its one-time `credentials`',
          schema: BULK_CREATE_RESULT_SCHEMA,
        },
        409: {
          description: 'Taken usernames (ERR_SIP_USER_EXISTS); `errors` lists the rows',
          schema: { $ref: '#/components/schemas/Error' },
        },
      },
      async handle({ body }) {
        const created = await users.bulkCreate(body.users);
        return { status: 201, body: { created: created.length, users: created } };
      },
    }),
    defineRoute<undefined, undefined, SipUserIdParams>({
      method: 'get',
      path: '/api/sip-users/{id}',
      operationId: 'getSipUser',
      summary: 'Get a SIP user',
      tag: TAG,
      access: 'admin',
      params: SIP_USER_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'The user, with its lock state', schema: SIP_USER_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await users.get(params.id) };
      },
    }),
    defineRoute<UpdateSipUserInput, undefined, SipUserIdParams>({
      method: 'put',
      path: '/api/sip-users/{id}',
      operationId: 'updateSipUser',
      summary: 'Update a SIP user',
      description:
        'Changes only the fields given. `password` or `"reset_password": true` sets a new password, returned once in `credentials`. ' +
        'Disabling the user or changing its password also removes its current registrations (`warning` says so if Kamailio did not answer).',
      tag: TAG,
      access: 'admin',
      params: SIP_USER_ID_PARAMS_SCHEMA,
      body: UPDATE_SIP_USER_SCHEMA,
      bodyExample: {
        password: 'correct-horse-battery',
        display_name: 'Alice Example',
        max_concurrent_calls: 5,
        email: 'alice@example.com',
        notes: 'Moved to sales',
      },
      responses: { 200: { description: 'The updated user', schema: SIP_USER_SCHEMA }, 404: notFound },
      async handle({ params, body }) {
        return { status: 200, body: await users.update(params.id, body) };
      },
    }),
    defineRoute<undefined, undefined, SipUserIdParams>({
      method: 'delete',
      path: '/api/sip-users/{id}',
      operationId: 'deleteSipUser',
      summary: 'Delete a SIP user',
      description:
        'Deletes the subscriber row (auth fails from the next request) and removes its registrations at once.',
      tag: TAG,
      access: 'admin',
      params: SIP_USER_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'Deleted', schema: DELETED_SIP_USER_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await users.remove(params.id) };
      },
    }),
    defineRoute<undefined, undefined, SipUserIdParams>({
      method: 'post',
      path: '/api/sip-users/{id}/unlock',
      operationId: 'unlockSipUser',
      summary: 'Unlock a SIP user locked out after failed logins',
      description:
        'Clears the lockout and the failed-attempt count in Kamailio; answers the user with its new lock state.',
      tag: TAG,
      access: 'admin',
      params: SIP_USER_ID_PARAMS_SCHEMA,
      responses: {
        200: { description: 'The user, unlocked', schema: SIP_USER_SCHEMA },
        404: notFound,
        503: kamailioDown,
      },
      async handle({ params }) {
        return { status: 200, body: await users.unlock(params.id) };
      },
    }),
    defineRoute<undefined, undefined, SipUserIdParams>({
      method: 'get',
      path: '/api/sip-users/{id}/credentials',
      operationId: 'getSipUserClientConfig',
      summary: 'SIP client configuration for a user',
      description: 'What to enter in a softphone. `password` is always null: it was shown once when set.',
      tag: TAG,
      access: 'admin',
      params: SIP_USER_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'Client configuration', schema: CLIENT_CONFIG_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await users.clientConfig(params.id) };
      },
    }),
    defineRoute<undefined, undefined, SipUserIdParams>({
      method: 'get',
      path: '/api/sip-users/{id}/stats',
      operationId: 'getSipUserStats',
      summary: 'Registrations, active calls and call totals of a user',
      tag: TAG,
      access: 'admin',
      params: SIP_USER_ID_PARAMS_SCHEMA,
      responses: { 200: { description: 'Statistics', schema: SIP_USER_STATS_SCHEMA }, 404: notFound },
      async handle({ params }) {
        return { status: 200, body: await users.stats(params.id) };
      },
    }),
  ];
}
