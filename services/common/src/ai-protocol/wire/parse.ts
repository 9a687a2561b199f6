import type { ValidateFunction } from 'ajv';

export type Parsed<T> = { readonly ok: true; readonly frame: T } | { readonly ok: false; readonly reason: string };

/**
 * JSON.parse + one compiled ajv validator: the only way a text frame becomes a typed
 * value. The reason names the frame's tag and the first failing path, never the
 * payload (frames carry audio and tokens).
 */
export function parseJsonFrame<T>(validate: ValidateFunction<T>, text: string, tag: 'type' | 'event'): Parsed<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (validate(value)) return { ok: true, frame: value };
  const first = validate.errors?.[0];
  const name =
    value !== null && typeof value === 'object' && tag in value
      ? String((value as Record<string, unknown>)[tag]).slice(0, 32)
      : '?';
  return { ok: false, reason: `${name}: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}` };
}
