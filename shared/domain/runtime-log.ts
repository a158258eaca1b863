import { z } from 'zod';

/** Cloud Logging's severities, which both targets report. */
export const SEVERITIES = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'] as const;
export const SeveritySchema = z.enum(SEVERITIES);
export type Severity = z.infer<typeof SeveritySchema>;

/** One line a revision wrote, as the logs endpoint returns it. */
export const RuntimeLogEntrySchema = z.object({
  /** Unique within the service's logs (local: an increasing number; gcp: the entry's insertId). */
  id: z.string(),
  time: z.string(),
  revision: z.string(),
  stream: z.enum(['stdout', 'stderr']).nullable(),
  severity: SeveritySchema,
  /** The logger's message when the line is JSON with one, else the line itself. */
  message: z.string(),
});
export type RuntimeLogEntry = z.infer<typeof RuntimeLogEntrySchema>;

/** pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
function numericLevel(level: number): Severity {
  if (level >= 60) return 'CRITICAL';
  if (level >= 50) return 'ERROR';
  if (level >= 40) return 'WARNING';
  if (level >= 30) return 'INFO';
  return 'DEBUG';
}

/** winston's npm levels, syslog's, and Cloud Logging's own names (a `severity` field). */
const NAMED: Record<string, Severity> = {
  emerg: 'EMERGENCY',
  emergency: 'EMERGENCY',
  alert: 'ALERT',
  crit: 'CRITICAL',
  critical: 'CRITICAL',
  fatal: 'CRITICAL',
  error: 'ERROR',
  err: 'ERROR',
  warn: 'WARNING',
  warning: 'WARNING',
  notice: 'NOTICE',
  info: 'INFO',
  http: 'DEBUG',
  verbose: 'DEBUG',
  debug: 'DEBUG',
  silly: 'DEBUG',
  trace: 'DEBUG',
  default: 'DEFAULT',
};

/** The severity a structured log record states (`severity`, else `level` as a number or a name), or null. */
export function severityOfRecord(record: Record<string, unknown>): Severity | null {
  for (const key of ['severity', 'level'] as const) {
    const v = record[key];
    if (typeof v === 'number' && Number.isFinite(v)) return numericLevel(v);
    if (typeof v === 'string') {
      const named = NAMED[v.toLowerCase()];
      if (named) return named;
    }
  }
  return null;
}

/** The message of a structured record: pino/bunyan `msg`, winston `message`. */
export function messageOfRecord(record: Record<string, unknown>): string | null {
  for (const key of ['msg', 'message'] as const) if (typeof record[key] === 'string') return record[key];
  return null;
}

/**
 * Reads one line of output: a JSON logger's line gives its level and message; any other line is
 * kept as it is, at DEFAULT severity (as Cloud Run records unstructured output).
 */
export function readLogLine(text: string): { severity: Severity; message: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') && trimmed.endsWith('}')) {
    try {
      const record: unknown = JSON.parse(trimmed);
      if (typeof record === 'object' && record !== null && !Array.isArray(record)) {
        const r = record as Record<string, unknown>;
        return { severity: severityOfRecord(r) ?? 'DEFAULT', message: messageOfRecord(r) ?? text };
      }
    } catch {
      // Not JSON after all: kept as text.
    }
  }
  return { severity: 'DEFAULT', message: text };
}

/** Revision names are `<service>-<suffix>` (names.ts revisionName), lower case, at most 63 characters. */
export const REVISION_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** `GET /services/{agent_id}/logs` query: unknown parameters are refused, so a typo is not silently ignored. */
export const RuntimeLogQuerySchema = z.strictObject({
  revision: z.string().regex(REVISION_NAME, 'must be a revision name such as shop-3f9a2c1b').optional(),
  follow: z
    .enum(['1', '0', 'true', 'false'], 'must be 1 or 0')
    .optional()
    .transform((v) => v === '1' || v === 'true'),
  lines: z.coerce.number().int('must be a whole number').min(1).max(1000).default(100),
});
export type RuntimeLogQuery = z.infer<typeof RuntimeLogQuerySchema>;
