import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BatonApiError,
  BatonClient,
  BatonConflictError,
  BatonInvalidRequestError,
  BatonNotFoundError,
  BatonTooLargeError,
  BatonUnavailableError,
  retryAfterMs,
  retryDelayMs,
} from '../../clients/typescript/src/index.js';

/** The client's retries, typed errors and signals against a node:http server on 127.0.0.1 that answers from a script. */

type Answer = (res: ServerResponse, body: string) => void;
let server: Server;
let base: string;
let script: Answer[];
let seen: { at: number; body: string }[];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ at: Date.now(), body });
      (script.shift() ?? ((r) => json(r, 500, { error: { code: 'internal', message: 'script ran out' } })))(res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  script = [];
  seen = [];
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
const refuse =
  (status: number, headers: Record<string, string> = {}): Answer =>
  (res) =>
    json(res, status, { error: { code: status === 503 ? 'unavailable' : 'too_many', message: 'later' } }, headers);
const accepted: Answer = (res) => json(res, 202, { message: 'Deployment started', deployment_id: 'd1', agent_id: 'a', status: 'queued' });
const client = (retry = {}) => new BatonClient({ baseUrl: base, retry: { baseDelayMs: 40, maxDelayMs: 200, ...retry } });

describe('retries on 429 and 503', () => {
  it('waits the Retry-After of a 503 (in seconds) and sends the same body again', async () => {
    script = [refuse(503, { 'retry-after': '1' }), accepted];
    const res = await client().deploy({ agent_id: 'a' });
    expect(res.deployment_id).toBe('d1');
    expect(seen).toHaveLength(2);
    expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(950);
    expect(seen[1].body).toBe(seen[0].body);
  });

  it('backs off on a 429 with no Retry-After, then gives up with BatonUnavailableError after `retries`', async () => {
    script = [refuse(429), refuse(429), refuse(429)];
    const err = await client({ retries: 2 })
      .getStatus('d1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonUnavailableError);
    expect((err as BatonApiError).status).toBe(429);
    expect(seen).toHaveLength(3);
    // Full jitter never goes below a quarter of the step: 10 ms, then 20 ms.
    expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(9);
    expect(seen[2].at - seen[1].at).toBeGreaterThanOrEqual(19);
  });

  it('sends a multipart upload again as a whole (a body is read once)', async () => {
    script = [refuse(503, { 'retry-after': '0' }), accepted];
    await client().deployFromFile({ agentId: 'a', configFile: { name: 'c.yaml', data: new TextEncoder().encode('x: 1\n') } });
    expect(seen).toHaveLength(2);
    expect(seen[1].body).toContain('x: 1');
    expect(seen[1].body.length).toBe(seen[0].body.length);
  });

  it('does not retry other refusals', async () => {
    script = [(res) => json(res, 409, { error: { code: 'conflict', message: 'busy', field: 'agent_id' } })];
    await expect(client().deploy({ agent_id: 'a' })).rejects.toBeInstanceOf(BatonConflictError);
    expect(seen).toHaveLength(1);
  });

  it("an abort during the wait stops the retries with the signal's reason", async () => {
    script = [refuse(503, { 'retry-after': '30' }), accepted];
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user gave up')), 100);
    const started = Date.now();
    await expect(client().getStatus('d1', { signal: controller.signal })).rejects.toThrow('user gave up');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(seen).toHaveLength(1);
  });

  it('an aborted signal stops a call before it is sent', async () => {
    await expect(client().listDeployments({}, { signal: AbortSignal.abort(new Error('no')) })).rejects.toThrow('no');
    expect(seen).toHaveLength(0);
  });
});

describe('typed errors', () => {
  it('map the API error codes to classes, keeping status, code and field', async () => {
    const cases: [number, string, new (...a: never[]) => BatonApiError][] = [
      [400, 'invalid', BatonInvalidRequestError],
      [404, 'not_found', BatonNotFoundError],
      [409, 'conflict', BatonConflictError],
      [413, 'too_large', BatonTooLargeError],
    ];
    for (const [status, code, Class] of cases) {
      script = [(res) => json(res, status, { error: { code, message: 'm', field: 'agent_id' } })];
      const err = (await client()
        .getStatus('d1')
        .catch((e: unknown) => e)) as BatonApiError;
      expect(err, code).toBeInstanceOf(Class);
      expect([err.status, err.code, err.field]).toEqual([status, code, 'agent_id']);
    }
  });

  it("an answer that is not Baton's error body is a plain BatonApiError (http_error)", async () => {
    script = [(res) => res.writeHead(502).end('bad gateway')];
    const err = (await client()
      .getStatus('d1')
      .catch((e: unknown) => e)) as BatonApiError;
    expect(err.constructor).toBe(BatonApiError);
    expect(err.code).toBe('http_error');
  });
});

describe('retry arithmetic', () => {
  it('reads Retry-After as seconds or an HTTP date, caps it at 5 minutes and ignores garbage', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
    expect(retryAfterMs('99999', now)).toBe(300_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('doubles the back-off up to its maximum', () => {
    const policy = { retries: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect([0, 1, 2, 3, 4].map((a) => retryDelayMs(policy, a, 0.999999))).toEqual([100, 200, 400, 800, 1000]);
    expect(retryDelayMs(policy, 0, 0)).toBe(25);
  });
});
