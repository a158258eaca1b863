import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCanaryMetrics } from '../../shared/adapters/local/request-stats.js';
import { Router } from '../../shared/adapters/local/router.js';
import { canaryMetricsContract } from './suites/canary-metrics.suite.js';

/** A revision stand-in: answers the status in x-status after x-delay-ms. */
let backend: Server;
let backendPort: number;
beforeAll(async () => {
  backend = createServer((req, res) => {
    setTimeout(() => res.writeHead(Number(req.headers['x-status'] ?? 200)).end('ok'), Number(req.headers['x-delay-ms'] ?? 0));
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  backendPort = (backend.address() as AddressInfo).port;
});
afterAll(async () => {
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
});

/** Through the real router: one service-URL listener per (service, revision), so a request's revision is the test's choice. */
function routerHarness() {
  const router = new Router();
  const ports = new Map<string, number>();
  const urlOf = async (service: string, revision: string) => {
    const key = `${service}:${revision}`;
    let port = ports.get(key);
    if (port === undefined) {
      port = await router.listen(key, () => ({ port: backendPort, revision }), undefined, service);
      ports.set(key, port);
    }
    return `http://127.0.0.1:${port}/`;
  };
  return { router, urlOf };
}

canaryMetricsContract('local router (LocalCanaryMetrics over Router.stats)', async () => {
  const { router, urlOf } = routerHarness();
  return {
    metrics: new LocalCanaryMetrics(router.stats),
    serve: async (service, revision, status, ms) => {
      const res = await fetch(await urlOf(service, revision), { headers: { 'x-status': String(status), 'x-delay-ms': String(ms) } });
      await res.text();
    },
    close: () => router.closeAll(),
  };
});

describe('the local router counts what the split sends, and only that', () => {
  it("counts the router's own 503 for a revision that is not ready as that revision's 5xx", async () => {
    const router = new Router();
    const port = await router.listen(
      'svc:shop',
      () => ({ error: 'revision shop-new of shop is starting', revision: 'shop-new' }),
      undefined,
      'shop',
    );
    const from = new Date();
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(503);
    await res.text();
    const [got] = await new LocalCanaryMetrics(router.stats).revisionTraffic('shop', ['shop-new'], { from, to: new Date(Date.now() + 1) });
    expect([got.requests, got.server_errors]).toEqual([1, 1]);
    await router.closeAll();
  });

  it('does not count requests to a listener opened without a service (a tag URL: Baton probing its candidate)', async () => {
    const router = new Router();
    const port = await router.listen('tag:shop:candidate', () => ({ port: backendPort, revision: 'shop-new' }));
    const from = new Date();
    await (await fetch(`http://127.0.0.1:${port}/`)).text();
    const [got] = await new LocalCanaryMetrics(router.stats).revisionTraffic('shop', ['shop-new'], { from, to: new Date(Date.now() + 1) });
    expect(got.requests).toBe(0);
    await router.closeAll();
  });
});
