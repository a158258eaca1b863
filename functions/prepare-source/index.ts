import { prepareSource as useCase } from '../../shared/pipeline/prepare-source.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-deployment-validated. Puts the source in the blob store; hands on deployment.prepared. */
export const prepareSource = stageFunction('prepare-source', useCase);
