import { ERRORS } from '../../../common/src/errors';
import { rolesFor } from '../auth/access';
import { ERROR_RESPONSE_SCHEMA } from './errors';
import type { Route } from './route';
import { boundedSchema } from './validation';

export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

type JsonObject = Record<string, unknown>;

const ERROR_REF = { $ref: '#/components/schemas/Error' };

function errorResponse(description: string): JsonObject {
  return { description, content: { 'application/json': { schema: ERROR_REF } } };
}

/** Query or path parameters from an object schema's properties. */
function parameters(where: 'path' | 'query', schema: object | undefined): JsonObject[] {
  if (!schema) return [];
  const { properties = {}, required = [] } = schema as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function operation(route: Route): JsonObject {
  const responses: JsonObject = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const contentType = spec.contentType ?? 'application/json';
    responses[status] =
      spec.schema || spec.contentType
        ? { description: spec.description, content: { [contentType]: { schema: spec.schema ?? { type: 'string' } } } }
        : { description: spec.description };
  }
  // The failures every route shares, from the catalogue.
  if (route.params || route.query || route.body || route.rawBody)
    responses['400'] ??= errorResponse(
      'Invalid request (ERR_VALIDATION, ERR_BAD_JSON); `fields` names each bad field.',
    );
  if (route.access !== 'public') {
    responses['401'] ??= errorResponse(
      'Missing, invalid or expired bearer token (ERR_UNAUTHENTICATED, ERR_TOKEN_EXPIRED).',
    );
    responses['403'] ??= errorResponse(
      'Token role not allowed here (ERR_FORBIDDEN) or source address not allowed (ERR_SOURCE_NOT_ALLOWED).',
    );
  } else {
    responses['403'] ??= errorResponse('Source address not allowed (ERR_SOURCE_NOT_ALLOWED).');
  }
  if (route.body) {
    responses['413'] ??= errorResponse('Body too large (ERR_PAYLOAD_TOO_LARGE).');
    responses['415'] ??= errorResponse('Body is not application/json (ERR_UNSUPPORTED_MEDIA_TYPE).');
  }
  if (route.rawBody) {
    responses['413'] ??= errorResponse(`Body over ${route.rawBody.maxBytes} bytes (ERR_PAYLOAD_TOO_LARGE).`);
    responses['415'] ??= errorResponse(
      `Body is not ${route.rawBody.contentTypes.join(' or ')} (ERR_UNSUPPORTED_MEDIA_TYPE).`,
    );
  }
  responses['429'] ??= {
    ...errorResponse('Rate limited (ERR_RATE_LIMITED).'),
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  };
  responses['500'] ??= errorResponse('Internal error (ERR_INTERNAL).');

  const roles = rolesFor(route.access);
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    ...(roles.length > 0 ? { security: [{ bearerAuth: [] }], 'x-roles': roles } : { security: [] }),
    ...(route.params || route.query
      ? {
          parameters: [
            ...parameters('path', boundedSchema(route.params)),
            ...parameters('query', boundedSchema(route.query)),
          ],
        }
      : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: boundedSchema(route.body),
                ...(route.bodyExample ? { example: route.bodyExample } : {}),
              },
            },
          },
        }
      : {}),
    ...(route.rawBody
      ? {
          requestBody: {
            required: true,
            description: route.rawBody.description,
            content: Object.fromEntries(
              route.rawBody.contentTypes.map((t) => [t, { schema: { type: 'string', format: 'binary' } }]),
            ),
          },
        }
      : {}),
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of the given routes. Schemas are the validator's own
 * (JSON Schema draft-07 keywords that mean the same in 2020-12), with the integer
 * bounds it enforces (boundedSchema).
 */
export function buildOpenApiDocument(routes: readonly Route[], info: OpenApiInfo): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    if (item[route.method]) throw new TypeError(`two routes for ${route.method.toUpperCase()} ${route.path}`);
    item[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      ...(info.description ? { description: info.description } : {}),
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'HS256 JWT with `exp` and `role`. Operator tokens are signed with JWT_SECRET_KEY, admin tokens with SIP_JWT_SECRET; ' +
            '/api/sip-users/* accepts admin tokens only. `npm run token -- --role admin` prints one.',
        },
      },
      schemas: { Error: ERROR_RESPONSE_SCHEMA },
    },
    'x-error-codes': Object.fromEntries(
      Object.entries(ERRORS).map(([code, e]) => [code, { status: e.status, message: e.message }]),
    ),
  };
}
