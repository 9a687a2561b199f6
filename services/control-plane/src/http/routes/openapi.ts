import { defineRoute, type Route } from '../route';

/** `GET /api/openapi.json`: the document generated from the mounted routes. */
export function openApiRoutes(document: () => object): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/openapi.json',
      operationId: 'getOpenApiDocument',
      summary: 'This API as an OpenAPI 3.1 document',
      tag: 'meta',
      access: 'any-role',
      responses: { 200: { description: 'OpenAPI 3.1 document', schema: { type: 'object' } } },
      handle() {
        return Promise.resolve({ status: 200, body: document() });
      },
    }),
  ];
}
