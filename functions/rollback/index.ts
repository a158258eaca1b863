import { rollBack } from '../../shared/pipeline/rollback.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-rollback-requested. Returns traffic to the last good revision. */
export const rollback = stageFunction('rollback', rollBack);
