import type { LoadSlice } from '../domain/testing.js';

export type TesterResponse = { status: number; headers: Record<string, string>; body: string; ms: number };

/**
 * The test stage's requests to a candidate revision: single requests with their headers and
 * latency, and a load slice from a load generator. Never throws for an HTTP status.
 */
export interface HttpTester {
  /** GET `url`; `authenticated: false` sends no credentials even where the target would add them. */
  get(url: string, opts: { timeout_ms: number; authenticated?: boolean }): Promise<TesterResponse | { error: string; ms: number }>;
  /** `connections` clients sending GET `url` back to back for `duration_ms`. */
  load(url: string, opts: { connections: number; duration_ms: number; timeout_ms: number }): Promise<LoadSlice>;
}
