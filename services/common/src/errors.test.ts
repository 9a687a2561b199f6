import { readFileSync } from 'node:fs';
import { API_DOCS, renderErrorTable, withErrorTable } from '../../../scripts/error-docs';
import { AppError, CatalogueError, CodedError, ERRORS, isCodedError } from './errors';
import { RelayUnavailableError } from './media-relay/errors';
import { SipError, SipParseError } from './sip/errors';

const TEST_ERRORS = {
  ERR_TEST_ONE: 'the first thing went wrong',
  ERR_TEST_TWO: 'the second thing went wrong',
} as const;
class TestError extends CatalogueError(TEST_ERRORS) {}

describe('CodedError', () => {
  test('code, message, details and cause; the name is the subclass', () => {
    const cause = new Error('socket closed');
    const err = new CodedError('ERR_X', 'x failed', { attempt: 2 }, { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'CodedError',
      code: 'ERR_X',
      message: 'x failed',
      details: { attempt: 2 },
      cause,
    });
    expect(new SipParseError('bad Via')).toMatchObject({ name: 'SipParseError', code: 'ERR_SIP_PARSE' });
    expect(isCodedError(new RelayUnavailableError('rtpengine', 'ping', 'timeout', 'no reply'))).toBe(true);
    expect(isCodedError(new TypeError('a bug'))).toBe(false);
  });

  test('a catalogue class → the catalogue message unless one is given', () => {
    const err = new TestError('ERR_TEST_TWO');
    expect(err).toBeInstanceOf(CodedError);
    expect(err).toMatchObject({ name: 'TestError', code: 'ERR_TEST_TWO', message: 'the second thing went wrong' });
    expect(new TestError('ERR_TEST_ONE', 'step 3 failed', { step: 3 })).toMatchObject({
      message: 'step 3 failed',
      details: { step: 3 },
    });
  });

  test("SIP errors → the thrower's status, else the catalogue's, else none", () => {
    expect(new SipParseError('bad CSeq').status).toBe(400);
    expect(new SipParseError('unsupported version', 505).status).toBe(505);
    expect(new SipError('ERR_SIP_TIMEOUT').status).toBe(408);
    expect(new SipError('ERR_SIP_CALL_GONE', 'cancelled').status).toBe(487);
    expect(new SipError('ERR_SIP_TRANSPORT', 'refused', 503).status).toBe(503);
    expect(new SipError('ERR_SIP_INVALID_STATE').status).toBeUndefined();
  });

  test('AppError → status and default message from the HTTP catalogue, details in the body', () => {
    const err = new AppError('ERR_TRUNK_EXISTS', undefined, {
      fields: [{ field: 'trunk_id', message: 'already exists' }],
    });
    expect(err).toBeInstanceOf(CodedError);
    expect(err.status).toBe(409);
    expect(err.toJSON()).toEqual({
      error: {
        code: 'ERR_TRUNK_EXISTS',
        message: ERRORS.ERR_TRUNK_EXISTS.message,
        fields: [{ field: 'trunk_id', message: 'already exists' }],
      },
    });
  });
});

describe('docs/api.md', () => {
  test('the error table matches the catalogue (regenerate with node dist/scripts/error-docs.js)', () => {
    const docs = readFileSync(API_DOCS, 'utf8');
    expect(docs).toBe(withErrorTable(docs));
  });

  test('every catalogue code has one row', () => {
    const rows = renderErrorTable().split('\n').slice(2, -1);
    expect(rows.map((r) => /^\| `(\w+)` \|/.exec(r)?.[1])).toEqual(Object.keys(ERRORS));
  });
});
