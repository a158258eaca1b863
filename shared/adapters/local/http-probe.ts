import { connect } from 'node:net';
import type { HttpProbe } from '../../ports/index.js';

const codeOf = (err: unknown): unknown => (err instanceof Error && 'code' in err ? err.code : undefined);

/** Plain fetch and a TCP connect: the same on both targets, kept behind the port so tests can use a fake. */
export const fetchProbe: HttpProbe = {
  async get(url, timeoutMs) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      const body = (await res.text()).slice(0, 65536);
      return { status: res.status, body };
    } catch (err) {
      const cause = err instanceof Error ? err.cause : undefined;
      const detail = cause instanceof Error ? `: ${cause.message}` : '';
      const refused = codeOf(cause) === 'ECONNREFUSED';
      return { error: `GET ${url} failed (${err instanceof Error ? err.message : String(err)}${detail})`, ...(refused ? { refused } : {}) };
    }
  },

  connect(url, timeoutMs) {
    const u = new URL(url);
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    return new Promise((resolve) => {
      const socket = connect({ host: u.hostname, port, timeout: timeoutMs });
      socket.once('connect', () => {
        socket.destroy();
        resolve({ ok: true });
      });
      socket.once('timeout', () => {
        socket.destroy();
        resolve({ error: `no TCP connection to ${u.host} within ${timeoutMs} ms` });
      });
      socket.once('error', (err) => {
        const refused = codeOf(err) === 'ECONNREFUSED';
        resolve({ error: `no TCP connection to ${u.host} (${err.message})`, ...(refused ? { refused } : {}) });
      });
    });
  },
};
