import {
  ACCOUNT_PARAMS_SCHEMA,
  ACCOUNT_SOURCE_PARAMS_SCHEMA,
  CLEARED_SCHEMA,
  SECURITY_LOCKS_SCHEMA,
  SOURCE_PARAMS_SCHEMA,
  type AccountParams,
  type AccountSourceParams,
  type SourceParams,
} from '../../security/schemas';
import type { SecurityService } from '../../security/service';
import { defineRoute, type Route } from '../route';

const TAG = 'security';
const ERROR = { $ref: '#/components/schemas/Error' };
const invalid = {
  description: 'A username or source address that cannot be one (ERR_VALIDATION naming the field)',
  schema: ERROR,
};
const kamailioDown = { description: 'Kamailio did not answer (ERR_KAMAILIO_UNAVAILABLE)', schema: ERROR };

/** `/api/security/locks*`: the brute-force locks and source bans Kamailio holds; admin tokens only. */
export function securityRoutes(security: SecurityService): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/security/locks',
      operationId: 'listSecurityLocks',
      summary: 'Brute-force locks and banned sources',
      description:
        'Accounts locked account-wide (distributed attacks), sources locked out of one account, and banned sources (flood, brute force, credential stuffing) with when each ends.',
      tag: TAG,
      access: 'admin',
      responses: { 200: { description: 'Every lock and ban', schema: SECURITY_LOCKS_SCHEMA }, 503: kamailioDown },
      async handle() {
        return { status: 200, body: await security.locks() };
      },
    }),
    defineRoute<undefined, undefined, AccountParams>({
      method: 'delete',
      path: '/api/security/locks/accounts/{username}',
      operationId: 'clearAccountLock',
      summary: 'Lift an account-wide lock',
      description:
        'Sources locked out of this account stay locked (see the next endpoint, or POST /api/sip-users/{id}/unlock for everything).',
      tag: TAG,
      access: 'admin',
      params: ACCOUNT_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Lifted, or there was no lock (`cleared` says which)', schema: CLEARED_SCHEMA },
        400: invalid,
        503: kamailioDown,
      },
      async handle({ params }) {
        return { status: 200, body: await security.clearAccount(params.username) };
      },
    }),
    defineRoute<undefined, undefined, AccountSourceParams>({
      method: 'delete',
      path: '/api/security/locks/accounts/{username}/sources/{source}',
      operationId: 'clearAccountSourceLock',
      summary: 'Let one source try an account again',
      tag: TAG,
      access: 'admin',
      params: ACCOUNT_SOURCE_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Lifted, or there was no lock (`cleared` says which)', schema: CLEARED_SCHEMA },
        400: invalid,
        503: kamailioDown,
      },
      async handle({ params }) {
        return { status: 200, body: await security.clearAccountSource(params.username, params.source) };
      },
    }),
    defineRoute<undefined, undefined, SourceParams>({
      method: 'delete',
      path: '/api/security/locks/sources/{source}',
      operationId: 'clearSourceBan',
      summary: 'Lift a source ban',
      description: 'Kamailio answers the source again at once and forgets its failure counts.',
      tag: TAG,
      access: 'admin',
      params: SOURCE_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Lifted, or it was not banned (`cleared` says which)', schema: CLEARED_SCHEMA },
        400: invalid,
        503: kamailioDown,
      },
      async handle({ params }) {
        return { status: 200, body: await security.clearSource(params.source) };
      },
    }),
  ];
}
