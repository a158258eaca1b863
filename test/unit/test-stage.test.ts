import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWith } from '../../functions/api/http.js';
import { FetchTester } from '../../shared/adapters/local/http-tester.js';
import { DEFAULT_ENVIRONMENTS, parseEnvironmentsFile } from '../../shared/domain/environments.js';
import type { Job } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { combineLoadSlices, loadVerdict, planTests, sliceCount, sliceDurationMs } from '../../shared/domain/testing.js';
import { testCandidate, testSlice } from '../../shared/pipeline/test-stage.js';
import { harness } from '../support/fakes.js';

/**
 * The test stage: each test type through the use case against a small local HTTP server (the real
 * FetchTester and autocannon), and the load test's slicing with a fake tester. Durations are short.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const SAFE = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'strict-transport-security': 'max-age=63072000',
  'content-security-policy': "default-src 'none'",
};
const routes = new Map<string, Handler>();
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const route = routes.get(`${req.url}`);
    if (route) return route(req, res);
    res.writeHead(404, SAFE).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const json =
  (status: number, body: unknown, headers: Record<string, string> = SAFE): Handler =>
  (_q, res) =>
    void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const delayed =
  (ms: number, h: Handler): Handler =>
  (q, res) =>
    void setTimeout(() => h(q, res), ms);

/** A job in `verifying` with its work done, its candidate tagged at the local server. */
async function verified(test_options: Record<string, unknown>, environment = 'development', patch: Partial<Job> = {}) {
  const h = harness();
  h.deps.tester = new FetchTester();
  h.deps.settings = { ...h.deps.settings, test_slice_ms: 1000, test_request_timeout_ms: 2000 };
  await h.job(
    'd1',
    { environment, test_options },
    {
      status: 'verifying',
      stage: 'verifying',
      revision: 'svc-r1',
      claim: { stage: 'verifying', token: 't', expires_at: '2100-01-01T00:00:00.000Z', done: true, ephemeral: false },
      ...patch,
    },
  );
  h.runtime.revisions.set('svc-r1', { name: 'svc-r1', state: 'ready', message: null, tag_url: base });
  return h;
}

/** Runs the stage to its end: the first pass, then every slice task it schedules, in order. */
async function runTests(h: ReturnType<typeof harness>) {
  await testCandidate(h.deps, 'd1');
  for (let i = 0; i < 20; i++) {
    const task = h.tasks.tasks.at(-1);
    const job = await h.jobs.get('d1');
    if (!task || job?.status !== 'testing' || !job.claim || job.claim.done) break;
    const payload = task.payload as { type: 'test.slice.v1'; deployment_id: string; slice: number };
    if (`slice-${payload.slice}` !== job.claim.token) break;
    await testSlice(h.deps, payload);
  }
  return (await h.jobs.get('d1')) as Job;
}

describe('functional test', () => {
  it('passes declared smoke requests (status, body text, JSON path value) and hands on deployment.tested', async () => {
    routes.set('/health', json(200, { status: 'ok', services: { db: 'up' } }));
    routes.set('/items', json(200, { items: [{ id: 'a1' }] }));
    const h = await verified({
      smoke_requests: [
        { path: '/health', json_path: 'services.db', json_equals: 'up' },
        { path: '/items', json_path: '$.items[0].id', json_equals: 'a1', body_contains: 'a1' },
        { path: '/nope', expected_status: 404 },
      ],
    });
    const job = await runTests(h);
    expect(job.status).toBe('testing');
    expect(job.claim?.done).toBe(true);
    expect(h.bus.types().at(-1)).toBe('deployment.tested.v1');
    expect(job.test_results).toEqual([
      expect.objectContaining({ test_name: 'functional_test', test_type: 'functional_test', status: 'completed', passed: true }),
    ]);
    expect(job.test_results[0].metrics).toMatchObject({ requests: 3, failed_requests: 0, response_time: expect.any(Number) });
    expect(job.stage_timings.testing?.duration_ms).toEqual(expect.any(Number));
  });

  it('defaults to the health path, and fails the deployment in testing naming what differed', async () => {
    routes.set('/health', json(200, { status: 'degraded' }));
    const h = await verified({ smoke_requests: [{ path: '/health', json_path: 'status', json_equals: 'ok' }] });
    const job = await runTests(h);
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'testing' });
    expect(job.error_message).toContain('/health: status is "degraded", expected "ok"');
    expect(job.test_results[0]).toMatchObject({ passed: false, status: 'failed' });
    // The candidate never had traffic, and with no earlier revision it is removed.
    expect(h.runtime.deleted).toEqual(['svc-r1']);
    expect(h.runtime.writes).toEqual([]);

    routes.set('/health', json(503, { status: 'down' }));
    const h2 = await verified({});
    expect((await runTests(h2)).error_message).toContain('Functional test failed: health endpoint answered HTTP 503');

    // With no health_path and no /health route, the default test is what verify accepted: / below 500.
    routes.delete('/health');
    routes.set('/', json(200, { hello: 'world' }));
    const h3 = await verified({});
    const job3 = await runTests(h3);
    expect(job3.test_results[0]).toMatchObject({ passed: true, metrics: { requests: 2 } });
    expect(h3.bus.types().at(-1)).toBe('deployment.tested.v1');
    routes.delete('/');
  });
});

