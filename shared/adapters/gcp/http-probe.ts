import { GoogleAuth } from 'google-auth-library';
import type { ProbeAnswer } from '../../domain/health.js';
import type { HttpProbe } from '../../ports/index.js';
import { fetchProbe } from '../local/http-probe.js';

/** The headers of an ID token for a URL's origin, from the function's own service account (needs roles/run.invoker). */
export function idTokenHeaders(auth: GoogleAuth = new GoogleAuth()) {
  return async (url: string): Promise<Record<string, string>> => {
    const client = await auth.getIdTokenClient(new URL(url).origin);
    return Object.fromEntries((await client.getRequestHeaders(url)).entries());
  };
}

/**
 * Verification requests to a Cloud Run URL that requires authentication: an ID token for the
 * URL's origin, from the function's own service account (which needs roles/run.invoker).
 */
export class IdTokenProbe implements HttpProbe {
  constructor(private readonly auth: GoogleAuth = new GoogleAuth()) {}

  async get(url: string, timeoutMs: number): Promise<ProbeAnswer> {
    try {
      const res = await fetch(url, {
        headers: await idTokenHeaders(this.auth)(url),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
      return { status: res.status, body: (await res.text()).slice(0, 65536) };
    } catch (err) {
      return { error: `GET ${url} failed (${err instanceof Error ? err.message : String(err)})` };
    }
  }

  /** A TCP connection needs no token: the front end accepts it whoever asks. */
  connect(url: string, timeoutMs: number) {
    return fetchProbe.connect(url, timeoutMs);
  }
}
