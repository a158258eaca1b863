import { approvalGate as gate } from '../../shared/pipeline/approval-gate.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-deployment-tested. Waits for a person when approval is required; else hands on deployment.approved at once. */
export const approvalGate = stageFunction('approval-gate', gate);
