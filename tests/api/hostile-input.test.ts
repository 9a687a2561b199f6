/**
 * Issue 10, finding 4: hostile input gets a 4xx with a stable code naming the field,
 * never a 500. Every route and method of the published OpenAPI document gets the
 * inputs the fuzzer found (numbers PostgreSQL cannot hold, ids of 1,000 digits, NUL
 * bytes in path segments, query values and JSON strings), so a route added later is
 * covered without touching this file; each check collects every route that fails,
 * so a failure lists them all.
 */
import { connect } from 'node:net';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { writeWav } from '../../services/common/src/audio/wav';
import { token } from '../support/api';
import { testStack } from '../support/stack';
import { startInProcessApp, type InProcessApp } from './in-process';

type Json = Record<string, unknown>;
interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query';
  readonly schema: { type?: unknown; minimum?: number; maximum?: number };
}
interface Operation {
  readonly parameters?: Parameter[];
  /** JSON bodies; an upload (a WAV prompt) names its own media types instead. */
  readonly requestBody?: { content: Record<string, { schema: Json; example?: Json } | undefined> };
  readonly 'x-roles'?: string[];
}
interface Document {
  readonly paths: Record<string, Record<string, Operation>>;
}
interface ErrorBody {
  readonly error?: {
    readonly code?: string;
    readonly fields?: ReadonlyArray<{ field: string; message: string }>;
    readonly errors?: ReadonlyArray<{ index: number; field: string }>;
  };
}
interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: ErrorBody;
}
interface Op {
  readonly method: string;
  readonly template: string;
  readonly op: Operation;
}

let doc: Document;
let ops: Op[];
const bearer: Record<string, string> = {};

beforeAll(async () => {
  bearer['operator'] = await token('operator');
  bearer['admin'] = await token('admin');
  const res = await fetch(`${testStack().apiUrl}/api/openapi.json`, {
    headers: { authorization: `Bearer ${bearer['operator']}` },
  });
  doc = (await res.json()) as Document;
  ops = Object.entries(doc.paths).flatMap(([template, item]) =>
    Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), template, op })),
  );
});

/** The token a route admits: operator where it may, else admin; none for public routes. */
function authFor(op: Operation): Record<string, string> {
  const roles = op['x-roles'] ?? [];
  const role = roles.includes('operator') ? 'operator' : roles.includes('admin') ? 'admin' : undefined;
  return role ? { authorization: `Bearer ${bearer[role]}` } : {};
}

/** Sends to the route; a route with a body gets its valid example unless the test gives one. */
async function send(
  o: Op,
  path: string,
  init: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const example = o.op.requestBody?.content['application/json']?.example;
  // An upload route gets a valid upload: one second of silence as a WAV file.
  const upload = init.body === undefined && !example ? uploadTypes(o)[0] : undefined;
  const payload: string | Buffer | undefined =
    init.body ?? (example ? JSON.stringify(example) : upload ? writeWav(new Int16Array(8000), 8000) : undefined);
  const headers = {
    ...authFor(o.op),
    ...(init.body === undefined && example ? { 'content-type': 'application/json' } : {}),
    ...(upload ? { 'content-type': upload } : {}),
    ...init.headers,
  };
  const res = await fetch(`${testStack().apiUrl}${path}`, { method: o.method, headers, body: payload });
  const text = await res.text();
  let body: ErrorBody = {};
  try {
    body = text ? (JSON.parse(text) as ErrorBody) : {};
  } catch {
    // Not JSON: the content-type check below reports it.
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body };
}

/** The route's path with each parameter a harmless value, or `hostile` for `name`. */
function fill(template: string, name?: string, hostile?: string): string {
  return template.replace(/\{([^}]+)\}/g, (_m, p: string) => (p === name && hostile !== undefined ? hostile : '1'));
}

/** Routes whose body is JSON (uploads are checked on their own below). */
const jsonBody = (o: Op): { schema: Json; example?: Json } | undefined => o.op.requestBody?.content['application/json'];
const uploadTypes = (o: Op): string[] =>
  Object.keys(o.op.requestBody?.content ?? {}).filter((t) => t !== 'application/json');