describe('performance test', () => {
  it('measures average, p95 and max latency and fails a revision slower than response_time_threshold', async () => {
    routes.set('/health', delayed(25, json(200, { status: 'ok' })));
    const slow = await runTests(
      await verified({ functional_test: false, performance_test: true, performance_requests: 5, response_time_threshold: 0.01 }),
    );
    expect(slow).toMatchObject({ status: 'failed', failed_stage: 'testing' });
    const [perf] = slow.test_results;
    expect(perf).toMatchObject({ test_type: 'performance_test', passed: false });
    expect(perf.metrics).toMatchObject({ requests: 5, response_time_threshold: 0.01 });
    expect(perf.metrics.p95_response_time as number).toBeGreaterThanOrEqual(0.02);
    expect(perf.metrics.max_response_time as number).toBeGreaterThanOrEqual(perf.metrics.average_response_time as number);
    expect(slow.error_message).toMatch(/p95 0\.\d+s over the 0\.01s threshold/);

    const fast = await runTests(
      await verified({ functional_test: false, performance_test: true, performance_requests: 5, response_time_threshold: 1 }),
    );
    expect(fast.test_results[0]).toMatchObject({ passed: true });
  });
});

describe('load test', () => {
  it('runs concurrent users for the duration in slices (each a task), combining total and successful requests', async () => {
    routes.set('/health', json(200, { status: 'ok' }));
    const h = await verified({ functional_test: false, load_test: true, concurrent_users: 4, test_duration: 1.5 });
    const job = await runTests(h);
    expect(h.tasks.tasks.map((t) => (t.payload as { slice: number }).slice)).toEqual([1, 2]);
    expect(job.load_slices).toHaveLength(2);
    const [load] = job.test_results;
    expect(load).toMatchObject({ test_type: 'load_test', passed: true });
    expect(load.metrics).toMatchObject({
      concurrent_users: 4,
      slices: 2,
      success_rate: 1,
      total_requests: combineLoadSlices(job.load_slices).total,
    });
    expect(load.metrics.total_requests as number).toBeGreaterThan(10);
    expect(load.metrics.requests_per_second as number).toBeGreaterThan(0);
    expect(h.bus.types().at(-1)).toBe('deployment.tested.v1');
  });

  it('fails when the success rate is under success_rate_threshold', async () => {
    let n = 0;
    routes.set('/health', (q, res) => (n++ % 2 ? json(500, {})(q, res) : json(200, { status: 'ok' })(q, res)));
    const job = await runTests(await verified({ functional_test: false, load_test: true, concurrent_users: 2, test_duration: 0.5 }));
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'testing' });
    expect(job.test_results[0].metrics.success_rate as number).toBeLessThan(0.95);
    expect(job.error_message).toMatch(/Load test failed: Success rate: \d+\.\d%.*below the 95% threshold/);
  });
});

describe('security test', () => {
  it('passes a service with security headers, no banner and nothing exposed; production auth is not applicable locally', async () => {
    routes.set('/health', json(200, { status: 'ok' }));
    for (const p of ['/.env', '/.git/HEAD', '/']) routes.delete(p);
    const job = await runTests(await verified({ load_test: false, performance_test: false }, 'production'));
    const sec = job.test_results.find((r) => r.test_type === 'security_test');
    expect(sec).toMatchObject({ passed: true });
    expect(sec?.metrics.security_checks).toContainEqual({
      name: 'protected_path_refuses_unauthenticated',
      passed: true,
      message: 'Not applicable on the local target: no authentication in front of revisions',
    });
    expect(job.test_results.map((r) => r.test_type)).toEqual(['functional_test', 'security_test']);
  });

  it('fails a service exposing .env or a version banner, naming each', async () => {
    routes.set('/health', json(200, { status: 'ok' }, { server: 'nginx/1.25.3' }));
    routes.set('/.env', (_q, res) => void res.writeHead(200, SAFE).end('DB_PASSWORD=hunter2\n'));
    const job = await runTests(await verified({ functional_test: false, security_test: true }));
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'testing' });
    const checks = job.test_results[0].metrics.security_checks as { name: string; passed: boolean }[];
    expect(checks.filter((c) => !c.passed).map((c) => c.name)).toEqual([
      'no_version_banner',
      'header_x-content-type-options',
      'header_x-frame-options',
      'header_strict-transport-security',
      'header_content-security-policy',
      'no_exposed_env',
    ]);
    expect(job.error_message).toContain('/.env is served (HTTP 200)');
    expect(job.error_message).toContain('server: nginx/1.25.3');
    routes.delete('/.env');
  });
});

