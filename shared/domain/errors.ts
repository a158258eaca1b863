import type { FailureDetail } from './failure.js';

/**
 * Errors decide retries: a PermanentError fails the deployment and acknowledges the event;
 * anything else is treated as transient, so the trigger retries it (and dead-letters it at last).
 * Adapters turn the answers of their services that no retry can change into PermanentErrors
 * (the gcp ones in shared/adapters/gcp/api-errors.ts), keeping the original as `cause`.
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
  /** What the failure record (shared/domain/failure.ts) takes from the code that knows: a reason code, a probe, output. */
  readonly detail: FailureDetail;
  constructor(
    message: string,
    readonly hint?: string,
    options?: ErrorOptions & { detail?: FailureDetail },
  ) {
    super(message, options);
    this.detail = options?.detail ?? {};
  }
  /** The message a user sees: what went wrong, then what to do. */
  userMessage(): string {
    return this.hint ? `${this.message}. ${this.hint}` : this.message;
  }
}

export class TransientError extends Error {
  override readonly name = 'TransientError';
}

export function isPermanent(err: unknown): err is PermanentError {
  return err instanceof PermanentError;
}

export function messageOf(err: unknown): string {
  if (err instanceof PermanentError) return err.userMessage();
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A request the API refuses: maps to an HTTP status with a JSON body naming the field. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly code: 'invalid' | 'forbidden' | 'not_found' | 'conflict' | 'too_large' | 'too_many' | 'unavailable',
    message: string,
    readonly field?: string,
    /** For `too_many`: when to try again (the Retry-After header, seconds). */
    readonly retry_after_s?: number,
  ) {
    super(message);
  }
}

/** A request with no acceptable credentials (the API answers 401 with `WWW-Authenticate: Bearer`). */
export class AuthError extends Error {
  override readonly name = 'AuthError';
}
