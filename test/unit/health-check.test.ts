import { describe, expect, it } from 'vitest';
import { judgeHealthAnswer, judgeRootAnswer, NO_HEALTH_ROUTE_NOTE } from '../../shared/domain/health.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { canaryStep, promoteRevision } from '../../shared/pipeline/promote.js';
import { testCandidate } from '../../shared/pipeline/test-stage.js';
import { verifyRevision } from '../../shared/pipeline/verify.js';
import { type Harness, harness } from '../support/fakes.js';
import { runNextVerifyPoll, servingOld, throughDeploy } from '../support/pipeline-steps.js';

const NOT_FOUND = { status: 404, body: 'Cannot GET /health' };
const WARMING = { status: 503, body: 'starting' };

async function readyRevision(h: Harness, extra: Record<string, unknown> = {}): Promise<string> {
  await h.job('d1', extra);
  const revision = await throughDeploy(h, 'd1');
  h.runtime.ready(revision);
  return revision;
}

const verifyPolls = (h: Harness) => h.tasks.tasks.filter((t) => t.queue === QUEUES.verifyPoll);
const fullLog = async (h: Harness) => {
  await h.deps.logs.flush('d1');
  return (await h.deps.logs.read('svc', 'd1')) ?? '';
};

describe('the health check with no health_path in the request', () => {
  it('leaves health_path absent by default, so the check can tell a default from a choice', () => {
    expect(DeploymentRequestSchema.parse({ agent_id: 'a' }).deployment_options.health_path).toBeUndefined();
    expect(
      DeploymentRequestSchema.parse({ agent_id: 'a', deployment_options: { health_path: '/health' } }).deployment_options.health_path,
    ).toBe('/health');
  });

  it('verifies an app with no /health route as Cloud Run does: a TCP connection, then / below 500, and says so in the log', async () => {
    const h = harness();
    await readyRevision(h);
    h.probe.answers = [NOT_FOUND, { status: 302, body: '' }];
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    expect(h.probe.urls).toEqual(['http://tag.local/health', 'http://tag.local/']);
    expect(h.probe.connected).toEqual(['http://tag.local/']);
    expect(h.bus.types().at(-1)).toBe('deployment.verified.v1');
    expect(await fullLog(h)).toContain(NO_HEALTH_ROUTE_NOTE);
    await testCandidate(h.deps, 'd1');
    await promoteRevision(h.deps, 'd1');
    expect((await h.jobs.get('d1'))?.status).toBe('completed');
  });

  it('fails when / answers 500 behind a missing /health, naming --health-path', async () => {
    const h = harness();
    await readyRevision(h);
    h.probe.answers = [NOT_FOUND, { status: 500, body: 'boom' }, NOT_FOUND, { status: 500, body: 'boom' }];
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    await runNextVerifyPoll(h);
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(job?.error_message).toContain('GET / answered HTTP 500');
    expect(job?.error_message).toContain('--health-path (deployment_options.health_path)');
  });

  it('fails when the port takes no TCP connection (not refused: it times out)', async () => {
    const h = harness();
    await readyRevision(h);
    h.probe.answers = [NOT_FOUND, NOT_FOUND];
    h.probe.connects = [{ error: 'no TCP connection within 5000 ms' }, { error: 'no TCP connection within 5000 ms' }];
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    await runNextVerifyPoll(h);
    expect((await h.jobs.get('d1'))?.error_message).toContain('no TCP connection');
  });

  it('still fails a /health that answers 2xx with a dependency down, or another non-2xx (seed 001)', async () => {
    for (const answer of [
      { status: 200, body: '{"services":{"db":false,"cache":true}}' },
      { status: 500, body: '' },
    ]) {
      const h = harness();
      await readyRevision(h);
      h.probe.answers = [answer, answer];
      await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
      await runNextVerifyPoll(h);
      const job = await h.jobs.get('d1');
      expect(job?.status).toBe('failed');
      expect(job?.error_message).toContain('--health-path (deployment_options.health_path)');
      expect(h.probe.connected).toEqual([]);
    }
  });
});

