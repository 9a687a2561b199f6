import { AppError, ERRORS } from '../../../common/src/errors';
import { RelayUnavailableError } from '../../../common/src/media-relay/errors';
import { SipError } from '../../../common/src/sip/errors';
import { DeadlineError } from '../health/deadline';
import { KamailioReplyError } from '../kamailio/control';
import { KamailioRpcError, KamailioUnavailableError } from '../../../common/src/kamailio/rpc';
import { NumberExistsError, UnknownTrunkError } from '../numbers/store';
import { DuplicateUsernamesError } from '../sip-users/store';
import { TrunkExistsError } from '../trunks/store';
import { toAppError } from './errors';

function answer(err: unknown): { status: number; code: string; message: string } {
  const e = toAppError(err);
  return { status: e.status, code: e.code, message: e.message };
}

describe('toAppError', () => {
  test('an AppError → itself', () => {
    const err = new AppError('ERR_CALL_NOT_FOUND', 'no call c1');
    expect(toAppError(err)).toBe(err);
  });

  test('Kamailio down → 503 ERR_KAMAILIO_UNAVAILABLE; a JSON-RPC error or a reply of the wrong shape → 502 ERR_KAMAILIO_BAD_REPLY; the message names the method', () => {
    expect(answer(new KamailioUnavailableError('htable.delete', 'ECONNREFUSED'))).toEqual({
      status: 503,
      code: 'ERR_KAMAILIO_UNAVAILABLE',
      message: 'htable.delete: Kamailio did not answer (ECONNREFUSED)',
    });
    expect(answer(new KamailioRpcError('ul.lookup', 500, 'Internal error'))).toEqual({
      status: 502,
      code: 'ERR_KAMAILIO_BAD_REPLY',
      message: 'ul.lookup: 500 Internal error',
    });
    expect(answer(new KamailioReplyError('core.version', 'expected a string'))).toEqual({
      status: 502,
      code: 'ERR_KAMAILIO_BAD_REPLY',
      message: 'core.version: unexpected reply (expected a string)',
    });
  });

  test("a store's conflict the service did not answer → its catalogue code with the store's message", () => {
    expect(answer(new TrunkExistsError('t1'))).toMatchObject({ status: 409, code: 'ERR_TRUNK_EXISTS' });
    expect(answer(new NumberExistsError('+15550100'))).toMatchObject({ status: 409, code: 'ERR_NUMBER_EXISTS' });
    expect(answer(new DuplicateUsernamesError(['alice']))).toMatchObject({ status: 409, code: 'ERR_SIP_USER_EXISTS' });
    expect(answer(new UnknownTrunkError('t9'))).toEqual({
      status: 400,
      code: 'ERR_VALIDATION',
      message: 'no trunk t9',
    });
  });

  test('a deadline, a coded error of another layer, a TypeError or a string → 500 ERR_INTERNAL, cause not shown', () => {
    const internal = { status: 500, code: 'ERR_INTERNAL', message: ERRORS.ERR_INTERNAL.message };
    expect(answer(new DeadlineError('PostgreSQL', 2000))).toEqual(internal);
    expect(answer(new RelayUnavailableError('rtpengine', 'ping', 'timeout', 'no reply in 1000 ms'))).toEqual(internal);
    expect(answer(new SipError('ERR_SIP_TRANSPORT', 'refused', 503))).toEqual(internal);
    expect(answer(new TypeError("Cannot read properties of undefined (reading 'x')"))).toEqual(internal);
    expect(answer('thrown string')).toEqual(internal);
  });

  test('foreign errors wrapped at the boundary: a bad percent-encoding, body-parser, PostgreSQL unreachable', () => {
    expect(answer(new URIError('URI malformed'))).toMatchObject({ status: 400, code: 'ERR_VALIDATION' });
    const parser = (type: string, status: number): Error => Object.assign(new Error(type), { type, status });
    expect(answer(parser('entity.parse.failed', 400))).toMatchObject({ status: 400, code: 'ERR_BAD_JSON' });
    expect(answer(parser('entity.too.large', 413))).toMatchObject({ status: 413, code: 'ERR_PAYLOAD_TOO_LARGE' });
    expect(answer(parser('request.aborted', 400))).toEqual({
      status: 400,
      code: 'ERR_BAD_REQUEST',
      message: 'request.aborted',
    });
    const pg = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(answer(pg)).toMatchObject({ status: 503, code: 'ERR_DATABASE_UNAVAILABLE' });
  });
});
