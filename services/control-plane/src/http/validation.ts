import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { AppError, type FieldError } from '../../../common/src/errors';

/** Where a value came from: bodies are JSON; query strings and path segments are text. */
export type Source = 'body' | 'query' | 'params';

export type Check<T> = (value: unknown) => T;

/**
 * Compiles the API's JSON Schemas once. Bodies are checked as sent (no type
 * coercion: `"3"` is not a number in JSON); query and path values are strings on
 * the wire, so they are coerced to the schema's types. Defaults are filled in.
 */
export class SchemaValidator {
  private readonly json = addFormats(new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true }));
  private readonly text = addFormats(new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: true, allowUnionTypes: true }));

  compile<T>(source: Source, schema: object, onInvalid: (errors: ErrorObject[], value: unknown) => AppError = invalid(source)): Check<T> {
    const validate: ValidateFunction = (source === 'body' ? this.json : this.text).compile(schema);
    return (value) => {
      if (validate(value)) return value as T;
      throw onInvalid(validate.errors ?? [], value);
    };
  }
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
  for (const e of errors) {
    const { segments, message } = describeError(e);
    const field = fieldPath(segments);
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ field, message });
  }
  return out;
}
