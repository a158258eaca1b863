import type { z } from 'zod';
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
      console.warn(`${name}: ignoring a malformed task: ${task.error.issues[0]?.message ?? 'invalid'}`);
      return;
    }
    await useCase(deps, task.data);
  };
}
