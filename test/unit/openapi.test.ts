import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/index.js';
import type { OpenApiDocument } from '../../functions/api/openapi.js';
import type { Route } from '../../functions/api/routes.js';
import { LocalDesignStore } from '../../shared/adapters/local/design-store.js';
import { HttpAgentCaller } from '../../shared/adapters/local/http-agent-caller.js';
import { LocalScheduler } from '../../shared/adapters/local/scheduler.js';
import { parseAllowList } from '../../shared/domain/agent-url.js';
import { type Harness, harness } from '../support/fakes.js';

/**
 * The OpenAPI document against the router's own table: every route the API serves is in the
 * document, every path in the document is served (a request to it does not meet the router's
 * "no route" or 405), and real answers validate against the schemas the document gives them.
 */

let h: Harness;
let server: Server;
let base: string;
let routes: readonly Route[];
let doc: OpenApiDocument;

beforeAll(async () => {
  h = harness();
  // The designs' routes are in the table when the deps have designs (the local and gcp wirings do).
  const dir = mkdtempSync(join(tmpdir(), 'baton-openapi-'));
  h.deps.designs = {
    store: new LocalDesignStore(join(dir, 'designs')),
    scheduler: new LocalScheduler(join(dir, 'schedules'), h.bus, { clock: h.clock }),
    tasks: h.tasks,
    agents: new HttpAgentCaller({ allow: parseAllowList('127.0.0.1:*'), resolveAgent: async () => null }),
    clock: h.clock,
    newId: h.deps.newId,
    sleep: async () => {},
    settings: {
      base_url: 'http://127.0.0.1:1',
      scheduled_url: 'http://127.0.0.1:1/api/internal/scheduled',
      lease_ms: 1000,
      max_request_bytes: 1024,
      sync_commits: 'grouped' as const,
      run_task_deadline_ms: 960_000,
    },
  };
  await h.job('d1');
  await h.jobs.updateService('svc', () => ({
    agent_id: 'svc',
    service_name: 'svc',
    url: 'http://127.0.0.1:1',
    serving_revision: 'svc-1',
    last_good_revision: 'svc-1',
    good_revisions: [{ revision: 'svc-1', deployment_id: 'd0' }],
    deployment_id: 'd0',
    status: 'running',
    typical_stage_ms: {},
    updated_at: h.clock.now().toISOString(),
  }));
  const api = createApi(h.deps, { maxUploadBytes: 1024, target: 'local', heartbeatMs: 50 });
  routes = api.routes;
  server = createServer((req, res) => void api(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const res = await fetch(`${base}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApiDocument;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const SAMPLE: Record<string, string> = { id: 'd1', agent_id: 'svc' };

/** What the router answers for a method and a path template filled with sample values. */
async function askRouter(method: string, template: string): Promise<{ status: number; code: string | null; message: string }> {
  const path = template.replace(/\{([a-z_]+)\}/g, (_m, name: string) => SAMPLE[name] ?? 'x');
  const res = await fetch(`${base}${path}`, { method, signal: AbortSignal.timeout(5000) });
  // A stream is served once it opens; leave it there.
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, code: null, message: '' };
  }
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  return { status: res.status, code: body?.error?.code ?? null, message: body?.error?.message ?? '' };
}

/** The router's own refusals: no route for the path, or not this method on it. */
function refusedByRouter(v: { code: string | null; message: string }): boolean {
  return v.code === 'method_not_allowed' || (v.code === 'not_found' && v.message.startsWith('no route'));
}

describe('GET /openapi.json', () => {
  it('is OpenAPI 3.1 with one operation per route of the table, and nothing else', () => {
    expect(doc.openapi).toBe('3.1.0');
    // The core and the designs' routes are both in the table.
    expect(routes.map((r) => r.path)).toEqual(
      expect.arrayContaining(['/deployments/{id}', '/api/deployments/{id}/execute', '/api/deployed/{path}']),
    );
    const inDoc = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const inTable = routes.map((r) => `${r.method} ${r.path}`);
    expect(new Set(inDoc)).toEqual(new Set(inTable));
    expect(inDoc).toHaveLength(inTable.length);
  });

  it('every route of the table is served: no request to one meets the router\'s "no route" or 405', async () => {
    for (const r of routes) expect(refusedByRouter(await askRouter(r.method, r.path)), `${r.method} ${r.path}`).toBe(false);
  });

  it('every path of the document is served with the method it documents', async () => {
    for (const [path, ops] of Object.entries(doc.paths))
      for (const method of Object.keys(ops))
        expect(refusedByRouter(await askRouter(method.toUpperCase(), path)), `${method} ${path}`).toBe(false);
  });

  it("a path outside the table meets the router's 404, an undocumented method its 405 (what the checks above look for)", async () => {
    expect(refusedByRouter(await askRouter('GET', '/no-such-route'))).toBe(true);
    expect(refusedByRouter(await askRouter('DELETE', '/deployments/{id}'))).toBe(true);
    expect(refusedByRouter(await askRouter('GET', '/api/no-such-route'))).toBe(true);
  });

  it('its schemas compile as JSON Schema 2020-12 and real answers validate against them', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
    const check = async (path: string, method: string, status: string, init?: RequestInit) => {
      const op = doc.paths[path][method] as { responses: Record<string, { content?: Record<string, { schema: unknown }> }> };
      const schema =
        op.responses[status]?.content?.['application/json']?.schema ?? op.responses.default.content?.['application/json']?.schema;
      const concrete = path.replace(/\{([a-z_]+)\}/g, (_m, name: string) => SAMPLE[name]);
      const res = await fetch(`${base}${concrete}`, { method: method.toUpperCase(), ...init });
      expect(String(res.status), `${method} ${concrete}`).toBe(status === 'default' ? String(res.status) : status);
      const validate = ajv.compile(rootOf(schema));
      const body: unknown = await res.json();
      expect(validate(body) ? [] : validate.errors, `${method} ${concrete}`).toEqual([]);
      // The schemas are closed: a field the document does not name fails (so a new field must be documented).
      expect(validate({ ...(body as object), not_documented: true }), `${method} ${concrete}`).toBe(false);
    };
    await check('/health', 'get', '200');
    await check('/environments', 'get', '200');
    await check('/deployments/{id}', 'get', '200');
    await check('/deployments', 'get', '200');
    await check('/deployments/{id}/logs', 'get', '200');
    await check('/services/{agent_id}', 'get', '200');
    await check('/services/{agent_id}/logs', 'get', '200');
    // An error answer against the error schema: a bad body names its field.
    await check('/deploy', 'post', 'default', { headers: { 'content-type': 'application/json' }, body: '{"agent_id": "NOPE"}' });
  });
});

/** A response schema as a root schema whose $refs point into the document registered as `doc`. */
function rootOf(schema: unknown): Record<string, unknown> {
  const text = JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/');
  const { $ref, ...rest } = JSON.parse(text) as Record<string, unknown>;
  return $ref ? { ...rest, allOf: [{ $ref }] } : rest;
}
