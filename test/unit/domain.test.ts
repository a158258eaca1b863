import { describe, expect, it } from 'vitest';
import { BuildNotificationSchema, buildTag, StageEventSchema, stageEvent } from '../../shared/domain/events.js';
import { evaluateHealth } from '../../shared/domain/health.js';
import { estimateEtaSeconds, JobSchema, newJob, publicJob, typicalStageMs } from '../../shared/domain/job.js';
import { AgentIdSchema, revisionName, serviceName, taskName } from '../../shared/domain/names.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { SUBSCRIPTIONS, TOPIC_OF_EVENT, TOPICS } from '../../shared/domain/topics.js';
import { redact } from '../../shared/pipeline/logs.js';

const req = (extra: Record<string, unknown> = {}) => DeploymentRequestSchema.parse({ agent_id: 'svc', ...extra });

describe('the deployment request', () => {
  it('fills sensible defaults', () => {
    // No environment here: the configured default is applied when the deployment is accepted.
    expect(req().environment).toBeUndefined();
    expect(req()).toMatchObject({
      version: 'latest',
      source: { type: 'config' },
      deployment_options: { auto_rollback: true, strategy: { type: 'all_at_once' }, start_timeout_seconds: 60 },
    });
  });

  it.each([
    [{ agent_id: '' }, 'agent_id'],
    [{ agent_id: 'UPPER' }, 'agent_id'],
    [{ agent_id: 'a/b' }, 'agent_id'],
    [{ agent_id: 'x'.repeat(41) }, 'agent_id'],
    [{ agent_id: 'ends-' }, 'agent_id'],
    [{ agent_id: 'baton-api' }, 'agent_id'],
    [{ agent_id: 'ok', environment: 'Prod!' }, 'environment'],
    [{ agent_id: 'ok', env: { 'BAD-NAME': 'x' } }, 'env'],
    [{ agent_id: 'ok', source: { type: 'ftp' } }, 'source'],
    [{ agent_id: 'ok', deployment_options: { health_path: 'health' } }, 'deployment_options'],
    [{ agent_id: 'ok', deployment_options: { strategy: { type: 'canary', steps: [10, 50] } } }, 'deployment_options'],
  ])('refuses %j, naming %s', (input, field) => {
    const res = DeploymentRequestSchema.safeParse(input);
    expect(res.success).toBe(false);
    expect(String(res.error?.issues[0]?.path[0])).toBe(field);
  });

  it('accepts safe agent ids and maps them to Cloud Run names', () => {
    for (const id of ['a', 'financial_analyst_001', 'web-2']) expect(AgentIdSchema.safeParse(id).success).toBe(true);
    expect(serviceName('web-2')).toBe('web-2');
    expect(serviceName('financial_analyst_001')).toMatch(/^financial-analyst-001-[0-9a-f]{5}$/);
    // Two ids that differ only in '_' and '-' are two services.
    expect(serviceName('my_agent')).not.toBe(serviceName('my-agent'));
    expect(serviceName(`${'a_'.repeat(19)}ab`).length).toBeLessThanOrEqual(49);
    expect(revisionName('my_svc', '12345678-9abc-def0-1234-56789abcdef0')).toMatch(/^my-svc-[0-9a-f]{5}-123456789abc$/);
  });

  it('names tasks deterministically from deployment, step and attempt, within Cloud Tasks characters', () => {
    const a = taskName('dep-1', 'verify', 1);
    expect(a).toBe(taskName('dep-1', 'verify', 1));
    expect(a).not.toBe(taskName('dep-1', 'verify', 2));
    expect(a).toMatch(/^[0-9a-f]{8}-dep-1-verify-1$/);
  });
});

describe('events', () => {
  it('are versioned envelopes with a deterministic idempotency key', () => {
    const e = stageEvent('deployment.validated.v1', 'd1', '2026-01-01T00:00:00Z');
    expect(StageEventSchema.parse(e)).toEqual(e);
    expect(e.idempotency_key).toBe(stageEvent('deployment.validated.v1', 'd1', 'later').idempotency_key);
    expect(StageEventSchema.safeParse({ ...e, type: 'deployment.validated.v2' }).success).toBe(false);
  });

  it('each go to one topic that one function subscribes to', () => {
    for (const topic of Object.values(TOPIC_OF_EVENT)) expect(SUBSCRIPTIONS[topic]).toBeTruthy();
    expect(SUBSCRIPTIONS[TOPICS.builds]).toBe('build-events');
  });

  it('parse a Cloud Build notification and tag builds by deployment', () => {
    const b = BuildNotificationSchema.parse({
      id: 'b1',
      status: 'SUCCESS',
      tags: [buildTag('d1')],
      results: { images: [{ name: 'i', digest: 'sha256:1' }] },
    });
    expect(b.substitutions).toEqual({});
    expect(BuildNotificationSchema.safeParse({ id: 'b1', status: 'DONE' }).success).toBe(false);
  });
});

describe('health evaluation', () => {
  it.each([
    [200, '{"status":"ok"}', true],
    [204, '', true],
    [200, 'plain text ok', true],
    [200, '{"services":{"db":true,"cache":"healthy","queue":{"status":"UP"}}}', true],
    [200, '{"services":{"db":false,"cache":true}}', false],
    [200, '{"services":{"db":{"healthy":false}}}', false],
    [503, '{"status":"ok"}', false],
    [301, '', false],
  ])('HTTP %i %s -> healthy %s', (status, body, healthy) => {
    expect(evaluateHealth(status, body).healthy).toBe(healthy);
  });

  it('names the dependencies that are down', () => {
    expect(evaluateHealth(200, '{"services":{"db":false,"cache":true,"auth":"down"}}')).toEqual({
      healthy: false,
      reason: 'dependencies reported unhealthy: db, auth',
    });
  });
});

