import { testCandidate } from '../../shared/pipeline/test-stage.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-deployment-verified. Tests the candidate revision before it gets any traffic. */
export const testCandidateFn = stageFunction('test-candidate', testCandidate);
