import { TestSliceTaskSchema } from '../../shared/domain/events.js';
import { testSlice } from '../../shared/pipeline/test-stage.js';
import { taskFunction } from '../lib/task.js';

/** Trigger: Cloud Tasks queue baton-test-slice. One slice of a load test of the candidate. */
export const testSliceFn = taskFunction('test-slice', TestSliceTaskSchema, testSlice);
