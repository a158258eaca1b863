import { validateDeployment } from '../../shared/pipeline/validate.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-deployment-requested. Preflight checks; hands on deployment.validated. */
export const validate = stageFunction('validate', validateDeployment);
