import type { z } from 'zod';
import { annotateLogContext, logger, withLogContext } from '../../shared/logger.js';
import type { PipelineDeps } from '../../shared/pipeline/deps.js';

/** A function that Cloud Tasks calls over HTTP; the body is the task payload. Throwing answers 500 so the queue retries. */
export type TaskFunction = (deps: PipelineDeps, body: unknown) => Promise<void>;

export function taskFunction<S extends z.ZodType>(
  name: string,
  schema: S,
  useCase: (deps: PipelineDeps, task: z.infer<S>) => Promise<string>,
): TaskFunction {
  return async (deps, body) => {
    const task = schema.safeParse(body);
    if (!task.success) {
      // A malformed task can never succeed: acknowledge it rather than retry it for days.
      logger.warn(`ignoring a malformed task: ${task.error.issues[0]?.message ?? 'invalid'}`, { function: name });
      return;
    }
    const id = (task.data as { deployment_id?: unknown }).deployment_id;
    const deployment_id = typeof id === 'string' ? id : undefined;
    annotateLogContext({ deployment_id });
    await withLogContext({ deployment_id }, () => useCase(deps, task.data));
  };
}
