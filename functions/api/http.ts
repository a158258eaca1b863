import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { RequestError } from '../../shared/domain/errors.js';
import { logger } from '../../shared/logger.js';

/** Express (Functions Framework) keeps the raw body here; plain node:http does not. */
type MaybeFrameworkRequest = IncomingMessage & { rawBody?: Buffer };

export const JSON_LIMIT_BYTES = 1024 * 1024;
/**
 * How deep a request's JSON may nest. Documents are copied and validated recursively downstream
 * (structuredClone, zod, Firestore's own 20-level map limit): past a few hundred levels those
 * throw, so a deeper config would be accepted and then break every read of its job.
 */
export const JSON_MAX_DEPTH = 32;

/** Retry-After of a 503: the event bus or a Google API refused; a second is enough for either to recover or fail again. */
export const RETRY_AFTER_S = 1;

const STATUS: Record<RequestError['code'], number> = {
  invalid: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  too_many: 429,
  unavailable: 503,
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Errors become JSON naming the field; anything unexpected is logged here and never shown to the client. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof RequestError) {
    if (err.retry_after_s !== undefined) res.setHeader('retry-after', String(err.retry_after_s));
    // A 503 changed nothing: say when to try again (the clients honour it).
    const headers = err.code === 'unavailable' ? { 'retry-after': String(RETRY_AFTER_S) } : undefined;
    sendJson(
      res,
      STATUS[err.code],
      { error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } },
      headers,
    );
    return;
  }
  logger.error(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, { function: 'api' });
  if (!res.headersSent)
    sendJson(res, 500, { error: { code: 'internal', message: 'internal error; the control plane logged the details' } });
  else res.end();
}

/** Reads the body up to `limit` bytes; past it, a 413 naming the limit. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const raw = (req as MaybeFrameworkRequest).rawBody;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit);
  if (raw) {
    if (raw.length > limit) throw tooLarge(limit);
    return raw;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw tooLarge(limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S): Promise<z.infer<S>> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.includes('application/json'))
    throw new RequestError('invalid', 'send the body as JSON with content-type: application/json', 'content-type');
  const body = await readBody(req, JSON_LIMIT_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RequestError('invalid', `the body is not valid JSON: ${err instanceof Error ? err.message : 'parse error'}`, 'body');
  }
  assertDepth(json);
  return parseWith(schema, json);
}

/** Validates with zod; a 400 names the first field at fault and what is wrong with it. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = (path: readonly PropertyKey[]) => [prefix, ...path.map(String)].filter(Boolean).join('.') || 'body';
  if (issue?.code === 'unrecognized_keys') {
    // Name the unknown field itself, not the object holding it.
    const [first, ...more] = issue.keys.map((k) => at([...issue.path, k]));
    const also = more.length > 0 ? `; also unknown: ${more.join(', ')}` : '';
    throw new RequestError('invalid', `${first}: unknown field${also}`, first);
  }
  const field = at(issue?.path ?? []);
  throw new RequestError('invalid', `${field}: ${issue?.message ?? 'invalid'}`, field);
}

/**
 * Refuses a value nested deeper than `max` levels, naming the top-level field that holds it.
 * Iterative, so the check itself cannot overflow the stack it protects.
 */
export function assertDepth(value: unknown, prefix = '', max = JSON_MAX_DEPTH): void {
  const stack: { v: unknown; depth: number; path: string[] }[] = [{ v: value, depth: 0, path: [] }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop() as (typeof stack)[number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) {
      const field = [prefix, ...path.slice(0, 1)].filter(Boolean).join('.') || 'body';
      throw new RequestError(
        'invalid',
        `${field}: nested more than ${max} levels deep (at ${[prefix, ...path.slice(0, 6)].filter(Boolean).join('.')}…); flatten it to at most ${max} levels`,
        field,
      );
    }
    for (const [k, child] of Object.entries(v)) stack.push({ v: child, depth: depth + 1, path: path.length < 6 ? [...path, k] : path });
  }
}

function tooLarge(limit: number): RequestError {
  return new RequestError(
    'too_large',
    `the request body is larger than ${Math.round(limit / 1024)} KiB, the limit for JSON bodies`,
    'body',
  );
}

export interface EventStream {
  send(event: string, data: unknown, id?: string): void;
  /** Ends the stream (once); also run when the client goes away. */
  close(): void;
  readonly closed: boolean;
}

/** Starts a Server-Sent Events response with keep-alive comments; `onClose` runs once, however it ends. */
export function openEventStream(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { heartbeatMs: number; comment: string; onClose: () => void },
): EventStream {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(`: ${opts.comment}\n\n`);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), opts.heartbeatMs);
  const stream: EventStream = {
    closed: false,
    send(event, data, id) {
      if (stream.closed) return;
      res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
    },
    close() {
      if (stream.closed) return;
      (stream as { closed: boolean }).closed = true;
      clearInterval(heartbeat);
      opts.onClose();
      res.end();
    },
  };
  req.on('close', () => stream.close());
  return stream;
}
