import { RequestError } from './errors.js';
import type { Pin } from './job.js';

/** The 409 of a deployment of a pinned agent: which rollback pinned it, why, and the two ways on. */
export function pinnedError(agentId: string, pin: Pin): RequestError {
  return new RequestError(
    'conflict',
    `agent ${agentId} is pinned to revision ${pin.revision} by rollback ${pin.rollback_id} (${pin.reason}, ${pin.pinned_at}); deploy with "unpin": true (baton deploy --unpin) or POST /services/${agentId}/unpin first`,
    'unpin',
  );
}
