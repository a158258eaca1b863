import * as ff from '@google-cloud/functions-framework';
import type { PipelineDeps } from '../shared/pipeline/deps.js';
import { type ApiOptions, createApi } from './api/index.js';
import { EVENT_FUNCTIONS, SCHEDULED_FUNCTIONS, TASK_FUNCTIONS } from './registry.js';

/**
 * Registers every function with the Functions Framework under its own name, so production runs
 * one `--target` per instance. Dependencies are built on first use (a cold start), not at import.
 * A handler that throws answers 500, so Eventarc, Cloud Tasks or Cloud Scheduler retries.
 */
export function registerFunctions(getDeps: () => PipelineDeps, api: ApiOptions): void {
  for (const [name, fn] of Object.entries(EVENT_FUNCTIONS)) {
    ff.cloudEvent(name, (event: ff.CloudEvent<unknown>) => fn.handle(getDeps(), event));
  }
  for (const [name, fn] of Object.entries(TASK_FUNCTIONS)) {
    ff.http(name, (req, res) => {
      fn.handle(getDeps(), req.body).then(
        () => res.status(204).end(),
        (err: unknown) => {
          console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
          res.status(500).json({ error: { code: 'retry', message: 'the task failed and will be retried' } });
        },
      );
    });
  }
  for (const [name, fn] of Object.entries(SCHEDULED_FUNCTIONS)) {
    ff.http(name, (_req, res) => {
      fn.handle(getDeps()).then(
        () => res.status(204).end(),
        (err: unknown) => {
          console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
          res.status(500).end();
        },
      );
    });
  }
  let handler: ReturnType<typeof createApi> | null = null;
  ff.http('api', (req, res) => {
    try {
      handler ??= createApi(getDeps(), api);
    } catch (err) {
      // A configuration error: the operator reads it in the logs; clients get no internals.
      console.error(`api: ${err instanceof Error ? err.message : String(err)}`);
      res
        .status(503)
        .json({ error: { code: 'unavailable', message: 'the control plane is not configured correctly; its logs say what to fix' } });
      return;
    }
    void handler(req, res);
  });
}
