import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Lowercase letters, digits, '-' and '_', starting with a letter or digit: safe as a service name, a path and a key. */
export const AGENT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$/;

export const AgentIdSchema = z
  .string()
  .regex(AGENT_ID_PATTERN, 'must be 1-40 characters of lowercase letters, digits, "-" or "_", starting and ending with a letter or digit')
  // Baton's own Cloud Run services are named baton-…: an agent must never replace one.
  .refine((id) => !/^baton[-_]/.test(id), 'must not start with "baton-": that prefix is reserved for Baton\'s own services');

/**
 * Cloud Run service names allow no '_'. An id with one gets a short hash of itself as a suffix, so
 * `my_agent` and `my-agent` stay two services (at most 40 + 6 characters, under Cloud Run's 49).
 */
export function serviceName(agentId: string): string {
  if (!agentId.includes('_')) return agentId;
  return `${agentId.replace(/_/g, '-')}-${createHash('sha256').update(agentId).digest('hex').slice(0, 5)}`;
}

/** Revisions are named from the deployment so a retry redeploys the same revision, never a new one. */
export function revisionName(agentId: string, deploymentId: string): string {
  return `${serviceName(agentId)}-${deploymentId.replace(/-/g, '').slice(0, 12)}`;
}

/** Task names must be unique for about an hour and spread across the key space: hash prefix first. */
export function taskName(deploymentId: string, step: string, attempt: number): string {
  const base = `${deploymentId}-${step}-${attempt}`;
  const prefix = createHash('sha256').update(base).digest('hex').slice(0, 8);
  return `${prefix}-${base}`.replace(/[^A-Za-z0-9_-]/g, '-');
}
