import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { DesignDeps } from '../../shared/designs/deps.js';
import { fireSchedule } from '../../shared/designs/runs.js';
import { parseWith, readBody, sendError, sendJson } from '../api/http.js';

const FiringSchema = z.strictObject({ deployment_id: z.string().min(1).max(200) });

/**
 * Cloud Scheduler's HTTP target (IAM lets only the scheduler's service account invoke it, with
 * an OIDC token): one firing of an endpoint's schedule starts a run through the queue, or logs a
 * `skipped` run while the previous one is still going.
 */
export function designsScheduled(deps: () => DesignDeps) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const raw = (await readBody(req, 4096)).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(raw || '{}');
      } catch {
        json = null;
      }
      const body = parseWith(FiringSchema, json);
      sendJson(res, 200, { result: await fireSchedule(deps(), body.deployment_id) });
    } catch (err) {
      sendError(res, err);
    }
  };
}
