import { AppError } from '../../../common/src/errors';
import {
  BULK_CREATE_SIP_USERS_SCHEMA,
  CREATE_SIP_USER_SCHEMA,
  LIST_SIP_USERS_QUERY_SCHEMA,
  SIP_USER_ID_PARAMS_SCHEMA,
  UPDATE_SIP_USER_SCHEMA,
} from '../sip-users/schemas';
import { bulkValidationError } from './routes/sip-users';
import { fieldPath, SchemaValidator } from './validation';

const validator = new SchemaValidator();
const createUser = validator.compile<Record<string, unknown>>('body', CREATE_SIP_USER_SCHEMA);
const updateUser = validator.compile<Record<string, unknown>>('body', UPDATE_SIP_USER_SCHEMA);
const listQuery = validator.compile<Record<string, unknown>>('query', LIST_SIP_USERS_QUERY_SCHEMA);
const idParams = validator.compile<{ id: number }>('params', SIP_USER_ID_PARAMS_SCHEMA);
const bulk = validator.compile('body', BULK_CREATE_SIP_USERS_SCHEMA, bulkValidationError);

function failure(check: () => unknown): { code: string; message: string; details: Record<string, unknown> } {
  try {
    check();
  } catch (err) {
    if (err instanceof AppError) return { code: err.code, message: err.message, details: err.details ?? {} };
    throw err;
  }
  throw new Error('expected a validation error');
}

describe('request validation messages', () => {
  test('max_concurrent_calls: -1 → field max_concurrent_calls "must be >= 0"', () => {
    const f = failure(() => createUser({ username: 'alice', max_concurrent_calls: -1 }));
    expect(f.code).toBe('ERR_VALIDATION');
    expect(f.message).toBe('request body is invalid: max_concurrent_calls must be >= 0');
    expect(f.details['fields']).toEqual([{ field: 'max_concurrent_calls', message: 'must be >= 0' }]);
  });

  test('several problems → one entry per field (allErrors)', () => {
    const f = failure(() => createUser({ max_concurrent_calls: 1001, email: 'nope', surprise: true }));
    expect(f.details['fields']).toEqual(
      expect.arrayContaining([
        { field: 'username', message: 'is required' },
        { field: 'max_concurrent_calls', message: 'must be <= 1000' },
        { field: 'email', message: 'must match format "email"' },
        { field: 'surprise', message: 'is not allowed' },
      ]),
    );
    expect(f.details['fields']).toHaveLength(4);
  });

  test('nullable field given a number → "must be string or null"', () => {
    const f = failure(() => createUser({ username: 'alice', display_name: 42 }));
    expect(f.details['fields']).toEqual([{ field: 'display_name', message: 'must be string or null' }]);
  });

  test('valid create body → defaults filled in (max_concurrent_calls 3, enabled true)', () => {
    expect(createUser({ username: 'alice' })).toEqual({ username: 'alice', max_concurrent_calls: 3, enabled: true });
  });

  test('JSON bodies are not coerced: "3" is not an integer', () => {
    const f = failure(() => createUser({ username: 'alice', max_concurrent_calls: '3' }));
    expect(f.details['fields']).toEqual([{ field: 'max_concurrent_calls', message: 'must be integer' }]);
  });

  test('empty update → "must name at least one field to change"', () => {
    const f = failure(() => updateUser({}));
    expect(f.details['fields']).toEqual([{ field: '(root)', message: 'must name at least one field to change' }]);
  });

  test('query strings are coerced: page="2", enabled="false" → 2, false, with per_page default', () => {
    expect(listQuery({ page: '2', enabled: 'false' })).toEqual({ page: 2, enabled: false, per_page: 50 });
  });

  test('query per_page=500 → "query string is invalid: per_page must be <= 200"', () => {
    expect(failure(() => listQuery({ per_page: '500' })).message).toBe('query string is invalid: per_page must be <= 200');
  });

  test('path id "12" → 12; "abc" → field id must be integer', () => {
    expect(idParams({ id: '12' })).toEqual({ id: 12 });
    expect(failure(() => idParams({ id: 'abc' })).details['fields']).toEqual([{ field: 'id', message: 'must be integer' }]);
  });

  test('bulk: problems inside users[i] → per-row errors sorted by index, duplicates included', () => {
    const f = failure(() =>
      bulk({ users: [{ username: 'alice' }, { username: 'bob', enabled: 'no' }, { username: 'alice', max_concurrent_calls: -5 }] }),
    );
    expect(f.code).toBe('ERR_VALIDATION');
    expect(f.message).toBe('2 of 3 users are invalid; nothing was created');
    expect(f.details['errors']).toEqual([
      { index: 1, field: 'enabled', code: 'ERR_VALIDATION', message: 'must be boolean' },
      { index: 2, field: 'max_concurrent_calls', code: 'ERR_VALIDATION', message: 'must be >= 0' },
      { index: 2, field: 'username', code: 'ERR_SIP_USER_EXISTS', message: 'duplicates users[0].username' },
    ]);
  });

  test('bulk: an envelope problem (not an array) → field errors, no rows', () => {
    const f = failure(() => bulk({ users: 'everyone' }));
    expect(f.details['fields']).toEqual([{ field: 'users', message: 'must be array' }]);
    expect(f.details['errors']).toBeUndefined();
  });

  test('fieldPath: nested segments read like code', () => {
    expect(fieldPath(['users', '3', 'username'])).toBe('users[3].username');
    expect(fieldPath([])).toBe('(root)');
  });
});