describe('the job document', () => {
  it('starts queued with every contract field present', () => {
    const job = newJob('d1', req(), '2026-01-01T00:00:00.000Z');
    expect(JobSchema.parse(job)).toEqual(job);
    for (const f of [
      'deployment_id',
      'agent_id',
      'environment',
      'version',
      'status',
      'stage',
      'current_step',
      'progress',
      'logs',
      'error_message',
      'failed_stage',
      'service_url',
      'revision',
      'created_at',
      'started_at',
      'updated_at',
      'completed_at',
      'stage_timings',
    ]) {
      expect(job).toHaveProperty(f);
    }
    expect(job.status).toBe('queued');
  });

  it('hides credentials in a git URL from clients', () => {
    const view = publicJob(
      newJob('d1', req({ source: { type: 'git', url: 'https://u:tok@git.example/r.git', ref: 'main' } }), 'now'),
      null,
      0,
    );
    expect(view.source).toEqual({ type: 'git', url: 'https://git.example/r.git', ref: 'main' });
  });

  it('hides claims and env values from clients', () => {
    const view = publicJob(newJob('d1', req({ env: { TOKEN: 'secret-value' } }), 'now'), null, 0);
    expect(JSON.stringify(view)).not.toContain('secret-value');
    expect(view).not.toHaveProperty('claim');
  });
});

describe('log redaction', () => {
  it.each([
    ['API_KEY=abc123', 'API_KEY=[REDACTED]'],
    ['password: hunter2 ok', 'password: [REDACTED] ok'],
    ['Authorization: Bearer eyJhbGciOi.x.y', 'Authorization: Bearer [REDACTED]'],
    ['"client_secret":"zzz"', '"client_secret":"[REDACTED]"'],
    ['nothing to hide', 'nothing to hide'],
    ['Cloning https://deploy:s3cr3tPAT@gitlab.example/x.git at main', 'Cloning https://[REDACTED]@gitlab.example/x.git at main'],
  ])('%s', (input, out) => {
    expect(redact(input)).toBe(out);
  });
});

describe('the ETA', () => {
  const typical = { validating: 1000, preparing: 2000, building: 30_000, deploying: 1000, verifying: 4000, testing: 3000, promoting: 1000 };
  const at = (status: string, startedAt: string) =>
    ({
      ...newJob('d', req(), '2026-01-01T00:00:00.000Z'),
      status,
      stage_timings: { [status]: { started_at: startedAt, completed_at: null, duration_ms: null } },
    }) as ReturnType<typeof newJob>;

  it('adds what remains of the current stage to the typical durations of the later ones', () => {
    const job = at('building', '2026-01-01T00:00:00.000Z');
    expect(estimateEtaSeconds(job, typical, Date.parse('2026-01-01T00:00:10.000Z'))).toBe(20 + 1 + 4 + 3 + 1);
    expect(estimateEtaSeconds(job, typical, Date.parse('2026-01-01T00:05:00.000Z'))).toBe(9);
    expect(estimateEtaSeconds(newJob('q', req(), 'now'), typical, 0)).toBe(42);
    // In the test stage: what remains of it, then promotion.
    expect(estimateEtaSeconds(at('testing', '2026-01-01T00:00:00.000Z'), typical, Date.parse('2026-01-01T00:00:01.000Z'))).toBe(2 + 1);
    // History from before the test stage existed gives no ETA rather than one that leaves the stage out.
    const { testing: _t, ...before } = typical;
    expect(estimateEtaSeconds(job, before, Date.parse('2026-01-01T00:00:10.000Z'))).toBeNull();
  });

  it('is null without history and zero when done', () => {
    expect(estimateEtaSeconds(at('building', '2026-01-01T00:00:00.000Z'), { building: 1 }, 0)).toBeNull();
    expect(estimateEtaSeconds({ ...newJob('d', req(), 'now'), status: 'completed' }, {}, 0)).toBe(0);
  });

  it('averages each finished deployment into the typical durations', () => {
    const job = {
      ...newJob('d', req(), 'now'),
      stage_timings: {
        building: { started_at: 'a', completed_at: 'b', duration_ms: 10_000 },
        verifying: { started_at: 'a', completed_at: null, duration_ms: null },
      },
    };
    expect(typicalStageMs({ building: 30_000, deploying: 5 }, job)).toEqual({ building: 20_000, deploying: 5 });
  });
});

describe('configuration', () => {
  it('fails fast naming the variable and how to fix it', async () => {
    const { loadConfig, loadGcpConfig } = await import('../../shared/config.js');
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT="eighty"/);
    expect(() => loadConfig({ BATON_TARGET: 'aws' })).toThrow(/BATON_TARGET/);
    expect(loadConfig({}).PORT).toBe(8080);
    expect(() => loadGcpConfig({ BATON_GCP_PROJECT: 'Bad_Project' })).toThrow(
      /BATON_GCP_PROJECT="Bad_Project": must be a Google Cloud project id[\s\S]*BATON_BUCKET/,
    );
    expect(() => loadGcpConfig({ BATON_GCP_PROJECT: 'my-project', BATON_BUCKET: 'b-1', BATON_TASK_TARGETS: 'not json' })).toThrow(
      /BATON_TASK_TARGETS/,
    );
    expect(
      loadGcpConfig({ BATON_GCP_PROJECT: 'my-project', BATON_BUCKET: 'b-1', BATON_TASK_TARGETS: '{"verify":"https://v.example"}' })
        .BATON_TASK_TARGETS,
    ).toEqual({
      verify: 'https://v.example',
    });
  });
});
