import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type { HttpTester } from '../../ports/index.js';

/** Headers a request to `url` needs to be let in (none locally; an ID token on Cloud Run). */
export type AuthHeaders = (url: string) => Promise<Record<string, string>>;

/**
 * fetch for single requests, autocannon (a maintained HTTP/1.1 load generator) for load slices.
 * The same on both targets; the gcp wiring passes ID-token headers.
 */
export class FetchTester implements HttpTester {
  constructor(private readonly auth: AuthHeaders = async () => ({})) {}

  async get(url: string, opts: { timeout_ms: number; authenticated?: boolean }) {
    const start = performance.now();
    try {
      const headers = opts.authenticated === false ? {} : await this.auth(url);
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(opts.timeout_ms), redirect: 'manual' });
      const body = (await res.text()).slice(0, 65536);
      return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body, ms: performance.now() - start };
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      return { error: `GET ${url} failed (${err instanceof Error ? err.message : String(err)}${cause})`, ms: performance.now() - start };
    }
  }

  /** autocannon stops at its one-second ticks: a slice runs whole seconds, at least one. */
  async load(url: string, opts: { connections: number; duration_ms: number; timeout_ms: number }) {
    const r = await autocannon({
      url,
      connections: opts.connections,
      duration: opts.duration_ms / 1000,
      timeout: Math.max(1, Math.ceil(opts.timeout_ms / 1000)),
      headers: await this.auth(url),
    });
    return {
      duration_ms: r.duration * 1000,
      // Errors (timeouts, refused connections) are requests that failed, not requests never made.
      total: r['2xx'] + r.non2xx + r.errors,
      successful: r['2xx'],
      latency_avg_ms: r.latency.average,
      latency_max_ms: r.latency.max,
    };
  }
}
