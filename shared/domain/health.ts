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
