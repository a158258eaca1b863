import { z } from 'zod';
import {
  messageOfRecord,
  type RuntimeLogEntry,
  readLogLine,
  type Severity,
  SeveritySchema,
  severityOfRecord,
} from '../../domain/runtime-log.js';
import type { FollowOptions, RuntimeLogScope, RuntimeLogs } from '../../ports/index.js';

/** An authorised HTTP client (google-auth-library's GoogleAuth, or a pass-through one for a fake). */
export interface LoggingHttp {
  request<T>(opts: { url: string; method: 'POST'; data: unknown }): Promise<{ data: T }>;
}

export interface LoggingClient {
  http: LoggingHttp;
  /** https://logging.googleapis.com, or a fake's base URL. */
  endpoint: string;
}

const LogEntrySchema = z.looseObject({
  insertId: z.string(),
  timestamp: z.string(),
  severity: z.string().optional(),
  logName: z.string().optional(),
  textPayload: z.string().optional(),
  jsonPayload: z.record(z.string(), z.unknown()).optional(),
  resource: z.looseObject({ labels: z.record(z.string(), z.string()).optional() }).optional(),
});
const ListResponseSchema = z.looseObject({
  entries: z.array(LogEntrySchema).optional(),
  nextPageToken: z.string().optional(),
});
type LogEntry = z.infer<typeof LogEntrySchema>;

/** entries:list answers at most 1000 entries a page, and may answer fewer with a page token. */
const MAX_PAGES = 5;

/**
 * Runtime logs on Google Cloud: what Cloud Run recorded from a revision's stdout and stderr, read
 * with Cloud Logging's entries:list (REST; @google-cloud/logging is not a dependency). Following
 * polls every `followIntervalMs`: entries:list has a per-project read quota, so not often. An
 * entry ingested later than entries already seen with a newer timestamp is missed by a follow.
 */
export class CloudLoggingRuntimeLogs implements RuntimeLogs {
  constructor(
    private readonly client: LoggingClient,
    private readonly config: { BATON_GCP_PROJECT: string; BATON_GCP_REGION: string },
    private readonly followIntervalMs = 5000,
  ) {}

  async read(scope: RuntimeLogScope, lines: number): Promise<RuntimeLogEntry[]> {
    const found: LogEntry[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES && found.length < lines; page++) {
      const res = await this.list(scope, { orderBy: 'timestamp desc', pageSize: lines - found.length, pageToken });
      found.push(...(res.entries ?? []));
      pageToken = res.nextPageToken;
      if (!pageToken) break;
    }
    return found.reverse().map((e) => toEntry(e, scope));
  }

  follow(scope: RuntimeLogScope, after: RuntimeLogEntry | null, onEntry: (entry: RuntimeLogEntry) => void, opts: FollowOptions): void {
    let since = after?.time ?? new Date().toISOString();
    // Entries at `since` itself come again (the filter is >=): the ids seen at that instant are skipped.
    let seenAtSince = new Set(after ? [after.id] : []);
    const tick = async () => {
      const res = await this.list(scope, { orderBy: 'timestamp asc', pageSize: 1000, since });
      for (const e of res.entries ?? []) {
        if (e.timestamp === since && seenAtSince.has(e.insertId)) continue;
        if (e.timestamp !== since) {
          since = e.timestamp;
          seenAtSince = new Set();
        }
        seenAtSince.add(e.insertId);
        onEntry(toEntry(e, scope));
      }
    };
    const loop = () => {
      if (opts.signal.aborted) return;
      tick().then(
        () => {
          if (!opts.signal.aborted) setTimeout(loop, this.followIntervalMs).unref();
        },
        (err: unknown) => opts.onError(err),
      );
    };
    setTimeout(loop, this.followIntervalMs).unref();
  }

  private async list(
    scope: RuntimeLogScope,
    q: { orderBy: string; pageSize: number; pageToken?: string; since?: string },
  ): Promise<z.infer<typeof ListResponseSchema>> {
    const res = await this.client.http.request<unknown>({
      url: `${this.client.endpoint}/v2/entries:list`,
      method: 'POST',
      data: {
        resourceNames: [`projects/${this.config.BATON_GCP_PROJECT}`],
        filter: revisionLogFilter(this.config, scope, q.since),
        orderBy: q.orderBy,
        pageSize: q.pageSize,
        ...(q.pageToken ? { pageToken: q.pageToken } : {}),
      },
    });
    return ListResponseSchema.parse(res.data);
  }
}

/** Cloud Logging's query language: the revision's (or the service's) stdout and stderr, not its request log. */
export function revisionLogFilter(
  config: { BATON_GCP_PROJECT: string; BATON_GCP_REGION: string },
  scope: RuntimeLogScope,
  since?: string,
): string {
  const logName = (stream: string) => `logName=${quote(`projects/${config.BATON_GCP_PROJECT}/logs/run.googleapis.com%2F${stream}`)}`;
  return [
    'resource.type="cloud_run_revision"',
    `resource.labels.service_name=${quote(scope.service)}`,
    ...(scope.revision ? [`resource.labels.revision_name=${quote(scope.revision)}`] : []),
    `resource.labels.location=${quote(config.BATON_GCP_REGION)}`,
    `(${logName('stdout')} OR ${logName('stderr')})`,
    ...(since ? [`timestamp>=${quote(since)}`] : []),
  ].join(' AND ');
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function toEntry(e: LogEntry, scope: RuntimeLogScope): RuntimeLogEntry {
  const stated = SeveritySchema.safeParse(e.severity);
  const text = e.textPayload ?? (e.jsonPayload ? (messageOfRecord(e.jsonPayload) ?? JSON.stringify(e.jsonPayload)) : '');
  // Cloud Run maps only a `severity` field; pino's numeric `level` and winston's `level` stay in the payload.
  let severity: Severity = stated.success ? stated.data : 'DEFAULT';
  if (severity === 'DEFAULT') severity = e.jsonPayload ? (severityOfRecord(e.jsonPayload) ?? 'DEFAULT') : readLogLine(text).severity;
  const stream = e.logName?.endsWith('%2Fstderr') ? 'stderr' : e.logName?.endsWith('%2Fstdout') ? 'stdout' : null;
  return {
    id: e.insertId,
    time: e.timestamp,
    revision: e.resource?.labels?.revision_name ?? scope.revision ?? '',
    stream,
    severity,
    message: e.textPayload !== undefined ? readLogLine(text).message : text,
  };
}
