import { z } from 'zod';
import type { Job } from './schemas.js';

/**
 * The API's error codes (its `{"error": {"code", "message", "field"}}` body), each with a class
 * of its own so a caller can branch with `instanceof` or on `code`. A code this client does not
 * know yet, or an answer that is not Baton's error body, is a plain BatonApiError. A copy of the
 * server's list (shared/api/schemas.ts: this package is published on its own), kept equal by
 * test/unit/client-error-codes.test.ts.
 */
export const API_ERROR_CODES = [
  'invalid',
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'conflict',
  'too_large',
  'rate_limited',
  'unavailable',
  'internal',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

const ApiErrorBodySchema = z.object({
  error: z.looseObject({ code: z.string(), message: z.string(), field: z.string().nullish() }),
});

/** The API refused a request: HTTP status, the server's error code and the field at fault. */
export class BatonApiError extends Error {
  override readonly name: string = 'BatonApiError';
  readonly status: number;
  /** One of API_ERROR_CODES, `forbidden` (Firestore rules), `http_error` (not Baton's body), or a newer server's code. */
  readonly code: ApiErrorCode | (string & {});
  readonly field: string | undefined;
  /** The server's own message, without the decoration this error's message adds. */
  readonly serverMessage: string;
  /** Retry-After of the answer, in milliseconds, when it had one. */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, code: string, serverMessage: string, field?: string, retryAfterMs?: number) {
    super(`${serverMessage}${field ? ` (field: ${field})` : ''} [HTTP ${status} ${code}]`);
    this.status = status;
    this.code = code;
    this.field = field;
    this.serverMessage = serverMessage;
    this.retryAfterMs = retryAfterMs;
  }
}

/** 400: the request is wrong; `field` names what to fix. Sending it again changes nothing. */
export class BatonInvalidRequestError extends BatonApiError {
  override readonly name = 'BatonInvalidRequestError';
}
/** 401: a deployed design's endpoint wants its API key (a bearer token). */
export class BatonUnauthorizedError extends BatonApiError {
  override readonly name = 'BatonUnauthorizedError';
}
/** 404: no such deployment, service or design (or no such route). */
export class BatonNotFoundError extends BatonApiError {
  override readonly name = 'BatonNotFoundError';
}
/** 409: refused in the current state (a deployment of the agent is running, not rollbackable …). */
export class BatonConflictError extends BatonApiError {
  override readonly name = 'BatonConflictError';
}
/** 413: the body or upload is over the server's limit. */
export class BatonTooLargeError extends BatonApiError {
  override readonly name = 'BatonTooLargeError';
}
/** 429/503: try again later (the client already retried `retries` times with back-off). */
export class BatonUnavailableError extends BatonApiError {
  override readonly name = 'BatonUnavailableError';
}

const BY_CODE: Record<string, typeof BatonApiError> = {
  invalid: BatonInvalidRequestError,
  unauthorized: BatonUnauthorizedError,
  rate_limited: BatonUnavailableError,
  not_found: BatonNotFoundError,
  conflict: BatonConflictError,
  too_large: BatonTooLargeError,
  unavailable: BatonUnavailableError,
};

/** The control plane could not be reached at all (refused, unknown host, reset, timed out). */
export class BatonConnectionError extends Error {
  override readonly name = 'BatonConnectionError';
  constructor(
    readonly baseUrl: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the Baton control plane is not reachable at ${baseUrl} (${reason}): start it with \`npm start\`, or set BATON_URL (or --url) to where it runs`,
      options,
    );
  }
}

/** The server answered 2xx with a body this client does not understand. */
export class BatonResponseError extends Error {
  override readonly name = 'BatonResponseError';
}

/** waitForDeployment gave up; the deployment itself keeps running. */
export class BatonTimeoutError extends Error {
  override readonly name = 'BatonTimeoutError';
  constructor(
    message: string,
    readonly lastJob: Job | undefined,
  ) {
    super(message);
  }
}

/** The error for a non-2xx answer: the class of its code, else of its status. */
export function apiErrorFrom(status: number, text: string, retryAfterMs?: number): BatonApiError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = ApiErrorBodySchema.safeParse(json);
  const [code, message, field] = parsed.success
    ? [parsed.data.error.code, parsed.data.error.message, parsed.data.error.field ?? undefined]
    : ['http_error', `the server answered HTTP ${status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`, undefined];
  const byStatus = status === 429 || status === 503 ? BatonUnavailableError : status === 404 ? BatonNotFoundError : BatonApiError;
  const Class = BY_CODE[code] ?? byStatus;
  return new Class(status, code, message, field, retryAfterMs);
}