describe('the health check with an explicit health_path', () => {
  it('fails on a 404 there instead of falling back, naming the option', async () => {
    const h = harness();
    await readyRevision(h, { deployment_options: { health_path: '/healthz' } });
    h.probe.answers = [
      { status: 404, body: '' },
      { status: 404, body: '' },
    ];
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    await runNextVerifyPoll(h);
    const job = await h.jobs.get('d1');
    expect(h.probe.urls).toEqual(['http://tag.local/healthz', 'http://tag.local/healthz']);
    expect(h.probe.connected).toEqual([]);
    expect(job?.status).toBe('failed');
    expect(job?.error_message).toContain('/healthz answered HTTP 404');
    expect(job?.error_message).toContain('Set --health-path (deployment_options.health_path)');
  });
});

describe('a revision that is still warming up', () => {
  it('keeps polling through the verify-poll queue while it answers 503 or refuses connections, past health_attempts', async () => {
    const h = harness();
    await readyRevision(h);
    const refused = { error: 'GET http://tag.local/health failed (fetch failed: connect ECONNREFUSED)', refused: true };
    h.probe.answers = [refused, WARMING, WARMING, WARMING, WARMING, WARMING, { status: 200, body: '{"services":{"db":true}}' }];
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    for (let i = 0; i < 6; i++) await runNextVerifyPoll(h);
    expect(h.bus.types().at(-1)).toBe('deployment.verified.v1');
    const job = await h.jobs.get('d1');
    expect(job?.health_failures).toBe(0);
    // Every wait was a scheduled task, not a sleep: seven polls after the first.
    expect(verifyPolls(h)).toHaveLength(7);
    const log = await fullLog(h);
    expect(log.match(/is not serving yet/g)).toHaveLength(1);
  });

  it('gives up at the start timeout, naming --start-timeout and --health-path', async () => {
    const h = harness();
    await readyRevision(h, { deployment_options: { start_timeout_seconds: 10 } });
    h.probe.answers = Array.from({ length: 100 }, () => WARMING);
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    let polls = 1;
    while ((await h.jobs.get('d1'))?.status === 'verifying' && polls < 100) {
      await runNextVerifyPoll(h);
      polls++;
    }
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(polls).toBeGreaterThan(10);
    expect(job?.error_message).toContain('still not serving after 10 s');
    expect(job?.error_message).toContain('--start-timeout (deployment_options.start_timeout_seconds)');
    expect(job?.error_message).toContain('--health-path (deployment_options.health_path)');
  });
});

describe('the canary watch', () => {
  it('checks a canary with no /health route the same forgiving way', async () => {
    const h = harness();
    await servingOld(h);
    await readyRevision(h, { deployment_options: { strategy: { type: 'canary', steps: [10, 100], window_seconds: 5 } } });
    h.probe.answers = [NOT_FOUND, { status: 200, body: 'hi' }, NOT_FOUND, { status: 404, body: 'no page' }];
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    await testCandidate(h.deps, 'd1');
    await promoteRevision(h.deps, 'd1');
    h.runtime.traffic = h.runtime.traffic.map((t) => (t.tag ? { ...t, url: 'http://tag.local/' } : t));
    // The window's last check (no requests measured: inconclusive, so the health probe decides).
    h.clock.advance(5000);
    await canaryStep(h.deps, { type: 'promote.step.v1', deployment_id: 'd1', step: 1 });
    expect((await h.jobs.get('d1'))?.status).toBe('completed');
    expect(h.probe.urls.slice(2)).toEqual(['http://tag.local/health', 'http://tag.local/']);
  });
});

describe('judging one answer', () => {
  it.each([
    [{ status: 200, body: '{"services":{"db":true}}' }, undefined, 'healthy'],
    [{ status: 404, body: '' }, undefined, 'no-health-route'],
    [{ status: 404, body: '' }, '/health', 'unhealthy'],
    [{ status: 503, body: '{"services":{"db":false}}' }, undefined, 'warming'],
    [{ status: 502, body: '' }, undefined, 'unhealthy'],
    [{ error: 'connect ECONNREFUSED', refused: true }, '/ready', 'warming'],
    [{ error: 'timed out' }, undefined, 'unhealthy'],
  ] as const)('%j at %s is %s', (answer, path, kind) => {
    expect(judgeHealthAnswer(answer, path).kind).toBe(kind);
  });

  it.each([
    [{ status: 401, body: '' }, 'healthy'],
    [{ status: 499, body: '' }, 'healthy'],
    [{ status: 500, body: '' }, 'unhealthy'],
    [{ status: 503, body: '' }, 'warming'],
  ] as const)('/ answering %j is %s', (answer, kind) => {
    expect(judgeRootAnswer(answer).kind).toBe(kind);
  });
});
