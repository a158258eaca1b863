import type { HttpProbe } from '../../ports/index.js';

/** Plain fetch: the same on both targets, kept behind the port so tests can use a fake. */
export const fetchProbe: HttpProbe = {
  async get(url, timeoutMs) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      const body = (await res.text()).slice(0, 65536);
      return { status: res.status, body };
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      return { error: `GET ${url} failed (${err instanceof Error ? err.message : String(err)}${cause})` };
    }
  },
};
