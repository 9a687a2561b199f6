import type { Readable } from 'node:stream';
import type { ErrorObject } from 'ajv';
import type { AppError } from '../../../common/src/errors';
import type { Access } from '../auth/access';
import type { Principal } from '../auth/tokens';

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

export interface RouteContext<B, Q, P> {
  readonly body: B;
  readonly query: Q;
  readonly params: P;
  readonly principal: Principal | undefined;
  readonly requestId: string;
  /** A request header (case-insensitive), e.g. Idempotency-Key. */
  readonly header?: (name: string) => string | undefined;
}

/** What a handler answers: JSON (`body`), text (`text` with its content type) or bytes piped from `stream` (files). */
export type RouteReply =
  | { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> }
  | {
      readonly status: number;
      readonly text: string;
      readonly contentType: string;
      readonly headers?: Record<string, string>;
    }
  | {
      readonly status: number;
      readonly stream: Readable;
      readonly contentType: string;
      readonly headers?: Record<string, string>;
    };

export interface RawBodySpec {
  readonly contentTypes: readonly string[];
  readonly maxBytes: number;
  readonly description: string;
}

export interface ResponseSpec {
  readonly description: string;
  /** JSON Schema of a JSON response. */
  readonly schema?: object;
  /** For non-JSON responses (e.g. Prometheus text). */
  readonly contentType?: string;
}

/**
 * One endpoint, described once: the router mounts it, the validator compiles its
 * schemas and the OpenAPI document is generated from the same object.
 */
export interface Route<B = unknown, Q = unknown, P = unknown> {
  readonly method: HttpMethod;
  /** OpenAPI path template, e.g. `/api/sip-users/{id}`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: Access;
  readonly params?: object;
  readonly query?: object;
  readonly body?: object;
  /**
   * A body that is not JSON (a WAV upload): accepted only with one of `contentTypes`,
   * up to `maxBytes`, and handed to the handler as a Buffer (`body`). Excludes `body`.
   */
  readonly rawBody?: RawBodySpec;
  /**
   * A valid request body, published as the OpenAPI example. Give every string field
   * a value: the hostile-input test sends it with a NUL in each one.
   */
  readonly bodyExample?: Record<string, unknown>;
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  /** Replaces the generic 400 when the body fails its schema (bulk requests report per row). */
  readonly invalidBody?: (errors: ErrorObject[], body: unknown) => AppError;
  handle(ctx: RouteContext<B, Q, P>): Promise<RouteReply>;
}

/** Keeps the handler's typed context while routes of different types share a list. */
export function defineRoute<B = undefined, Q = undefined, P = undefined>(route: Route<B, Q, P>): Route {
  return route;
}

/** `/api/sip-users/{id}` → `/api/sip-users/:id` (Express 5 / path-to-regexp 8). */
export function expressPath(template: string): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}
