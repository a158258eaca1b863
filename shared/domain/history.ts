import { z } from 'zod';
import { StatusSchema } from './status.js';

/**
 * The audit trail of an agent: every state change of its jobs (written by the stores in the
 * transaction that commits the change, so none is missed or invented) and every operator action
 * (deploy, cancel, rollback, approve, reject, unpin) with who and when (a reject's reason in `detail`). Read newest first with
 * GET /services/{agent_id}/history.
 */
export const HistoryEntrySchema = z.object({
  /** Sortable and unique: the time, then the deployment and a sequence or random part. */
  id: z.string(),
  at: z.string(),
  agent_id: z.string(),
  deployment_id: z.string().nullable(),
  /** created | status | admitted (left the queue) | action */
  event: z.enum(['created', 'status', 'admitted', 'action']),
  from: StatusSchema.nullable(),
  to: StatusSchema.nullable(),
  /** For an action: what the operator did. */
  action: z.enum(['deploy', 'cancel', 'rollback', 'approve', 'reject', 'unpin']).nullable(),
  /** Who: the caller's verified email on Google Cloud, null when anonymous (local); `baton` for the pipeline's own changes. */
  by: z.string().nullable(),
  detail: z.string().nullable(),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
export type OperatorAction = NonNullable<HistoryEntry['action']>;

/** Who made a change the pipeline made on its own. */
export const PIPELINE_ACTOR = 'baton';

interface Tracked {
  deployment_id: string;
  agent_id: string;
  status: z.infer<typeof StatusSchema>;
  queue: unknown;
  updated_at: string;
  current_step: string;
  superseded_by?: string | null;
}

/** The entry a commit makes, or null when it changes no state (progress, logs, claims). */
export function historyOf(before: Tracked | null, after: Tracked, unique: string): HistoryEntry | null {
  const base = {
    id: entryId(after.updated_at, after.deployment_id, unique),
    at: after.updated_at,
    agent_id: after.agent_id,
    deployment_id: after.deployment_id,
    action: null,
    by: PIPELINE_ACTOR,
  };
  if (before === null)
    return { ...base, event: 'created', from: null, to: after.status, detail: after.queue ? 'waiting in the queue' : null };
  if (before.status !== after.status) {
    const detail = after.superseded_by ? `superseded by ${after.superseded_by}` : after.current_step || null;
    return { ...base, event: 'status', from: before.status, to: after.status, detail };
  }
  if (before.queue !== null && after.queue === null)
    return { ...base, event: 'admitted', from: after.status, to: after.status, detail: null };
  return null;
}

export function actionEntry(
  action: OperatorAction,
  a: { agent_id: string; deployment_id: string | null; by: string | null; at: string; detail?: string },
  unique: string,
): HistoryEntry {
  return {
    id: entryId(a.at, a.deployment_id ?? 'service', unique),
    at: a.at,
    agent_id: a.agent_id,
    deployment_id: a.deployment_id,
    event: 'action',
    from: null,
    to: null,
    action,
    by: a.by,
    detail: a.detail ?? null,
  };
}

function entryId(at: string, deploymentId: string, unique: string): string {
  return `${at}_${deploymentId}_${unique}`;
}

/** Newest first. */
export function newestFirst(a: HistoryEntry, b: HistoryEntry): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
