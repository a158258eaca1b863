import { z } from 'zod';
import { runTask } from '../../shared/designs/execution.js';
import { PermanentError } from '../../shared/domain/errors.js';
import { type TaskFunction, taskFunction } from '../lib/task.js';

const DesignRunTaskSchema = z.object({ execution_id: z.string().min(1).max(200), lapsed_lease: z.string().min(1).max(300).optional() });

/**
 * Cloud Tasks' delivery of an asynchronous or scheduled run, of a synchronous run past its
 * deadline, or of the sweep's hand-over of a run whose worker died: run it, or resume it from its
 * recorded steps.
 */
export const designRun: TaskFunction = taskFunction('design-run', DesignRunTaskSchema, async (deps, task) => {
  if (!deps.designs) throw new PermanentError('design-run: this target has no designs wiring');
  await runTask(deps.designs, task);
  return task.execution_id;
});
