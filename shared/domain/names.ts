import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Lowercase letters, digits, '-' and '_', starting with a letter or digit: safe as a service name, a path and a key. */
export const AGENT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$/;

/**
 * Cloud Run's rules for a service id: lowercase letters, digits and '-', beginning with a letter,
 * not ending with '-', fewer than 50 characters (run/v2 CreateServiceRequest.service_id).
 */
export const CLOUD_RUN_SERVICE_ID = /^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$/;
/** A tag's URL is `https://{tag}---{service}-…`: Cloud Run refuses a tag and service name longer than this together. */
export const MAX_TAG_WITH_SERVICE = 46;
/** The tag a new revision is verified behind; the longest tag Baton sets. */
export const CANDIDATE_TAG = 'candidate';
/** Every service name leaves room for the candidate tag. */
export const MAX_SERVICE_NAME = MAX_TAG_WITH_SERVICE - CANDIDATE_TAG.length;

/** The suffix of a name that had to change: hex of the agent id's SHA-256. */
const SHORT_HASH = 5;
/** A name cut short keeps less of the id, so more of the hash stands for the rest. */
const LONG_HASH = 10;
const HASHED = /^(.+)-([0-9a-f]{5})$/;
/** Past this many '-' before a hash-like suffix, finding the owner costs too much: such an id is refused. */
const MAX_OWNER_SEARCH_HYPHENS = 10;

export const AgentIdSchema = z
  .string()
  .regex(AGENT_ID_PATTERN, 'must be 1-40 characters of lowercase letters, digits, "-" or "_", starting and ending with a letter or digit')
  // Baton's own Cloud Run services are named baton-…: an agent must never replace one.
  .refine((id) => !/^baton[-_]/.test(id), 'must not start with "baton-": that prefix is reserved for Baton\'s own services')
  .refine((id) => ownerOfName(id) === null, 'is the Cloud Run service name Baton gives another agent id: choose another id');

/**
 * The Cloud Run service for an agent id: the id itself when Cloud Run accepts it with room for the
 * candidate tag; otherwise the id made valid ('_' → '-', a leading digit prefixed with 'a', cut to
 * fit) plus a hash of the id, so `my_agent` and `my-agent` stay two services. Names that had a hash
 * before (ids with '_' of up to 31 characters) keep the same one.
 */
export function serviceName(agentId: string): string {
  return isKeptAsIs(agentId) ? agentId : hashedName(agentId);
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

function isKeptAsIs(id: string): boolean {
  return id.length <= MAX_SERVICE_NAME && CLOUD_RUN_SERVICE_ID.test(id);
}

function validForm(id: string): string {
  return (/^[0-9]/.test(id) ? `a${id}` : id).replace(/_/g, '-');
}

function hashedName(id: string): string {
  const form = validForm(id);
  const hashLength = form.length + 1 + SHORT_HASH <= MAX_SERVICE_NAME ? SHORT_HASH : LONG_HASH;
  const kept = form.slice(0, MAX_SERVICE_NAME - 1 - hashLength).replace(/-+$/, '');
  return `${kept}-${hexHash(id).slice(0, hashLength)}`;
}

const hexHash = (id: string) => createHash('sha256').update(id).digest('hex');

/**
 * For an id that Cloud Run would take as it is but that looks like `name-xxxxx`: the other agent
 * id (not cut short) whose service it would be, or null. Such an id would deploy over that
 * agent's service, so it is refused (as is one too costly to search: `id` itself stands for
 * "unknown"). Ids cut short carry a 10-character hash instead, not searched.
 */
function ownerOfName(id: string): string | null {
  if (!isKeptAsIs(id)) return null;
  const m = HASHED.exec(id);
  if (!m) return null;
  const [, form, hash] = m;
  const bases = /^a[0-9]/.test(form) ? [form, form.slice(1)] : [form];
  for (const base of bases) {
    const hyphens = [...base].flatMap((c, i) => (c === '-' ? [i] : []));
    if (hyphens.length > MAX_OWNER_SEARCH_HYPHENS) return id;
    // Each choice of which '-' were '_' is an id that maps to `form`.
    for (let mask = 0; mask < 2 ** hyphens.length; mask++) {
      const chars = [...base];
      hyphens.forEach((at, bit) => {
        if (mask & (1 << bit)) chars[at] = '_';
      });
      const candidate = chars.join('');
      if (candidate === id || !AGENT_ID_PATTERN.test(candidate) || isKeptAsIs(candidate)) continue;
      // `form-hash` fits, so its owner's name is exactly that: only the hash needs comparing.
      if (hexHash(candidate).slice(0, SHORT_HASH) === hash) return candidate;
    }
  }
  return null;
}
