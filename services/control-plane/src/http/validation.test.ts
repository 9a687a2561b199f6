import { AppError } from '../../../common/src/errors';
import {
  BULK_CREATE_SIP_USERS_SCHEMA,
  CREATE_SIP_USER_SCHEMA,
  LIST_SIP_USERS_QUERY_SCHEMA,
  SIP_USER_ID_PARAMS_SCHEMA,
  UPDATE_SIP_USER_SCHEMA,
} from '../sip-users/schemas';
import { bulkValidationError } from './routes/sip-users';
import { LIST_CALLS_QUERY_SCHEMA } from '../calls/schemas';
import { CREATE_NUMBER_SCHEMA } from '../numbers/schemas';
import {
  boundedSchema,
  fieldPath,
  hostileValueErrors,
  MAX_HOSTILE_ERRORS,
  MAX_JSON_DEPTH,
  PG_INTEGER_MAX,
  SchemaValidator,
} from './validation';

const validator = new SchemaValidator();
const createUser = validator.compile<Record<string, unknown>>('body', CREATE_SIP_USER_SCHEMA);
const updateUser = validator.compile<Record<string, unknown>>('body', UPDATE_SIP_USER_SCHEMA);
const listQuery = validator.compile<Record<string, unknown>>('query', LIST_SIP_USERS_QUERY_SCHEMA);
const idParams = validator.compile<{ id: number }>('params', SIP_USER_ID_PARAMS_SCHEMA);
const bulk = validator.compile('body', BULK_CREATE_SIP_USERS_SCHEMA, bulkValidationError);
const createNumber = validator.compile<Record<string, unknown>>('body', CREATE_NUMBER_SCHEMA);
const callsQuery = validator.compile<Record<string, unknown>>('query', LIST_CALLS_QUERY_SCHEMA);
const anyQuery = validator.compile<Record<string, unknown>>('query', { type: 'object' });

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
    expect(failure(() => listQuery({ per_page: '500' })).message).toBe(
      'query string is invalid: per_page must be <= 200',
    );
  });

  test('path id "12" → 12; "abc" → field id must be integer', () => {
    expect(idParams({ id: '12' })).toEqual({ id: 12 });
    expect(failure(() => idParams({ id: 'abc' })).details['fields']).toEqual([
      { field: 'id', message: 'must be integer' },
    ]);
  });

  test('bulk: problems inside users[i] → per-row errors sorted by index, duplicates included', () => {
    const f = failure(() =>
      bulk({
        users: [
          { username: 'alice' },
          { username: 'bob', enabled: 'no' },
          { username: 'alice', max_concurrent_calls: -5 },
        ],
      }),
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

describe('hostile values: a 400 naming the field, whatever the schema says', () => {
  test.each(['1e999', '99999999999999999999', '9'.repeat(1000), '1e3', '0x10', ' 12', 'Infinity', '1.5', ''])(
    'query page=%j → field page, nothing reaches the database',
    (page) => {
      const f = failure(() => listQuery({ page }));
      expect(f.code).toBe('ERR_VALIDATION');
      expect(f.details['fields']).toEqual([
        { field: 'page', message: expect.stringMatching(/^must be (integer|<= 2147483647)$/) },
      ]);
    },
  );

  test('query page without a declared maximum → bounded by PostgreSQL integer (2147483647 passes, one more does not)', () => {
    expect(listQuery({ page: String(PG_INTEGER_MAX) })).toMatchObject({ page: PG_INTEGER_MAX });
    expect(failure(() => listQuery({ page: String(PG_INTEGER_MAX + 1) })).details['fields']).toEqual([
      { field: 'page', message: 'must be <= 2147483647' },
    ]);
  });

  test('query per_page=-1 → "must be >= 1"; a repeated parameter → must be integer', () => {
    expect(failure(() => listQuery({ per_page: '-1' })).details['fields']).toEqual([
      { field: 'per_page', message: 'must be >= 1' },
    ]);
    expect(failure(() => listQuery({ page: ['1', '2'] })).details['fields']).toEqual([
      { field: 'page', message: 'must be integer' },
    ]);
  });

  test('path id of 1,000 digits or 1e999 → field id (ajv alone lets Infinity through)', () => {
    for (const id of ['9'.repeat(1000), '1e999']) {
      expect(failure(() => idParams({ id })).details['fields']).toEqual([
        { field: 'id', message: expect.stringMatching(/^must be (integer|<= 2147483647)$/) },
      ]);
    }
  });

  test('NUL in a path segment or query value → "must not contain NUL" naming it, once', () => {
    expect(failure(() => idParams({ id: '1\u0000' })).details['fields']).toEqual([
      { field: 'id', message: 'must not contain NUL (\\u0000) characters' },
    ]);
    expect(failure(() => callsQuery({ from_number: 'a\u0000b' })).details['fields']).toEqual([
      { field: 'from_number', message: 'must not contain NUL (\\u0000) characters' },
    ]);
    expect(failure(() => anyQuery({ cache: '\u0000' })).details['fields']).toEqual([
      { field: 'cache', message: 'must not contain NUL (\\u0000) characters' },
    ]);
  });

  test('NUL in JSON strings, nested values and keys → each field named', () => {
    const f = failure(() =>
      createNumber({
        number: '+14155550123',
        route_type: 'ai',
        description: 'a\u0000',
        ai_options: { greeting: 'hi\u0000', ['k\u0000']: 'v' },
      }),
    );
    expect(f.details['fields']).toEqual(
      expect.arrayContaining([
        { field: 'description', message: 'must not contain NUL (\\u0000) characters' },
        { field: 'ai_options.greeting', message: 'must not contain NUL (\\u0000) characters' },
        { field: 'ai_options.k\\u0000', message: 'must not contain NUL (\\u0000) characters' },
      ]),
    );
  });

  test('a pattern field with a NUL → only the NUL message (not also "must match pattern")', () => {
    const f = failure(() => createUser({ username: 'ali\u0000ce' }));
    expect(f.details['fields']).toEqual([{ field: 'username', message: 'must not contain NUL (\\u0000) characters' }]);
  });

  test('bulk: a NUL inside users[i] → a row error for that row', () => {
    const f = failure(() => bulk({ users: [{ username: 'alice' }, { username: 'bob', notes: '\u0000' }] }));
    expect(f.details['errors']).toEqual([
      { index: 1, field: 'notes', code: 'ERR_VALIDATION', message: 'must not contain NUL (\\u0000) characters' },
    ]);
  });

  test('JSON numbers: 1e999 (Infinity) and 1e20 → field named', () => {
    expect(failure(() => createUser({ username: 'alice', max_concurrent_calls: Infinity })).details['fields']).toEqual(
      expect.arrayContaining([{ field: 'max_concurrent_calls', message: 'must be a finite number' }]),
    );
    expect(failure(() => createUser({ username: 'alice', max_concurrent_calls: 1e20 })).details['fields']).toEqual([
      { field: 'max_concurrent_calls', message: 'must be between -9007199254740991 and 9007199254740991' },
    ]);
  });

  test('a million nested arrays → one error where nesting passes MAX_JSON_DEPTH (no recursion); at most MAX_HOSTILE_ERRORS', () => {
    let deep: unknown = '\u0000';
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    const errors = hostileValueErrors({ ai_options: { a: deep } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      instancePath: `/ai_options/a${'/0'.repeat(MAX_JSON_DEPTH - 1)}`,
      message: 'must not nest deeper than 32 levels',
    });
    expect(hostileValueErrors(Array.from({ length: 1000 }, () => '\u0000'))).toHaveLength(MAX_HOSTILE_ERRORS);
  });

  test('boundedSchema: integers get PostgreSQL bounds where they declare none; declared bounds, enums and defaults stay', () => {
    const schema = boundedSchema({
      type: 'object',
      properties: {
        a: { type: 'integer' },
        b: { type: ['integer', 'null'], maximum: 5 },
        c: { type: 'integer', exclusiveMinimum: 0 },
        d: { type: 'string', enum: ['integer'] },
        e: { type: 'array', items: { type: 'integer' } },
      },
    });
    expect(schema.properties.a).toEqual({ type: 'integer', minimum: -2147483648, maximum: 2147483647 });
    expect(schema.properties.b).toEqual({ type: ['integer', 'null'], maximum: 5, minimum: -2147483648 });
    expect(schema.properties.c).toEqual({ type: 'integer', exclusiveMinimum: 0, maximum: 2147483647 });
    expect(schema.properties.d).toEqual({ type: 'string', enum: ['integer'] });
    expect(schema.properties.e.items).toEqual({ type: 'integer', minimum: -2147483648, maximum: 2147483647 });
  });
});
