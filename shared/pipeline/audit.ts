import { messageOf } from '../domain/errors.js';
import { actionEntry, type OperatorAction } from '../domain/history.js';
import { logger } from '../logger.js';
import type { PipelineDeps } from './deps.js';

/** The audit trail's use cases: operator actions appended, an agent's history read. */

/**
 * An operator's action in the agent's audit trail. A failure to record it is logged, not thrown:
 * the action itself has already been committed. `at` is when it was committed (now unless given).
 */
export async function recordAction(
  deps: PipelineDeps,
  action: OperatorAction,
  a: { agent_id: string; deployment_id: string | null; by: string | null; detail?: string; at?: string },
): Promise<void> {
  try {
    await deps.jobs.appendHistory(actionEntry(action, { ...a, at: a.at ?? deps.clock.now().toISOString() }, deps.newId()));
  } catch (err) {
    logger.error(`could not record ${action} of ${a.agent_id} in its history: ${messageOf(err)}`, {
      deployment_id: a.deployment_id ?? undefined,
    });
  }
}

/** GET /services/{agent_id}/history: newest first. */
export async function serviceHistory(deps: PipelineDeps, agentId: string, limit: number) {
  return { agent_id: agentId, history: await deps.jobs.history(agentId, limit) };
}
