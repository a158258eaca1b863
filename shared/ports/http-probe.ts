import type { ProbeAnswer } from '../domain/health.js';

/** Verification requests to a revision: never throwing, and saying when nothing listened (`refused`). */
export interface HttpProbe {
  /** An HTTP GET: status and body, whatever the status. */
  get(url: string, timeoutMs: number): Promise<ProbeAnswer>;
  /** A TCP connection to the URL's host and port, closed at once: what Cloud Run's default startup probe checks. */
  connect(url: string, timeoutMs: number): Promise<{ ok: true } | { error: string; refused?: boolean }>;
}
