/**
 * When to send a refused request again. Only 429 and 503 are retried: the API answers them when
 * it changed nothing (the event bus refused the work, a limit was hit), so sending again is safe
 * even for a POST.
 */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 turns retrying off. */
  retries: number;
  /** The first back-off; each next one doubles, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Exponential back-off with full jitter (`random` in [0, 1)), never below a quarter of the step. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: number): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(step / 4 + (step * 3 * random) / 4);
}

/**
 * Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable. Capped at 5 minutes so a wrong header cannot park a caller for hours.
 */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - nowMs;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), 300_000);
}
