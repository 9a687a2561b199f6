import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { AppError, type FieldError } from '../../../common/src/errors';

/** Where a value came from: bodies are JSON; query strings and path segments are text. */
export type Source = 'body' | 'query' | 'params';

export type Check<T> = (value: unknown) => T;

/**
 * PostgreSQL's `integer` (ids are `serial`): the range of an integer field whose
 * schema declares no bound of its own. A wider field declares its `maximum`.
 */
export const PG_INTEGER_MIN = -2147483648;
export const PG_INTEGER_MAX = 2147483647;

/** The most problems one hostile value reports (a 2 MB body could hold 100,000). */
export const MAX_HOSTILE_ERRORS = 20;

/**
 * How deep JSON may nest. JSON.stringify (the pg driver's, for jsonb) and
 * PostgreSQL's jsonb parser both recurse, so 100,000 nested arrays in a free-form
 * object would end as a stack overflow, a 500.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Compiles the API's JSON Schemas once. Bodies are checked as sent (no type
 * coercion: `"3"` is not a number in JSON); query and path values are strings on
 * the wire, so they are coerced to the schema's types. Defaults are filled in.
 *
 * Whatever a schema says, a value never gets past with what the database or
 * JavaScript cannot hold: a NUL character in a string or key (PostgreSQL text and
 * jsonb reject U+0000), a number that is not finite or not a safe integer, or an
 * integer outside its declared bounds or, without any, PostgreSQL's `integer`
 * (see boundedSchema). Each becomes a 400 ERR_VALIDATION naming the field, for
 * every route, present and future, because every route's schemas pass through here.
 */
export class SchemaValidator {
  // strictNumbers: NaN and Infinity (JSON's 1e999 parses to Infinity) are not numbers.
  private readonly json = addFormats(
    new Ajv({ allErrors: true, useDefaults: true, strict: true, strictNumbers: true, allowUnionTypes: true }),
  );
  private readonly text = addFormats(
    new Ajv({
      allErrors: true,
      useDefaults: true,
      coerceTypes: true,
      strict: true,
      strictNumbers: true,
      allowUnionTypes: true,
    }),
  );

  compile<T>(
    source: Source,
    schema: object,
    onInvalid: (errors: ErrorObject[], value: unknown) => AppError = invalid(source),
  ): Check<T> {
    const bounded = boundedSchema(schema);
    const validate: ValidateFunction = (source === 'body' ? this.json : this.text).compile(bounded);
    const numeric = source === 'body' ? new Map<string, NumericField>() : numericFields(bounded);
    return (value) => {
      const early = hostileValueErrors(value);
      if (numeric.size > 0 && isRecord(value)) early.push(...parseNumericText(numeric, value));
      const valid = validate(value);
      if (valid && early.length === 0) return value as T;
      // One message per field: ajv would add "must match pattern" to a NUL already named.
      const named = new Set(early.map((e) => e.instancePath));
      const rest = (validate.errors ?? []).filter((e) => !named.has(e.instancePath));
      throw onInvalid([...early, ...rest], value);
    };
  }
}

/**
 * The schema as the validator enforces it and the OpenAPI document publishes it:
 * every integer without a `minimum` / `maximum` gets PostgreSQL's `integer` bounds,
 * so `?page=99999999999999999999` or an id of 1,000 digits is a 400 naming the
 * field, not an out-of-range error from the database. Returns a copy.
 */
export function boundedSchema<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((s: unknown) => boundedSchema(s)) as T;
  if (!isRecord(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    // `enum`, `const`, `default` and `examples` are data, not schemas.
    out[key] = ['enum', 'const', 'default', 'example', 'examples'].includes(key) ? value : boundedSchema(value);
  }
  const type = out['type'];
  const integer = type === 'integer' || (Array.isArray(type) && type.includes('integer'));
  if (integer) {
    if (out['minimum'] === undefined && out['exclusiveMinimum'] === undefined) out['minimum'] = PG_INTEGER_MIN;
    if (out['maximum'] === undefined && out['exclusiveMaximum'] === undefined) out['maximum'] = PG_INTEGER_MAX;
  }
  return out as T;
}

const NUL_MESSAGE = 'must not contain NUL (\\u0000) characters';

function hostile(instancePath: string, message: string): ErrorObject {
  return { keyword: 'hostile', instancePath, schemaPath: '#', params: {}, message };
}

function pointer(segment: string): string {
  return `/${segment.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/**
 * What no schema lets through, found in any value (parsed JSON, query, path):
 * NUL characters in strings and object keys, numbers that are not finite or
 * beyond ±(2^53 − 1), and nesting deeper than MAX_JSON_DEPTH. Walks iteratively:
 * a 2 MB body can nest 1,000,000 arrays.
 */
export function hostileValueErrors(value: unknown): ErrorObject[] {
  const errors: ErrorObject[] = [];
  const stack: Array<[unknown, string, number]> = [[value, '', 0]];
  while (stack.length > 0 && errors.length < MAX_HOSTILE_ERRORS) {
    const [v, path, depth] = stack.pop() as [unknown, string, number];
    if (depth > MAX_JSON_DEPTH && typeof v === 'object' && v !== null) {
      errors.push(hostile(path, `must not nest deeper than ${MAX_JSON_DEPTH} levels`));
    } else if (typeof v === 'string') {
      if (v.includes('\u0000')) errors.push(hostile(path, NUL_MESSAGE));
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) errors.push(hostile(path, 'must be a finite number'));
      else if (Math.abs(v) > Number.MAX_SAFE_INTEGER)
        errors.push(hostile(path, `must be between ${-Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`));
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}/${i}`, depth + 1]);
    } else if (isRecord(v)) {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        if (key.includes('\u0000'))
          errors.push(hostile(path + pointer(key.replaceAll('\u0000', '\\u0000')), NUL_MESSAGE));
        else stack.push([v[key], path + pointer(key), depth + 1]);
      }
    }
  }
  return errors;
}

