/** What the probe got: an HTTP answer, or no answer (`refused`: nothing listens there yet). */
export type ProbeAnswer = { status: number; body: string } | { error: string; refused?: boolean };

/** Probed when a request names no health_path. */
export const DEFAULT_HEALTH_PATH = '/health';

const OPTION = '--health-path (deployment_options.health_path)';

/**
 * What one check of a revision found:
 * - healthy (with a note for the log when it was verified some other way than by its health path);
 * - warming: it answered 503 or refused the connection, as a service still starting does: poll
 *   again until the start timeout;
 * - unhealthy: a failure that counts towards the attempts, with what would fix it;
 * - no-health-route: the default path answered 404, so verify as Cloud Run does with no probe.
 */
export type Verdict =
  | { kind: 'healthy'; note: string | null }
  | { kind: 'warming'; reason: string }
  | { kind: 'unhealthy'; reason: string; hint: string };
export type HealthCheck = Verdict | { kind: 'no-health-route' };

export const NO_HEALTH_ROUTE_NOTE = 'no /health endpoint; verified by TCP and /: set health_path to check one';

/**
 * Judges the answer of the health path: `explicitPath` is the request's health_path (absent: the
 * default, where a 404 means the app has no such route and is not a failure by itself).
 */
export function judgeHealthAnswer(answer: ProbeAnswer, explicitPath: string | undefined): HealthCheck {
  const path = explicitPath ?? DEFAULT_HEALTH_PATH;
  if ('error' in answer) return answer.refused ? { kind: 'warming', reason: answer.error } : unanswered(answer.error, path);
  if (answer.status === 404) {
    if (explicitPath === undefined) return { kind: 'no-health-route' };
    return {
      kind: 'unhealthy',
      reason: `health endpoint ${path} answered HTTP 404 (no such route)`,
      hint: `Set ${OPTION} to a path the service answers with 2xx, or leave it out to verify by TCP and / as Cloud Run does`,
    };
  }
  const verdict = evaluateHealth(answer.status, answer.body);
  if (verdict.healthy) return { kind: 'healthy', note: null };
  if (answer.status === 503) return { kind: 'warming', reason: verdict.reason };
  return {
    kind: 'unhealthy',
    reason: verdict.reason,
    hint: `Fix the service so GET ${path} answers 2xx with every dependency up, or set ${OPTION} to the endpoint that does`,
  };
}

/** Judges `/` when there is no health route: Cloud Run's default only asks that the port serves; below 500 passes. */
export function judgeRootAnswer(answer: ProbeAnswer): Verdict {
  if ('error' in answer) return answer.refused ? { kind: 'warming', reason: answer.error } : unanswered(answer.error, '/');
  if (answer.status < 500) return { kind: 'healthy', note: NO_HEALTH_ROUTE_NOTE };
  const reason = `there is no ${DEFAULT_HEALTH_PATH} endpoint (404) and GET / answered HTTP ${answer.status}`;
  if (answer.status === 503) return { kind: 'warming', reason };
  return {
    kind: 'unhealthy',
    reason,
    hint: `Fix the service so GET / answers below 500, or set ${OPTION} to its health endpoint`,
  };
}

/** The message when warming outlasts the start timeout. */
export function warmingHint(path: string): string {
  return `If it needs longer to warm up, raise --start-timeout (deployment_options.start_timeout_seconds); if ${path} is not its health endpoint, set ${OPTION}`;
}

function unanswered(error: string, path: string): Verdict {
  return {
    kind: 'unhealthy',
    reason: error,
    hint: `Check that the service answers GET ${path} quickly (BATON_HEALTH_TIMEOUT_MS), or set ${OPTION} to an endpoint that does`,
  };
}

/**
 * Reads a health response: 2xx, and when the body is JSON with a `services` map, every
 * dependency in it healthy (true, "ok"/"healthy"/"up", or an object saying so).
 */
export function evaluateHealth(status: number, body: string): { healthy: true } | { healthy: false; reason: string } {
  if (status < 200 || status > 299) return { healthy: false, reason: `health endpoint answered HTTP ${status}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { healthy: true };
  }
  if (!isRecord(parsed) || !isRecord(parsed.services)) return { healthy: true };
  const down = Object.entries(parsed.services)
    .filter(([, v]) => !dependencyUp(v))
    .map(([k]) => k);
  return down.length === 0 ? { healthy: true } : { healthy: false, reason: `dependencies reported unhealthy: ${down.join(', ')}` };
}

const UP = new Set(['ok', 'healthy', 'up', 'pass', 'true']);

function dependencyUp(v: unknown): boolean {
  if (v === true) return true;
  if (typeof v === 'string') return UP.has(v.toLowerCase());
  if (isRecord(v)) {
    if (v.healthy === true) return true;
    if (typeof v.status === 'string') return UP.has(v.status.toLowerCase());
  }
  return false;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
