import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { api } from '../support/api';
import { startInProcessApp, type InProcessApp } from './in-process';

type Json = Record<string, unknown>;
type Operation = {
  operationId: string;
  summary: string;
  tags: string[];
  security: unknown[];
  parameters?: Array<{ name: string; in: string; required: boolean; schema: object }>;
  requestBody?: { content: { 'application/json': { schema: object } } };
  responses: Record<string, { description: string; content?: Record<string, { schema?: object }> }>;
};
type Document = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object>; securitySchemes: Json };
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

describe('GET /api/openapi.json', () => {
  let doc: Document;
  let app: InProcessApp;

  beforeAll(async () => {
    const res = await api<Document>('GET', '/api/openapi.json', { role: 'operator' });
    expect(res.status).toBe(200);
    doc = res.body;
    // The route table of the same code, to compare against the published document.
    app = await startInProcessApp();
  });
  afterAll(() => app.close());

  test('is OpenAPI 3.1 with info, paths and a bearer security scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toEqual(expect.any(String));
    expect(doc.info.version).toEqual(expect.any(String));
    expect(doc.components.securitySchemes['bearerAuth']).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
  });

  test('every mounted route is documented, and nothing else', () => {
    const mounted = app.app.routes.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => METHODS.includes(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      )
      .sort();
    expect(documented).toEqual(mounted);
    expect(documented).toEqual(
      expect.arrayContaining([
        'GET /health',
        'GET /metrics',
        'GET /api/config/status',
        'GET /api/openapi.json',
        'POST /api/sip-users/',
        'GET /api/sip-users/',
        'GET /api/sip-users/{id}',
        'PUT /api/sip-users/{id}',
        'DELETE /api/sip-users/{id}',
        'POST /api/sip-users/{id}/unlock',
        'GET /api/sip-users/{id}/credentials',
        'GET /api/sip-users/{id}/stats',
        'POST /api/sip-users/bulk-create',
      ]),
    );
  });

  test('operations: unique operationId, responses, every {param} declared as a required path parameter', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const [status, response] of Object.entries(op.responses)) {
          expect([`${method} ${path} ${status}`, typeof response.description]).toEqual([
            `${method} ${path} ${status}`,
            'string',
          ]);
        }
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
        expect(declared.map((p) => p.name)).toEqual(templated);
        for (const p of declared) expect(p.required).toBe(true);
      }
    }
  });

  test('SIP user operations require a bearer token; /health and /metrics do not', () => {
    expect(doc.paths['/api/sip-users/']?.['post']?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/api/sip-users/']?.['post']?.['x-roles' as never]).toEqual(['admin']);
    expect(doc.paths['/health']?.['get']?.security).toEqual([]);
    expect(doc.paths['/metrics']?.['get']?.security).toEqual([]);
  });

  test('every schema in the document compiles as JSON Schema 2020-12 (the OpenAPI 3.1 dialect)', () => {
    const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    ajv.addSchema({ ...doc.components.schemas['Error'], $id: 'error' });
    const fix = (schema: object): object =>
      JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/Error', 'error')) as object;
    let compiled = 0;
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        for (const p of op.parameters ?? []) {
          ajv.compile(fix(p.schema));
          compiled++;
        }
        // JSON bodies, and uploads (a WAV prompt) published by their own media type.
        for (const media of Object.values(op.requestBody?.content ?? {})) {
          ajv.compile(fix(media.schema));
          compiled++;
        }
        for (const r of Object.values(op.responses)) {
          const schema = r.content?.['application/json']?.schema;
          if (schema) {
            ajv.compile(fix(schema));
            compiled++;
          }
        }
      }
    }
    expect(compiled).toBeGreaterThan(30);
  });

  test('real responses match their documented schemas (create, get, list, credentials, stats, errors)', async () => {
    const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    ajv.addSchema({ ...doc.components.schemas['Error'], $id: 'error' });
    const check = (path: string, method: string, status: number, body: unknown): void => {
      const schema = doc.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json']?.schema;
      expect([path, method, status, schema !== undefined]).toEqual([path, method, status, true]);
      const validate = ajv.compile(
        JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/Error', 'error')) as object,
      );
      const ok = validate(body);
      expect([path, method, status, ok ? [] : validate.errors]).toEqual([path, method, status, []]);
    };
    const username = `oa${Date.now().toString(36)}`;
    const created = await api<{ id: number }>('POST', '/api/sip-users/', {
      role: 'admin',
      body: { username, email: 'oa@example.com' },
    });
    check('/api/sip-users/', 'post', 201, created.body);
    const id = created.body.id;
    check('/api/sip-users/{id}', 'get', 200, (await api('GET', `/api/sip-users/${id}`, { role: 'admin' })).body);
    check(
      '/api/sip-users/',
      'get',
      200,
      (await api('GET', `/api/sip-users/?search=${username}`, { role: 'admin' })).body,
    );
    check(
      '/api/sip-users/{id}',
      'put',
      200,
      (await api('PUT', `/api/sip-users/${id}`, { role: 'admin', body: { reset_password: true } })).body,
    );
    check(
      '/api/sip-users/{id}/credentials',
      'get',
      200,
      (await api('GET', `/api/sip-users/${id}/credentials`, { role: 'admin' })).body,
    );
    check(
      '/api/sip-users/{id}/stats',
      'get',
      200,
      (await api('GET', `/api/sip-users/${id}/stats`, { role: 'admin' })).body,
    );
    check(
      '/api/sip-users/{id}/unlock',
      'post',
      200,
      (await api('POST', `/api/sip-users/${id}/unlock`, { role: 'admin' })).body,
    );
    check('/api/config/status', 'get', 200, (await api('GET', '/api/config/status', { role: 'operator' })).body);
    check('/api/sip-users/', 'post', 400, (await api('POST', '/api/sip-users/', { role: 'admin', body: {} })).body);
    check(
      '/api/sip-users/',
      'post',
      409,
      (await api('POST', '/api/sip-users/', { role: 'admin', body: { username } })).body,
    );
    check('/api/sip-users/{id}', 'delete', 200, (await api('DELETE', `/api/sip-users/${id}`, { role: 'admin' })).body);
    check('/api/sip-users/{id}', 'get', 404, (await api('GET', `/api/sip-users/${id}`, { role: 'admin' })).body);
    check('/health', 'get', 200, (await api('GET', '/health')).body);
  });
});
