import * as ff from '@google-cloud/functions-framework';
import { messageOf, RequestError } from '../shared/domain/errors.js';
import { redact } from '../shared/domain/redact.js';
import { configureLogging, logger, traceFields, withLogContext } from '../shared/logger.js';
import type { PipelineDeps } from '../shared/pipeline/deps.js';
import { type ApiOptions, createApi } from './api/index.js';
import { deployedFunction } from './deployed/index.js';
import { designsScheduled } from './designs-scheduled/index.js';
import { EVENT_FUNCTIONS, SCHEDULED_FUNCTIONS, TASK_FUNCTIONS } from './registry.js';

/**
 * Registers every function with the Functions Framework under its own name, so production runs
 * one `--target` per instance. Dependencies are built on first use (a cold start), not at import.
 * A handler that throws answers 500, so Eventarc, Cloud Tasks or Cloud Scheduler retries.
 *
 * Logs are Cloud Logging's structured JSON from here on (shared/logger.ts); each invocation logs
 * under its function's name and its request's trace (traceparent or X-Cloud-Trace-Context; the
 * CloudEvent's `traceparent` extension for Eventarc deliveries).
 */
export function registerFunctions(getDeps: () => PipelineDeps, api: ApiOptions | (() => ApiOptions)): void {
  configureLogging({ format: 'json' });
  const project = process.env.BATON_GCP_PROJECT || process.env.GOOGLE_CLOUD_PROJECT || process.env.GCLOUD_PROJECT;
  const within = <T>(name: string, headers: Record<string, unknown>, fn: () => T): T =>
    withLogContext({ function: name, ...traceFields(headers, project) }, fn);

  for (const [name, fn] of Object.entries(EVENT_FUNCTIONS)) {
    ff.cloudEvent(name, (event: ff.CloudEvent<unknown>) =>
      within(name, { traceparent: event.traceparent }, () =>
        fn.handle(getDeps(), event).catch((err: unknown) => {
          logger.error(`failed, the trigger will retry: ${messageOf(err)}`);
          // The framework prints what is thrown (its stack, unredacted, as free text): throw a one-line, redacted stand-in.
          const standIn = new Error(`${name} failed and will be retried: ${redact(messageOf(err))}`);
          standIn.stack = standIn.message;
          throw standIn;
        }),
      ),
    );
  }
  for (const [name, fn] of Object.entries(TASK_FUNCTIONS)) {
    ff.http(name, (req, res) =>
      within(name, req.headers, () => {
        fn.handle(getDeps(), req.body).then(
          () => res.status(204).end(),
          (err: unknown) => {
            logger.error(`failed, the queue will retry: ${messageOf(err)}`);
            res.status(500).json({ error: { code: 'retry', message: 'the task failed and will be retried' } });
          },
        );
      }),
    );
  }
  for (const [name, fn] of Object.entries(SCHEDULED_FUNCTIONS)) {
    ff.http(name, (req, res) =>
      within(name, req.headers, () => {
        fn.handle(getDeps()).then(
          () => res.status(204).end(),
          (err: unknown) => {
            logger.error(`failed: ${messageOf(err)}`);
            res.status(500).end();
          },
        );
      }),
    );
  }
  ff.http('designs-scheduled', (req, res) =>
    within('designs-scheduled', req.headers, () => {
      const designs = getDeps().designs;
      if (!designs) {
        res.status(503).json({ error: { code: 'unavailable', message: 'designs are not configured on this target' } });
        return;
      }
      void designsScheduled(() => designs)(req, res);
    }),
  );
  // The public endpoint of deployed designs (allUsers may invoke it; the endpoint's API key authenticates).
  const deployed = deployedFunction(() => {
    const designs = getDeps().designs;
    if (!designs) throw new RequestError('unavailable', 'designs are not configured on this target');
    return designs;
  });
  ff.http('deployed', (req, res) => within('deployed', req.headers, () => void deployed(req, res)));
  let handler: ReturnType<typeof createApi> | null = null;
  ff.http('api', (req, res) =>
    within('api', req.headers, () => {
      try {
        handler ??= createApi(getDeps(), typeof api === 'function' ? api() : api);
      } catch (err) {
        // A configuration error: the operator reads it in the logs; clients get no internals.
        logger.error(messageOf(err));
        res
          .status(503)
          .json({ error: { code: 'unavailable', message: 'the control plane is not configured correctly; its logs say what to fix' } });
        return;
      }
      void handler(req, res);
    }),
  );
}
