import { GoogleAuth } from 'google-auth-library';
import type { ProbeAnswer } from '../../domain/health.js';
import type { HttpProbe } from '../../ports/index.js';
import { fetchProbe } from '../local/http-probe.js';

/**
 * Verification requests to a Cloud Run URL that requires authentication: an ID token for the
 * URL's origin, from the function's own service account (which needs roles/run.invoker).
 */
export class IdTokenProbe implements HttpProbe {
  constructor(private readonly auth: GoogleAuth = new GoogleAuth()) {}

  async get(url: string, timeoutMs: number): Promise<ProbeAnswer> {
    try {
      const client = await this.auth.getIdTokenClient(new URL(url).origin);
      const headers = await client.getRequestHeaders(url);
      const res = await fetch(url, {
        headers: Object.fromEntries(headers.entries()),
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
