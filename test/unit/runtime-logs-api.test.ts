import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/index.js';
import { CloudLoggingRuntimeLogs } from '../../shared/adapters/gcp/runtime-logs.js';
import { buildGcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { type Harness, harness } from '../support/fakes.js';
import { startCloudLoggingFake } from '../support/gcp-fakes/logging-server.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(h: Harness): Promise<string> {
  const api = createApi(h.deps, { maxUploadBytes: 1024, target: h.deps.settings.target, heartbeatMs: 50 });
  const server = createServer((req, res) => void api(req, res));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('GET /services/{agent_id}/logs', () => {
  it('reads a first deployment that never completed (no service record yet), by its service name', async () => {
    const h = harness();
    await h.job('d1');
    h.runtimeLogs.append('svc', 'svc-d1', 'stdout', '{"level":50,"msg":"crashed while warming"}');
    const res = await fetch(`${await serve(h)}/services/svc/logs`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      service_name: 'svc',
      revision: null,
      entries: [{ revision: 'svc-d1', severity: 'ERROR', message: 'crashed while warming' }],
    });
  });

  it('on Google Cloud, a refusal of Cloud Logging is a 503 naming the role to grant, not a 500', async () => {
    const fake = await startCloudLoggingFake();
    try {
      const h = harness();
      await h.job('d1');
      h.deps.settings = { ...h.deps.settings, target: 'gcp' };
      // A project id the fake (like the API) refuses as a resource name.
      const config = GcpConfigSchema.parse({ BATON_GCP_PROJECT: 'p-x-y-z-1', BATON_BUCKET: 'bkt', BATON_LOGGING_ENDPOINT: fake.url });
      h.deps.runtimeLogs = new CloudLoggingRuntimeLogs(buildGcpClients(config).logging, { ...config, BATON_GCP_PROJECT: 'Bad_Project' });
      const res = await fetch(`${await serve(h)}/services/svc/logs`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('unavailable');
      expect(body.error.message).toContain('roles/logging.viewer');
    } finally {
      await fake.stop();
    }
  });
});
