import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../shared/cli/main.js';
import { getText, TestStack } from '../support/stack.js';

/**
 * The test stage on the local target with a real service (test/fixtures/services/gated): one that
 * passes every test, one slow enough to fail performance, one exposing its .env, one that fails
 * under load; then approval: approve and reject over HTTP and the CLI. Short durations.
 */
describe('the test stage end to end on the local target', () => {
  let t: TestStack;
  let good: string;

  beforeAll(async () => {
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a service passing functional, performance, load and security tests is promoted, with every result on the job', async () => {
    good = await t.deploy('gated', 'gated', {
      environment: 'staging',
      test_options: {
        smoke_requests: [
          { path: '/health', json_path: 'status', json_equals: 'ok' },
          { path: '/api/x', body_contains: '/api/x' },
        ],
        performance_requests: 5,
        load_test: true,
        security_test: true,
        concurrent_users: 2,
        test_duration: 1,
      },
    });
    const job = await t.waitFinal(good);
    expect(job.status).toBe('completed');
    const results = job.test_results;
    expect(results.map((r) => [r.test_type, r.passed])).toEqual([
      ['functional_test', true],
      ['performance_test', true],
      ['security_test', true],
      ['load_test', true],
    ]);
    expect(results[3].metrics).toMatchObject({ concurrent_users: 2, success_rate: 1, slices: 1 });
    expect(results[3].metrics.total_requests as number).toBeGreaterThan(0);
    expect(job.stage_timings.testing?.duration_ms).toEqual(expect.any(Number));
    expect(await t.logs(good)).toContain('[testing] Load test completed.');
  });

  it('a service slow enough to fail performance fails in testing and its revision is removed', async () => {
    const id = await t.deploy('gated-slow', 'gated', {
      env: { SLOW_MS: '120' },
      test_options: { performance_test: true, performance_requests: 3, response_time_threshold: 0.05 },
    });
    const job = await t.waitFinal(id);
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'testing' });
    expect(job.error_message).toMatch(/Performance test failed: p95 \d\.\d+s over the 0\.05s threshold/);
    const svc = await t.request('GET', '/services/gated-slow');
    expect(JSON.stringify(svc.json)).not.toContain(String(job.revision));
  });

  it('a service exposing .env fails security; with auto_rollback the candidate goes and the serving version never changed', async () => {
    const id = await t.deploy('gated', 'gated', {
      env: { EXPOSE_ENV: '1', APP_VERSION: 'v2' },
      test_options: { security_test: true },
    });
    const job = await t.waitFinal(id);
    expect(job).toMatchObject({ status: 'rolled_back', failed_stage: 'testing' });
    expect(job.error_message).toContain('/.env is served (HTTP 200)');
    const before = await t.job(good);
    expect(JSON.parse((await getText(before.service_url ?? '')).body).version).toBe('v1');
    const svc = await t.request('GET', '/services/gated');
    expect(svc.json).toMatchObject({ serving_revision: before.revision, traffic: [{ revision: before.revision, percent: 100 }] });
  });

  it('a service that answers 503 past 2 requests in flight fails the load test; with auto_rollback the candidate goes', async () => {
    const before = await t.job(good);
    const id = await t.deploy('gated', 'gated', {
      env: { MAX_IN_FLIGHT: '2', SLOW_MS: '20', APP_VERSION: 'v3' },
      test_options: { load_test: true, concurrent_users: 10, test_duration: 1 },
    });
    const job = await t.waitFinal(id);
    expect(job).toMatchObject({ status: 'rolled_back', failed_stage: 'testing' });
    expect(job.error_message).toMatch(/Load test failed: Success rate: \d+\.\d%, RPS: [\d.]+, below the 95% threshold/);
    const load = job.test_results.find((r) => r.test_type === 'load_test');
    expect(load?.metrics.success_rate as number).toBeLessThan(0.95);
    expect(load?.metrics.total_requests as number).toBeGreaterThan(load?.metrics.successful_requests as number);
    expect(job.test_results.find((r) => r.test_type === 'functional_test')?.passed).toBe(true);
    expect(JSON.parse((await getText(before.service_url ?? '')).body).version).toBe('v1');
    const svc = await t.request('GET', '/services/gated');
    expect(svc.json).toMatchObject({ serving_revision: before.revision, traffic: [{ revision: before.revision, percent: 100 }] });
    expect(JSON.stringify(svc.json)).not.toContain(String(job.revision));
  });

  describe('approval', () => {
    const cli = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const code = await run([...argv, '--url', t.url], {
        stdout: { write: (x: string) => (out += x) },
        stderr: { write: (x: string) => (err += x) },
        env: {},
        cwd: process.cwd(),
      });
      return { code, out, err };
    };
    /** The agent's audit trail for one deployment, oldest first. */
    async function trail(agent: string, id: string) {
      const res = await t.request('GET', `/services/${agent}/history?limit=500`);
      expect(res.status).toBe(200);
      const entries = res.json.history as {
        deployment_id: string;
        event: string;
        action: string | null;
        to: string | null;
        by: string | null;
        at: string;
        detail: string | null;
      }[];
      return entries.filter((e) => e.deployment_id === id).reverse();
    }
    async function awaiting(id: string) {
      const until = Date.now() + 45_000;
      for (;;) {
        const job = await t.job(id);
        // The stage is entered a moment before its wait (the approval record, the deadline task) is committed.
        if (job.approval?.state === 'pending' || Date.now() > until) return job;
        await new Promise((r) => setTimeout(r, 30));
      }
    }

    it('stops a tested deployment before traffic moves; baton approve promotes it; approving again is a 409', async () => {
      const id = await t.deploy('gated-approve', 'gated', { deployment_options: { approval: 'required' } });
      const stream = fetch(`${t.url}/deployments/${id}/stream`).then((r) => r.text());
      const waiting = await awaiting(id);
      expect(waiting).toMatchObject({ status: 'awaiting_approval', progress: 90, approval: { state: 'pending' } });
      expect(waiting.current_step).toMatch(/^Waiting for approval until /);
      // Tested, no traffic: the candidate exists but the service has no serving revision of it yet.
      expect(waiting.test_results.map((r) => r.passed)).toEqual([true]);
      const svc = await t.request('GET', '/services/gated-approve').catch(() => null);
      expect(svc?.status === 404 || JSON.stringify(svc?.json).includes('"serving_revision":null')).toBe(true);

      const approved = await cli('approve', id);
      expect(approved).toMatchObject({ code: 0, err: '' });
      expect(approved.out).toContain(`Deployment approved: traffic moves next: ${id}`);
      const job = await t.waitFinal(id);
      expect(job.status).toBe('completed');
      expect(JSON.parse((await getText(job.service_url ?? '')).body).version).toBe('v1');

      const again = await cli('approve', id);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/already approved by a caller at .*; nothing changed/);
      const http = await t.request('POST', `/deployments/${id}/approve`);
      expect(http.status).toBe(409);
      expect(http.json).toMatchObject({ error: { code: 'conflict', field: 'deployment_id' } });
      // The audit trail: the approve (who, when: the decision's time) among the state changes, and not the refused ones.
      const entries = await trail('gated-approve', id);
      const actions = entries.filter((e) => e.event === 'action');
      expect(actions.map((e) => e.action)).toEqual(['deploy', 'approve']);
      expect(actions[1]).toMatchObject({ by: null, at: job.approval?.decided_at });
      const order = entries.map((e) => e.action ?? e.to);
      expect(order.indexOf('approve')).toBeGreaterThan(order.indexOf('awaiting_approval'));
      expect(order.indexOf('approve')).toBeLessThan(order.indexOf('promoting'));

      const statuses = [
        ...new Set(
          (await stream)
            .split('\n\n')
            .filter((e) => e.startsWith('event: job'))
            .map((e) => (JSON.parse(e.split('\ndata: ')[1]) as { status: string }).status),
        ),
      ];
      expect(statuses.slice(-4)).toEqual(['testing', 'awaiting_approval', 'promoting', 'completed']);
    });

    it('baton reject --reason fails it, rolls back to the serving revision; approve afterwards is a 409', async () => {
      const serving = (await t.request('GET', '/services/gated-approve')).json as { serving_revision: string };
      const id = await t.deploy('gated-approve', 'gated', { env: { APP_VERSION: 'v2' }, deployment_options: { approval: 'required' } });
      expect((await awaiting(id)).status).toBe('awaiting_approval');
      expect((await cli('reject', id)).err).toContain('"reject" needs --reason');
      expect((await t.request('POST', `/deployments/${id}/reject`, {})).status).toBe(400);
      const rejected = await cli('reject', id, '--reason', 'changelog missing');
      expect(rejected.code).toBe(0);
      const job = await t.waitFinal(id);
      expect(job).toMatchObject({ status: 'rolled_back', failed_stage: 'awaiting_approval' });
      expect(job.error_message).toMatch(/^Rejected by a caller at .*: changelog missing; revision .* was not promoted/);
      const approve = await t.request('POST', `/deployments/${id}/approve`);
      expect(approve.status).toBe(409);
      expect(JSON.stringify(approve.json)).toContain('was rejected');
      const actions = (await trail('gated-approve', id)).filter((e) => e.event === 'action');
      expect(actions.map((e) => [e.action, e.detail])).toEqual([
        ['deploy', 'development, version latest'],
        ['reject', 'changelog missing'],
      ]);
      expect(actions[1]).toMatchObject({ by: null, at: job.approval?.decided_at });
      const svc = await t.request('GET', '/services/gated-approve');
      expect(svc.json).toMatchObject({
        serving_revision: serving.serving_revision,
        traffic: [{ revision: serving.serving_revision, percent: 100 }],
      });
    });

    it('cancel while awaiting approval takes effect at once', async () => {
      const id = await t.deploy('gated-approve', 'gated', { deployment_options: { approval: 'required' } });
      expect((await awaiting(id)).status).toBe('awaiting_approval');
      expect((await t.request('POST', `/deployments/${id}/cancel`)).status).toBe(202);
      const job = await t.waitFinal(id, 10_000);
      expect(job.status).toBe('cancelled');
      expect(await t.logs(id)).toContain('Cancelled at the awaiting_approval stage boundary');
    });
  });
});