const params = (o: Op, where: 'path' | 'query'): Parameter[] => (o.op.parameters ?? []).filter((p) => p.in === where);
const numeric = (p: Parameter): boolean => [p.schema.type].flat().some((t) => t === 'integer' || t === 'number');

/** What is wrong with an answer that should be 400 ERR_VALIDATION naming `field`, or null. */
function notNaming(a: Answer, field: string, row?: number): string | null {
  if (a.status !== 400 || a.body.error?.code !== 'ERR_VALIDATION') return `${a.status} ${a.body.error?.code ?? ''}`;
  const named =
    row === undefined
      ? (a.body.error.fields ?? []).some((f) => f.field === field)
      : (a.body.error.errors ?? []).some((e) => e.index === row && e.field === field);
  return named ? null : `400 without field ${field}: ${JSON.stringify(a.body.error)}`;
}

/** Every 4xx and 5xx answer is the API's JSON error with a catalogue code. */
function notJsonError(a: Answer): string | null {
  if (a.status >= 500) return `${a.status} ${a.body.error?.code ?? ''}`;
  if (
    a.status >= 400 &&
    (!/^application\/json/.test(a.contentType ?? '') || !/^ERR_[A-Z_]+$/.test(a.body.error?.code ?? ''))
  ) {
    return `${a.status} is not a JSON error (${a.contentType})`;
  }
  return null;
}

