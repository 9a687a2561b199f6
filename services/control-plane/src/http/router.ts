import { pipeline } from 'node:stream';
import express, { type RequestHandler, type Response, type Router } from 'express';
import { AppError } from '../../../common/src/errors';
import { authorize } from '../auth/access';
import type { TokenVerifier } from '../auth/tokens';
import { expressPath, type Route, type RouteReply } from './route';
import type { SchemaValidator } from './validation';

/** Largest JSON body accepted (a bulk request of 1000 users fits with room). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

export interface RouterDeps {
  readonly verifier: TokenVerifier;
  readonly validator: SchemaValidator;
}

/**
 * Mounts routes in this order per request: record the route (logs, metrics) →
 * authenticate and authorize → parse the JSON body → validate params, query and
 * body → handler. Bodies are parsed only after the token checked out.
 */
export function buildRouter(routes: readonly Route[], deps: RouterDeps): Router {
  const router = express.Router({ strict: false });
  const parseJson = express.json({ limit: MAX_BODY_BYTES, type: 'application/json', strict: true });
  for (const route of routes) {
    const checkParams = route.params ? deps.validator.compile('params', route.params) : undefined;
    // Routes that declare no query parameters ignore the query string (cache busters, probes).
    const checkQuery = route.query ? deps.validator.compile('query', route.query) : undefined;
    const checkBody = route.body ? deps.validator.compile('body', route.body, route.invalidBody) : undefined;

    const begin: RequestHandler = async (req, res, next) => {
      res.locals['route'] = route.path;
      const principal = await authorize(deps.verifier, req.headers.authorization, route.access);
      res.locals['principal'] = principal;
      res.locals['role'] = principal?.role;
      if (checkBody && !req.is('application/json')) {
        throw new AppError('ERR_UNSUPPORTED_MEDIA_TYPE', 'request body must be JSON with Content-Type: application/json');
      }
      next();
    };
    const handle: RequestHandler = async (req, res) => {
      const params = checkParams ? checkParams({ ...req.params }) : undefined;
      // Express 5's req.query is a getter that reparses on each read: validate a copy.
      const query = checkQuery ? checkQuery({ ...(req.query as Record<string, unknown>) }) : undefined;
      const body = checkBody ? checkBody(req.body) : undefined;
      const reply = await route.handle({
        body,
        query,
        params,
        principal: res.locals['principal'],
        requestId: res.locals['requestId'] as string,
        header: (name: string) => req.get(name),
      });
      send(res, reply);
    };
    const chain = checkBody ? [begin, parseJson, handle] : [begin, handle];
    router[route.method](expressPath(route.path), ...chain);
  }
  return router;
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
