import { AsyncLocalStorage } from 'node:async_hooks';
import { redact } from './domain/redact.js';

/**
 * The control plane's own log (not a deployment's log, which DeploymentLogs keeps).
 *
 * As functions on Google Cloud (`configureLogging({ format: 'json' })`, done by
 * functions/framework.ts) every entry is one line of JSON on stdout in the shape Cloud Logging
 * reads from Cloud Run's output: `severity`, `message`, `time`, `deployment_id`, `stage`,
 * `function`, and `logging.googleapis.com/trace` (`projects/<project>/traces/<id>`, from the
 * request's traceparent or X-Cloud-Trace-Context header) with its spanId and trace_sampled, so
 * entries are filtered by severity and deployment and grouped under the request's trace. Anywhere
 * else (npm start, the CLI, tests) a person reads it: one line of text, warnings and errors on
 * stderr.
 *
 * Fields come from the call and from the context of the invocation (`withLogContext`, kept across
 * awaits by AsyncLocalStorage), so an adapter deep inside a stage logs with the deployment and the
 * trace of the request that runs it. Every message is redacted before it is written.
 */

export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface LogFields {
  deployment_id?: string;
  stage?: string;
  /** The function (Functions Framework target) handling the invocation. */
  function?: string;
  /** `projects/<project>/traces/<trace id>`. */
  trace?: string;
  span_id?: string;
  trace_sampled?: boolean;
}

export interface LoggingOptions {
  format?: 'json' | 'text';
  /** Where lines go (tests capture them); stdout/stderr otherwise. */
  write?: (line: string, severity: Severity) => void;
}

const TRACE = 'logging.googleapis.com/trace';
const SPAN = 'logging.googleapis.com/spanId';
const SAMPLED = 'logging.googleapis.com/trace_sampled';

const context = new AsyncLocalStorage<LogFields>();
let format: 'json' | 'text' = 'text';
let write: (line: string, severity: Severity) => void = standardStreams;

export function configureLogging(options: LoggingOptions): void {
  if (options.format) format = options.format;
  if (options.write) write = options.write;
}

/**
 * Adds `fields` to the context of the invocation already running (the function framework's), so
 * entries logged after this call within it, even after an inner context ended, carry them.
 */
export function annotateLogContext(fields: LogFields): void {
  const store = context.getStore();
  if (store) Object.assign(store, definedOnly(fields));
}

/** Runs `fn` with `fields` added to every entry logged inside it (and in what it awaits). */
export function withLogContext<T>(fields: LogFields, fn: () => T): T {
  return context.run({ ...context.getStore(), ...definedOnly(fields) }, fn);
}

export function log(severity: Severity, message: string, fields: LogFields = {}): void {
  const all = { ...context.getStore(), ...definedOnly(fields) };
  const text = redact(message);
  write(format === 'json' ? jsonLine(severity, text, all) : textLine(severity, text, all), severity);
}

export const logger = {
  info: (message: string, fields?: LogFields) => log('INFO', message, fields),
  warn: (message: string, fields?: LogFields) => log('WARNING', message, fields),
  error: (message: string, fields?: LogFields) => log('ERROR', message, fields),
};

/**
 * The trace fields for a request, from its W3C `traceparent` (`00-<32 hex>-<16 hex>-<flags>`) or
 * Google's `X-Cloud-Trace-Context` (`<32 hex>/<decimal span>;o=1`); none without a project or a
 * well-formed header.
 */
export function traceFields(headers: Record<string, unknown>, project: string | undefined): LogFields {
  if (!project) return {};
  const header = (name: string) => {
    const v = headers[name];
    return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
  };
  const w3c = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header('traceparent').trim());
  if (w3c && !/^0+$/.test(w3c[1])) {
    return { trace: `projects/${project}/traces/${w3c[1]}`, span_id: w3c[2], trace_sampled: (Number.parseInt(w3c[3], 16) & 1) === 1 };
  }
  const google = /^([0-9a-fA-F]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/.exec(header('x-cloud-trace-context').trim());
  if (google) {
    const span = google[2] ? BigInt(google[2]).toString(16).padStart(16, '0').slice(-16) : undefined;
    return {
      trace: `projects/${project}/traces/${google[1].toLowerCase()}`,
      ...(span ? { span_id: span } : {}),
      ...(google[3] ? { trace_sampled: google[3] === '1' } : {}),
    };
  }
  return {};
}

function jsonLine(severity: Severity, message: string, f: LogFields): string {
  const { trace, span_id, trace_sampled, ...rest } = f;
  return JSON.stringify({
    severity,
    message,
    time: new Date().toISOString(),
    ...rest,
    ...(trace ? { [TRACE]: trace } : {}),
    ...(trace && span_id ? { [SPAN]: span_id } : {}),
    ...(trace && trace_sampled !== undefined ? { [SAMPLED]: trace_sampled } : {}),
  });
}

function textLine(severity: Severity, message: string, f: LogFields): string {
  const where = [f.function, f.deployment_id, f.stage && `[${f.stage}]`].filter(Boolean).join(' ');
  return `baton${where ? ` ${where}` : ''}: ${severity === 'INFO' ? '' : `${severity} `}${message}`;
}

function standardStreams(line: string, severity: Severity): void {
  if (format === 'json' || severity === 'INFO' || severity === 'DEBUG') process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
}

function definedOnly(fields: LogFields): LogFields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== '')) as LogFields;
}