describe('hostile input on every route of /api/openapi.json → 4xx naming the field, never 5xx', () => {
  test('the document has routes with path parameters, numeric query parameters and bodies', () => {
    expect(ops.filter((o) => params(o, 'path').length > 0).length).toBeGreaterThan(5);
    expect(ops.filter((o) => params(o, 'query').some(numeric)).length).toBeGreaterThan(5);
    expect(ops.filter((o) => o.op.requestBody).length).toBeGreaterThan(5);
  });

  test('numeric query values 1e999, 99999999999999999999, -1, abc → 400 ERR_VALIDATION naming the parameter', async () => {
    const failures: string[] = [];
    for (const o of ops) {
      for (const p of params(o, 'query').filter(numeric)) {
        for (const value of ['1e999', '99999999999999999999', '-1', 'abc', '1e3', '0x10']) {
          const a = await send(o, `${fill(o.template)}?${p.name}=${value}`);
          const allowed = value === '-1' && (p.schema.minimum ?? 0) <= -1;
          const problem = allowed ? notJsonError(a) : notNaming(a, p.name);
          if (problem) failures.push(`${o.method} ${o.template}?${p.name}=${value}: ${problem}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  test('path parameters of 1,000 digits, %00 and a%00b → 400 naming the parameter (or 404 for an id that is well-formed)', async () => {
    const failures: string[] = [];
    for (const o of ops) {
      for (const p of params(o, 'path')) {
        for (const value of ['%00', 'a%00b']) {
          const problem = notNaming(await send(o, fill(o.template, p.name, value)), p.name);
          if (problem) failures.push(`${o.method} ${o.template} ${p.name}=${value}: ${problem}`);
        }
        const a = await send(o, fill(o.template, p.name, '9'.repeat(1000)));
        const problem = a.status === 404 ? notJsonError(a) : notNaming(a, p.name);
        if (problem) failures.push(`${o.method} ${o.template} ${p.name}=<1000 digits>: ${problem}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('a NUL in any query value → 400 naming the parameter, also where the route declares none', async () => {
    const failures: string[] = [];
    for (const o of ops) {
      const names = params(o, 'query').map((p) => p.name);
      for (const name of names.length > 0 ? names : ['q']) {
        const problem = notNaming(await send(o, `${fill(o.template)}?${name}=a%00b`), name);
        if (problem) failures.push(`${o.method} ${o.template}?${name}=a%00b: ${problem}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('every request body has a valid example in the document', () => {
    const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    const failures: string[] = [];
    for (const o of ops.filter((x) => jsonBody(x))) {
      const { schema, example } = jsonBody(o) as { schema: Json; example?: Json };
      if (example === undefined) failures.push(`${o.method} ${o.template}: no example`);
      else if (!ajv.validate(schema, example)) failures.push(`${o.method} ${o.template}: ${ajv.errorsText()}`);
    }
    expect(failures).toEqual([]);
  });

  test('"\\u0000" in each string field of a valid body → 400 ERR_VALIDATION naming the field', async () => {
    const failures: string[] = [];
    let sent = 0;
    for (const o of ops.filter((x) => jsonBody(x)?.example)) {
      const { schema, example } = jsonBody(o) as { schema: Json; example: Json };
      for (const path of stringFields(example, schema)) {
        const body = structuredClone(example);
        setAt(body, path, 'a\u0000b');
        // A bulk body reports problems per row: users[i] → {index: i, field}.
        const row = path[0] === 'users' && typeof path[1] === 'number' ? path[1] : undefined;
        const field = row === undefined ? fieldPath(path) : fieldPath(path.slice(2));
        const a = await send(o, fill(o.template), {
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        });
        sent++;
        const problem = notNaming(a, field, row);
        if (problem) failures.push(`${o.method} ${o.template} ${fieldPath(path)}: ${problem}`);
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(30);
  });

  test('a key with a NUL in a free-form object (ai_options) → 400 naming it', async () => {
    const o = ops.find((x) => x.method === 'POST' && x.template === '/api/numbers/') as Op;
    const example = jsonBody(o)?.example as Json;
    const body = { ...example, ai_options: { 'voi\u0000ce': 'alloy' } };
    const a = await send(o, '/api/numbers/', {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    expect(notNaming(a, 'ai_options.voi\\u0000ce')).toBeNull();
  });

  test('100,000 nested arrays in a free-form object (ai_options) → 400 naming where it nests too deep', async () => {
    const o = ops.find((x) => x.method === 'POST' && x.template === '/api/numbers/') as Op;
    const example = jsonBody(o)?.example as Json;
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const body = JSON.stringify({ ...example, ai_options: { a: '@' } }).replace('"@"', deep);
    const a = await send(o, '/api/numbers/', { body, headers: { 'content-type': 'application/json' } });
    expect(a.status).toBe(400);
    expect(a.body.error?.fields?.[0]?.field).toMatch(/^ai_options\.a(\[0\])+$/);
  });

  test('bodies: not JSON → 400 ERR_BAD_JSON, 1e999 → 400, over 2 MiB → 413, text/plain → 415, on every route with a body', async () => {
    const failures: string[] = [];
    const big = JSON.stringify({ pad: 'x'.repeat(3 * 1024 * 1024) });
    for (const o of ops.filter((x) => jsonBody(x))) {
      const json = { 'content-type': 'application/json' };
      const cases: Array<[string, Promise<Answer>, number, string]> = [
        ['{', send(o, fill(o.template), { body: '{"a": ', headers: json }), 400, 'ERR_BAD_JSON'],
        ['1e999', send(o, fill(o.template), { body: '{"x": 1e999}', headers: json }), 400, 'ERR_VALIDATION'],
        ['3 MiB', send(o, fill(o.template), { body: big, headers: json }), 413, 'ERR_PAYLOAD_TOO_LARGE'],
        [
          'text/plain',
          send(o, fill(o.template), { body: 'hello', headers: { 'content-type': 'text/plain' } }),
          415,
          'ERR_UNSUPPORTED_MEDIA_TYPE',
        ],
      ];
      for (const [what, pending, status, code] of cases) {
        const a = await pending;
        if (a.status !== status || a.body.error?.code !== code)
          failures.push(`${o.method} ${o.template} ${what}: ${a.status} ${a.body.error?.code ?? ''}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('uploads (bodies that are not JSON) → 4xx with a stable code, never 5xx', () => {
  test('the wrong media type → 415, JSON → 415, garbage of the right type → 400, 11 MiB → 413, no body → 4xx', async () => {
    const uploads = ops.filter((o) => uploadTypes(o).length > 0);
    expect(uploads.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for (const o of uploads) {
      const type = uploadTypes(o)[0] as string;
      const cases: Array<[string, Promise<Answer>, number | undefined, string | undefined]> = [
        [
          'text/plain',
          send(o, fill(o.template), { body: 'hello', headers: { 'content-type': 'text/plain' } }),
          415,
          'ERR_UNSUPPORTED_MEDIA_TYPE',
        ],
        [
          'json',
          send(o, fill(o.template), { body: '{"a":1}', headers: { 'content-type': 'application/json' } }),
          415,
          'ERR_UNSUPPORTED_MEDIA_TYPE',
        ],
        [
          'garbage',
          send(o, fill(o.template), { body: '\u0000RIFF????WAVEjunk', headers: { 'content-type': type } }),
          400,
          undefined,
        ],
        [
          '11 MiB',
          send(o, fill(o.template), { body: 'x'.repeat(11 * 1024 * 1024), headers: { 'content-type': type } }),
          413,
          'ERR_PAYLOAD_TOO_LARGE',
        ],
        ['empty', send(o, fill(o.template), { body: '', headers: { 'content-type': type } }), undefined, undefined],
      ];
      for (const [what, pending, status, code] of cases) {
        const a = await pending;
        const problem =
          notJsonError(a) ??
          (a.status < 400 ? `${a.status}` : null) ??
          (status !== undefined && a.status !== status ? `${a.status} ${a.body.error?.code ?? ''}` : null) ??
          (code !== undefined && a.body.error?.code !== code ? `${a.status} ${a.body.error?.code ?? ''}` : null);
        if (problem) failures.push(`${o.method} ${o.template} ${what}: ${problem}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe("requests Express or Node refuse → the API's JSON errors, counted on /metrics", () => {
  test('broken percent-encoding in a path parameter → 400 ERR_VALIDATION naming path', async () => {
    const o = ops.find((x) => x.method === 'GET' && x.template === '/api/trunks/{trunk_id}') as Op;
    for (const segment of ['%E0%A4%A', 'abc%', '%zz']) {
      expect(notNaming(await send(o, `/api/trunks/${segment}`), 'path')).toBeNull();
    }
  });

  test('headers over 16 KiB → 431 ERR_HEADERS_TOO_LARGE as JSON', async () => {
    const a = await rawRequest(`GET /health HTTP/1.1\r\nHost: x\r\nX-Junk: ${'j'.repeat(20_000)}\r\n\r\n`);
    expect(a.status).toBe(431);
    expect(a.headers).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'ERR_HEADERS_TOO_LARGE' } });
  });

  test('an absurd Content-Length → 400 ERR_BAD_REQUEST as JSON', async () => {
    const a = await rawRequest(
      `POST /api/sip-users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n{}`,
    );
    expect(a.status).toBe(400);
    expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'ERR_BAD_REQUEST' } });
  });

  test('refusals are counted by code on /metrics', async () => {
    const before = await rejected('ERR_VALIDATION');
    const o = ops.find((x) => x.method === 'GET' && x.template === '/api/trunks/') as Op;
    await send(o, '/api/trunks/?page=1e999');
    await send(o, '/api/trunks/?page=1e999');
    // Counted when the response has finished, which the client may see a moment before.
    for (let i = 0; i < 20 && (await rejected('ERR_VALIDATION')) < before + 2; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await rejected('ERR_VALIDATION')).toBe(before + 2);
    expect(await rejected('ERR_HEADERS_TOO_LARGE')).toBeGreaterThanOrEqual(1);
  });

  test('a thousand random paths add no /metrics series', async () => {
    const series = async (): Promise<number> =>
      (await (await fetch(`${testStack().apiUrl}/metrics`)).text())
        .split('\n')
        .filter((l) => l.startsWith('http_request_duration_seconds_count')).length;
    const o = ops[0] as Op;
    await send(o, `/api/${Math.random().toString(36).slice(2)}`);
    const before = await series();
    for (let i = 0; i < 1000; i++) await send(o, `/api/${Math.random().toString(36).slice(2)}/${i}`);
    expect(await series()).toBe(before);
  });
});

describe('each defence that fires leaves a log line naming the source', () => {
  let app: InProcessApp;
  beforeAll(async () => {
    app = await startInProcessApp({ API_RATE_LIMIT_PER_IP: '4' });
  });
  afterAll(() => app.close());

  test('validation, authentication, rate limit → lines with ip and code; the limit is logged once per source and window', async () => {
    const get = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
      const res = await fetch(`${app.url}${path}`, { headers });
      await res.arrayBuffer();
      return res.status;
    };
    const operator = await token('operator', 600, app.stack);
    expect(await get('/api/trunks/?page=1e999', { authorization: `Bearer ${operator}` })).toBe(400);
    expect(await get('/api/trunks/', { authorization: 'Bearer forged.not.signed' })).toBe(401);
    expect([await get('/health'), await get('/health'), await get('/health'), await get('/health')]).toEqual([
      200, 200, 429, 429,
    ]);
    const lines = app
      .logs()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ message: 'http request', status: 400, code: 'ERR_VALIDATION', ip: '127.0.0.1' }),
        expect.objectContaining({ message: 'http request', status: 401, code: 'ERR_UNAUTHENTICATED', ip: '127.0.0.1' }),
        expect.objectContaining({ message: 'http request', status: 429, code: 'ERR_RATE_LIMITED', ip: '127.0.0.1' }),
        expect.objectContaining({
          level: 'warn',
          message: 'rate limit exceeded',
          limit: 'per_ip',
          ip: '127.0.0.1',
          requests_per_window: 4,
        }),
      ]),
    );
    expect(lines.filter((l) => l['message'] === 'rate limit exceeded')).toHaveLength(1);
  });
});

async function rejected(code: string): Promise<number> {
  const text = await (await fetch(`${testStack().apiUrl}/metrics`)).text();
  return Number(new RegExp(`^http_requests_rejected_total\\{code="${code}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** Bytes on a fresh connection, for what fetch will not send; the status line, headers and body. */
function rawRequest(bytes: string): Promise<{ status: number; headers: string; body: string }> {
  const { config } = testStack();
  return new Promise((resolve, reject) => {
    const socket = connect(config.api.port, config.api.host);
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body });
    });
    socket.end(bytes);
  });
}

type Segment = string | number;

/**
 * The paths of the string leaves of a body example (nested objects and arrays
 * included), plus each string property the schema declares at the top that the
 * example leaves out.
 */
function stringFields(example: Json, schema: Json): Segment[][] {
  const out: Segment[][] = [];
  const walk = (v: unknown, path: Segment[]): void => {
    if (typeof v === 'string') out.push(path);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(example, []);
  const properties = (schema['properties'] ?? {}) as Record<string, { type?: unknown; enum?: unknown }>;
  for (const [name, property] of Object.entries(properties)) {
    if (name in example || property.enum) continue;
    if ([property.type].flat().includes('string')) out.push([name]);
  }
  return out;
}

function setAt(target: Json, path: readonly Segment[], value: unknown): void {
  let node = target as Record<Segment, unknown>;
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<Segment, unknown>;
  node[path[path.length - 1] as Segment] = value;
}

/** As the API names fields: `users[0].notes`, `ai_options.greeting`. */
/** As the API spells a field: array indexes and digit keys (a menu's options["1"]) in brackets. */
function fieldPath(path: readonly Segment[]): string {
  return (
    path.map((s, i) => (typeof s === 'number' || /^[0-9]+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('') ||
    '(root)'
  );
}

// 1,000 random paths and every route several times over: generous for a busy machine.
jest.setTimeout(180_000);
