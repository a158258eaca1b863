import { promoteRevision } from '../../shared/pipeline/promote.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-deployment-approved (approved by a person, or no approval required). Moves traffic (all at once, or the first canary step). */
export const promote = stageFunction('promote', promoteRevision);