describe('the test stage in the pipeline', () => {
  it('with auto_rollback and an earlier revision, a failed test rolls back: the candidate goes, traffic never moved', async () => {
    routes.set('/health', json(500, {}));
    const h = await verified({}, 'development', { previous_revision: 'svc-r0' });
    const job = await runTests(h);
    expect(job).toMatchObject({ status: 'rolling_back', failed_stage: 'testing' });
    expect(h.bus.types().at(-1)).toBe('deployment.rollback_requested.v1');
    expect(h.runtime.writes).toEqual([]);
  });

  it('a redelivered verified event while slices run re-sends the awaited slice, not a new test', async () => {
    routes.set('/health', json(200, { status: 'ok' }));
    const h = await verified({ functional_test: false, load_test: true, concurrent_users: 1, test_duration: 0.3 });
    await testCandidate(h.deps, 'd1');
    const sent: string[] = [];
    const enqueue = h.tasks.enqueue.bind(h.tasks);
    h.tasks.enqueue = async (queue, task) => {
      sent.push(task.name);
      return enqueue(queue, task);
    };
    expect(await testCandidate(h.deps, 'd1')).toBe('duplicate delivery: the stage is running');
    // The awaited slice's named task goes out again (a queue drops the duplicate); no test runs again.
    expect(sent).toEqual([h.tasks.tasks[0].name]);
    expect(h.tasks.tasks).toHaveLength(1);
    expect((await h.jobs.get('d1'))?.claim?.token).toBe('slice-1');
    expect(await testSlice(h.deps, { type: 'test.slice.v1', deployment_id: 'd1', slice: 2 })).toMatch(/^stale/);
  });
});

describe('test_options', () => {
  it('is a strict object in seed 004 shape: an unknown field is a 400 naming it', () => {
    expect(() => parseWith(DeploymentRequestSchema, { agent_id: 'ok', test_options: { load_tests: true } })).toThrow(
      'test_options.load_tests: unknown field',
    );
    const req = parseWith(DeploymentRequestSchema, {
      agent_id: 'ok',
      test_options: { performance_test: true, load_test: true, security_test: true, concurrent_users: 50, test_duration: 120 },
    });
    expect(req.test_options).toMatchObject({ concurrent_users: 50, response_time_threshold: 2, success_rate_threshold: 0.95 });
  });

  it('takes unset flags from the environment and caps load by it', () => {
    expect(planTests(undefined, DEFAULT_ENVIRONMENTS, 'development', '/health').tests).toEqual(['functional_test']);
    expect(planTests(undefined, DEFAULT_ENVIRONMENTS, 'staging', '/health').tests).toEqual(['functional_test', 'performance_test']);
    expect(planTests(undefined, DEFAULT_ENVIRONMENTS, 'production', '/hz')).toMatchObject({
      tests: ['functional_test', 'performance_test', 'load_test', 'security_test'],
      smoke: null,
      target_path: '/hz',
    });
    expect(
      planTests(
        { load_test: true, performance_test: false, concurrent_users: 500, test_duration: 90 } as never,
        DEFAULT_ENVIRONMENTS,
        'staging',
        '/h',
      ),
    ).toMatchObject({
      tests: ['functional_test', 'load_test'],
      concurrent_users: 50,
      test_duration_s: 90,
      capped: ['concurrent_users 500 capped at 50 by staging'],
    });
  });

  it("takes an operator's environment's test types, and caps and the auth rule from its validation level", () => {
    const envs = parseEnvironmentsFile(
      [
        'environments:',
        '  qa:',
        '    description: QA',
        '    resource_requirements: { memory_mb: 512, cpu_cores: 1, storage_gb: 1 }',
        '    validation_level: strict',
        '    monitoring_level: standard',
        '    test_types: [functional, security]',
      ].join('\n'),
      'envs.yaml',
    );
    expect(planTests({ concurrent_users: 500 } as never, envs, 'qa', undefined)).toMatchObject({
      tests: ['functional_test', 'security_test'],
      concurrent_users: 200,
      requires_auth: true,
    });
  });

  it('slices a long load test evenly and combines the slices into one verdict', () => {
    const plan = { test_duration_s: 130 };
    expect(sliceCount(plan, 60_000)).toBe(3);
    expect([1, 2, 3].map((n) => sliceDurationMs(plan, n, 60_000))).toEqual([60_000, 60_000, 10_000]);
    const slices = [
      { duration_ms: 60_000, total: 6000, successful: 6000, latency_avg_ms: 10, latency_max_ms: 50 },
      { duration_ms: 60_000, total: 6000, successful: 5400, latency_avg_ms: 20, latency_max_ms: 900 },
      { duration_ms: 10_000, total: 1000, successful: 1000, latency_avg_ms: 10, latency_max_ms: 40 },
    ];
    const v = loadVerdict(slices, { concurrent_users: 50, success_rate_threshold: 0.95, capped: [] });
    expect(v.metrics).toMatchObject({
      total_requests: 13_000,
      successful_requests: 12_400,
      success_rate: 0.954,
      requests_per_second: 100,
      max_response_time: 0.9,
      average_response_time: 0.015,
      slices: 3,
    });
    expect(v.passed).toBe(true);
    // One bad slice is enough to bring the whole under a stricter threshold.
    expect(loadVerdict(slices, { concurrent_users: 50, success_rate_threshold: 0.96, capped: [] }).passed).toBe(false);
  });
});