interface NumericField {
  readonly integer: boolean;
  readonly minimum: number;
  readonly maximum: number;
}

/** The integer and number properties of a query or path schema, with their bounds. */
function numericFields(schema: unknown): Map<string, NumericField> {
  const out = new Map<string, NumericField>();
  const properties = isRecord(schema) && isRecord(schema['properties']) ? schema['properties'] : {};
  for (const [name, property] of Object.entries(properties)) {
    if (!isRecord(property)) continue;
    const type = property['type'];
    const types = Array.isArray(type) ? type : [type];
    if (!types.includes('integer') && !types.includes('number')) continue;
    const minimum = typeof property['minimum'] === 'number' ? property['minimum'] : PG_INTEGER_MIN;
    const maximum = typeof property['maximum'] === 'number' ? property['maximum'] : PG_INTEGER_MAX;
    out.set(name, { integer: types.includes('integer') && !types.includes('number'), minimum, maximum });
  }
  return out;
}

// Plain decimal only: no "1e3", "0x10", " 12", "Infinity" (Number() takes them all).
const DECIMAL_INTEGER = /^-?[0-9]+$/;
const DECIMAL_NUMBER = /^-?[0-9]+(\.[0-9]+)?$/;

/**
 * Numbers in a query string or path are parsed here, not by ajv's coercion (which
 * turns "1e999" into Infinity and "99999999999999999999" into 1e20, and lets both
 * pass): plain decimal text within ±(2^53 − 1) becomes a number for the schema to
 * bound; anything else is an error naming the parameter. Arrays (a repeated
 * parameter) are left to the schema, which refuses them.
 */
function parseNumericText(fields: ReadonlyMap<string, NumericField>, value: Record<string, unknown>): ErrorObject[] {
  const errors: ErrorObject[] = [];
  for (const [name, field] of fields) {
    const raw = value[name];
    // A NUL is reported by hostileValueErrors, once.
    if (typeof raw !== 'string' || raw.includes('\u0000')) continue;
    const path = pointer(name);
    if (!(field.integer ? DECIMAL_INTEGER : DECIMAL_NUMBER).test(raw)) {
      errors.push(hostile(path, field.integer ? 'must be integer' : 'must be number'));
      continue;
    }
    // The bounds are finite (boundedSchema), so a thousand digits, read as Infinity, fails here.
    const n = Number(raw);
    if (n > field.maximum) errors.push(hostile(path, `must be <= ${field.maximum}`));
    else if (n < field.minimum) errors.push(hostile(path, `must be >= ${field.minimum}`));
    else value[name] = n;
  }
  return errors;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(source: Source): (errors: ErrorObject[]) => AppError {
  return (errors) => validationError(source, fieldErrors(errors));
}

export function validationError(source: Source, fields: FieldError[]): AppError {
  const where = source === 'body' ? 'request body' : source === 'query' ? 'query string' : 'path';
  const first = fields[0];
  const summary = first ? `: ${first.field} ${first.message}` : '';
  return new AppError('ERR_VALIDATION', `${where} is invalid${summary}`, { fields });
}

/** One ERR_VALIDATION for problems found in several parts of a request (path, query, body). */
export function mergeValidationErrors(errors: readonly AppError[]): AppError {
  if (errors.length === 1) return errors[0] as AppError;
  const fields = errors.flatMap((e) =>
    Array.isArray(e.details?.['fields']) ? (e.details['fields'] as FieldError[]) : [],
  );
  const rows = errors.flatMap((e) => (Array.isArray(e.details?.['errors']) ? (e.details['errors'] as unknown[]) : []));
  return new AppError('ERR_VALIDATION', errors.map((e) => e.message).join('; '), {
    fields,
    ...(rows.length > 0 ? { errors: rows } : {}),
  });
}

/** `/users/3/username` → `users[3].username`; the root is `(root)`. */
export function fieldPath(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) {
    if (/^\d+$/.test(s)) out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out === '' ? '(root)' : out;
}

function pointerSegments(instancePath: string): string[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The segments naming the field an ajv error is about, and what is wrong with it. */
export function describeError(e: ErrorObject): { segments: string[]; message: string } {
  const segments = pointerSegments(e.instancePath);
  if (e.keyword === 'required') {
    return { segments: [...segments, String(e.params['missingProperty'])], message: 'is required' };
  }
  if (e.keyword === 'additionalProperties') {
    return { segments: [...segments, String(e.params['additionalProperty'])], message: 'is not allowed' };
  }
  if (e.keyword === 'minProperties' && e.params['limit'] === 1) {
    return { segments, message: 'must name at least one field to change' };
  }
  if (e.keyword === 'type' && Array.isArray(e.params['type'])) {
    return { segments, message: `must be ${(e.params['type'] as string[]).join(' or ')}` };
  }
  return { segments, message: e.message ?? 'is invalid' };
}

/** One entry per field and problem, in the order ajv found them. */
export function fieldErrors(errors: readonly ErrorObject[]): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  // An if/then failure also reports the `if` ("must match \"then\" schema"): the `then`'s own errors say more.
  const specific = errors.some((e) => e.keyword !== 'if') ? errors.filter((e) => e.keyword !== 'if') : errors;
  for (const e of specific) {
    const { segments, message } = describeError(e);
    const field = fieldPath(segments);
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ field, message });
  }
  return out;
}
