import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DesignDeps } from '../../shared/designs/deps.js';
import { RequestError } from '../../shared/domain/errors.js';
import { deployedRoute, sendDesignError } from '../api/designs.js';
import { sendJson } from '../api/http.js';

/**
 * The public face of deployed designs on Google Cloud: `POST /api/deployed/{path}` and nothing
 * else. Its Cloud Run service lets anyone invoke it (Terraform binds run.invoker to allUsers),
 * so callers need no Google identity: the endpoint's own API key (`Authorization: Bearer` or
 * `X-API-Key`) is the authentication, then its rate limit, input schema and size limit, exactly as
 * the api's route of the same path (the same handler). Every other path is 404 and every other
 * method 405, so nothing of the control plane is reachable through it.
 */
export function deployedFunction(deps: () => DesignDeps) {
  let route: ReturnType<typeof deployedRoute> | null = null;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      route ??= deployedRoute(deps());
      const url = new URL(req.url ?? '/', 'http://baton.local');
      const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
      const m = route.pattern.exec(path);
      if (!m) {
        sendJson(res, 404, { error: { code: 'not_found', message: 'no endpoint here: call POST /api/deployed/<endpoint path>' } });
        return;
      }
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        sendJson(res, 405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed on ${path}: use POST` } });
        return;
      }
      await route.handler(req, res, m.slice(1).map(decodePath), url);
    } catch (err) {
      sendDesignError(res, err);
    }
  };
}

function decodePath(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new RequestError('invalid', `the path holds malformed percent-encoding: ${p.slice(0, 80)}`, 'path');
  }
}
