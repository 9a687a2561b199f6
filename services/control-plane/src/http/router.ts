import { pipeline } from 'node:stream';
import express, { type RequestHandler, type Response, type Router } from 'express';
import { AppError } from '../../../common/src/errors';
import { authorize } from '../auth/access';
import { bearerToken } from '../auth/access';
import type { Principal, TokenVerifier } from '../auth/tokens';
import type { RateLimiter } from './rate-limit';
import { expressPath, type Route, type RouteReply } from './route';
import { normalizeAddress } from './source-allowlist';
import { mergeValidationErrors, type SchemaValidator } from './validation';

/** Largest JSON body accepted (a bulk request of 1000 users fits with room). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

// The query schema of a route that declares none: any parameters, checked for hostile values only.
const ANY_QUERY = { type: 'object' } as const;

export interface RouterDeps {
  readonly verifier: TokenVerifier;
  readonly validator: SchemaValidator;
  /** Counts each verified token (sources are counted before routing). */
  readonly limiter?: Pick<RateLimiter, 'token'>;
}

/**
 * Mounts routes in this order per request: record the route (logs, metrics) →
 * authenticate and authorize → count the verified token (rate limit) → parse the
 * JSON body → validate params, query and body → handler. Bodies are parsed only
 * after the token checked out.
 */
export function buildRouter(routes: readonly Route[], deps: RouterDeps): Router {
  const router = express.Router({ strict: false });
  const parseJson = express.json({ limit: MAX_BODY_BYTES, type: 'application/json', strict: true });
  for (const route of routes) {
    const checkParams = route.params ? deps.validator.compile('params', route.params) : undefined;
    // Routes that declare no query parameters ignore the query string (cache busters,
    // probes), but it still may not carry what no route may take (a NUL, a huge number).
    const checkQuery = deps.validator.compile('query', route.query ?? ANY_QUERY);
    const checkBody = route.body ? deps.validator.compile('body', route.body, route.invalidBody) : undefined;

    const begin: RequestHandler = async (req, res, next) => {
      res.locals['route'] = route.path;
      const principal = await authorize(deps.verifier, req.headers.authorization, route.access);
      res.locals['principal'] = principal;
      res.locals['role'] = principal?.role;
      const token = principal ? bearerToken(req.headers.authorization) : undefined;
      if (token !== undefined)
        deps.limiter?.token(token, res, normalizeAddress(req.socket.remoteAddress), principal?.subject);
      if (checkBody && !req.is('application/json')) {
        throw new AppError(
          'ERR_UNSUPPORTED_MEDIA_TYPE',
          'request body must be JSON with Content-Type: application/json',
        );
      }
      if (route.rawBody && !req.is([...route.rawBody.contentTypes])) {
        throw new AppError(
          'ERR_UNSUPPORTED_MEDIA_TYPE',
          `request body must be sent with Content-Type: ${route.rawBody.contentTypes.join(' or ')}`,
        );
      }
      next();
    };
    const handle: RequestHandler = async (req, res) => {
      // All three are checked, so one answer names every bad field wherever it is.
      const failures: AppError[] = [];
      const params = checkParams ? collect(failures, () => checkParams({ ...req.params })) : undefined;
      // Express 5's req.query is a getter that reparses on each read: validate a copy.
      const checked = collect(failures, () => checkQuery({ ...(req.query as Record<string, unknown>) }));
      const query = route.query ? checked : undefined;
      const body = checkBody
        ? collect(failures, () => checkBody(req.body))
        : route.rawBody
          ? rawBuffer(req.body)
          : undefined;
      if (failures.length > 0) throw mergeValidationErrors(failures);
      const reply = await route.handle({
        body,
        query,
        params,
        principal: res.locals['principal'] as Principal | undefined,
        requestId: res.locals['requestId'] as string,
        header: (name: string) => req.get(name),
      });
      send(res, reply);
    };
    const parseRaw = route.rawBody ? express.raw({ limit: route.rawBody.maxBytes, type: () => true }) : undefined;
    const chain = checkBody ? [begin, parseJson, handle] : parseRaw ? [begin, parseRaw, handle] : [begin, handle];
    router[route.method](expressPath(route.path), ...chain);
  }
  return router;
}

function collect<T>(failures: AppError[], check: () => T): T | undefined {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'ERR_VALIDATION') throw err;
    failures.push(err);
    return undefined;
  }
}

/** express.raw leaves `req.body` undefined when there was no body at all. */
function rawBuffer(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}

function send(res: Response, reply: RouteReply): void {
  res.status(reply.status);
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  if ('stream' in reply) {
    res.type(reply.contentType);
    // pipeline destroys the source when the client goes away (closing its file) and the
    // response when the source fails mid-way: the client sees a truncated body, not a lie.
    pipeline(reply.stream, res, () => undefined);
    return;
  }
  if ('text' in reply) {
    res.type(reply.contentType).send(reply.text);
    return;
  }
  if (reply.status === 204) {
    res.end();
    return;
  }
  res.json(reply.body);
}
