import { deployRevision } from '../../shared/pipeline/deploy.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-deployment-built. A new revision with no traffic; the first readiness poll task. */
export const deploy = stageFunction('deploy', deployRevision);
