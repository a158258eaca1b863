import { BuildLogTaskSchema } from '../../shared/domain/events.js';
import { pollBuildLog } from '../../shared/pipeline/build-log.js';
import { taskFunction } from '../lib/task.js';

/** Trigger: Cloud Tasks queue baton-build-log. One read of a running build's log into the deployment's log. */
export const buildLog = taskFunction('build-log', BuildLogTaskSchema, pollBuildLog);
