import { describe, expect, it } from 'vitest';
import type { Job, ServiceView } from '../../clients/typescript/src/index.js';
import {
  fitWidth,
  formatDuration,
  isSuccess,
  ProgressView,
  progressBar,
  progressLine,
  renderJob,
  renderOutcome,
  renderService,
  renderTable,
  table,
} from '../../shared/cli/render.js';

function job(overrides: Partial<Job> = {}): Job {
  return {
    deployment_id: 'dep-1',
    kind: 'deployment',
    agent_id: 'my-agent',
    environment: 'development',
    version: 'latest',
    status: 'queued',
    stage: null,
    current_step: 'Queued',
    progress: 0,
    logs: [],
    error_message: null,
    failed_stage: null,
    service_url: null,
    revision: null,
    previous_revision: null,
    created_at: '2025-01-01T00:00:00.000Z',
    started_at: null,
    updated_at: null,
    completed_at: null,
    stage_timings: {},
    validation_results: [],
    test_results: [],
    canary_analyses: [],
    rollback_of: null,
    rollback_id: null,
    rollback_reason: null,
    eta_seconds: null,
    queue_position: null,
    queue: null,
    superseded_by: null,
    failure: null,
    approval: null,
    ...overrides,
  };
}

describe('the queue and the failure record in the CLI', () => {
  it('shows a waiting deployment’s place in the queue, in the progress line and in status', () => {
    const waiting = job({
      queue_position: 2,
      queue: { reason: 'owner_limit' },
      current_step: "Waiting for a slot of the owner's concurrency limit",
    });
    expect(progressLine(waiting)).toContain('queued #2 in queue');
    expect(renderJob(waiting)).toMatch(/Queue:\s+#2 \(waiting for the owner's concurrency limit\)/);
  });

  it('shows the reason code, the port and the hint of a failure', () => {
    const failed = job({
      status: 'failed',
      failure: { reason_code: 'ignores_port', hint: 'Listen on process.env.PORT', stage: 'verifying', listening_port: 3000 },
    });
    const text = renderJob(failed);
    expect(text).toMatch(/Reason code:\s+ignores_port \(listens on port 3000\)/);
    expect(text).toMatch(/Hint:\s+Listen on process.env.PORT/);
  });
});

describe('a deployment awaiting approval', () => {
  it('shows what to type instead of an ETA on the progress line, and the approval in baton status', () => {
    const waiting = job({
      status: 'awaiting_approval',
      progress: 90,
      current_step: 'Waiting for approval until 2025-01-02T00:00:00.000Z',
      eta_seconds: 12,
      approval: { state: 'pending', deadline_at: '2025-01-02T00:00:00.000Z', decided_at: null, decided_by: null, reason: null },
    });
    expect(progressLine(waiting)).toBe(
      '[##################--]  90% awaiting_approval  Waiting for approval until 2025-01-02T00:00:00.000Z  (baton approve dep-1 | baton reject dep-1 --reason …)',
    );
    expect(renderJob(waiting)).toContain('Approval:     waiting until 2025-01-02T00:00:00.000Z');
    const rejected = job({
      status: 'failed',
      approval: {
        state: 'rejected',
        deadline_at: 'x',
        decided_at: '2025-01-01T01:00:00.000Z',
        decided_by: 'ann@example.com',
        reason: 'not today',
      },
    });
    expect(renderJob(rejected)).toContain('rejected by ann@example.com at 2025-01-01T01:00:00.000Z: not today');
  });
});

describe('progressBar / progressLine', () => {
  it('fills whole cells only and clamps', () => {
    expect(progressBar(0)).toBe('[--------------------]');
    expect(progressBar(45)).toBe('[#########-----------]');
    expect(progressBar(99)).toBe('[###################-]');
    expect(progressBar(100)).toBe('[####################]');
    expect(progressBar(150)).toBe('[####################]');
    expect(progressBar(-5)).toBe('[--------------------]');
    expect(progressBar(50, 4)).toBe('[##--]');
  });

  it('shows percent, status, step and an ETA', () => {
    expect(progressLine({ progress: 45, status: 'building', current_step: 'Building' })).toBe(
      '[#########-----------]  45% building  Building',
    );
    expect(progressLine({ progress: 100, status: 'completed', current_step: '' })).toBe('[####################] 100% completed');
    expect(progressLine({ progress: 7.6, status: 'validating', current_step: 'Validating configuration', eta_seconds: 65 })).toBe(
      '[#-------------------]   8% validating  Validating configuration  ~1m 05s left',
    );
  });

  it('fits a line to the terminal', () => {
    expect(fitWidth('abcdefghij', 8)).toBe('abcdef…');
    expect(fitWidth('abcdefg', 8)).toBe('abcdefg');
    expect(fitWidth('abcdefghij', undefined)).toBe('abcdefghij');
  });
});

describe('ProgressView', () => {
  it('redraws one line on a terminal, skipping identical frames', () => {
    const v = new ProgressView(true, 200);
    expect(v.update({ progress: 20, status: 'building', current_step: 'Building' })).toBe(
      '\r[####----------------]  20% building  Building\x1b[K',
    );
    expect(v.update({ progress: 20, status: 'building', current_step: 'Building' })).toBe('');
    expect(v.update({ progress: 45, status: 'building', current_step: 'Building' })).toBe(
      '\r[#########-----------]  45% building  Building\x1b[K',
    );
    expect(v.finish()).toBe('\n');
    expect(v.finish()).toBe('');
  });

  it('prints one line per change of step otherwise', () => {
    const v = new ProgressView(false);
    const frames = [
      { progress: 5, status: 'validating' as const, current_step: 'Validating configuration' },
      { progress: 20, status: 'building' as const, current_step: 'Building' },
      { progress: 45, status: 'building' as const, current_step: 'Building' },
      { progress: 60, status: 'building' as const, current_step: 'Build finished' },
    ].map((f) => v.update(f));
    expect(frames).toEqual([
      '[#-------------------]   5% validating  Validating configuration\n',
      '[####----------------]  20% building  Building\n',
      '',
      '[############--------]  60% building  Build finished\n',
    ]);
    expect(v.finish()).toBe('');
  });
});

describe('outcome', () => {
  it('tells success per kind', () => {
    expect(isSuccess({ kind: 'deployment', status: 'completed' })).toBe(true);
    expect(isSuccess({ kind: 'deployment', status: 'rolled_back' })).toBe(false);
    expect(isSuccess({ kind: 'rollback', status: 'rolled_back' })).toBe(true);
    expect(isSuccess({ kind: 'rollback', status: 'failed' })).toBe(false);
  });

  it('renders a completed deployment with its URL', () => {
    const text = renderOutcome(
      job({
        status: 'completed',
        progress: 100,
        service_url: 'http://127.0.0.1:9100',
        revision: 'my-agent-dep1',
        started_at: '2025-01-01T00:00:01.000Z',
        completed_at: '2025-01-01T00:02:06.000Z',
      }),
    );
    expect(text).toBe('Deployment dep-1 completed in 2m 05s\nRevision:    my-agent-dep1\nService URL: http://127.0.0.1:9100');
  });

  it('renders a failure with the stage and the message', () => {
    expect(renderOutcome(job({ status: 'failed', failed_stage: 'building', error_message: 'npm install exited with 1' }))).toBe(
      'Deployment dep-1 failed\nFailed stage: building\nError:        npm install exited with 1\nFull log:     baton logs dep-1',
    );
    expect(renderOutcome(job({ status: 'rolled_back', failed_stage: 'verifying', error_message: 'health check failed' }))).toBe(
      'Deployment dep-1 was rolled back\nFailed stage: verifying\nError:        health check failed\nFull log:     baton logs dep-1',
    );
    expect(renderOutcome(job({ status: 'cancelled' }))).toBe('Deployment dep-1 was cancelled');
  });

  it('renders a finished rollback', () => {
    expect(renderOutcome(job({ deployment_id: 'rb-1', kind: 'rollback', status: 'rolled_back', revision: 'my-agent-r1' }))).toBe(
      'Rollback rb-1 finished: traffic is back on my-agent-r1',
    );
  });
});

describe('the test stage in the CLI', () => {
  it('draws the testing status on the progress bar with its step, and lists each test result in `baton status`', () => {
    expect(progressLine({ progress: 87, status: 'testing', current_step: 'Load test: slice 2/3', eta_seconds: 65 })).toBe(
      '[#################---]  87% testing  Load test: slice 2/3  ~1m 05s left',
    );
    const text = renderJob(
      job({
        status: 'failed',
        failed_stage: 'testing',
        test_results: [
          {
            test_name: 'functional_test',
            test_type: 'functional_test',
            passed: true,
            message: 'Functional test completed successfully',
            execution_time: 0.01,
          },
          {
            test_name: 'security_test',
            test_type: 'security_test',
            passed: false,
            message: 'Security test failed: /.env is served',
            execution_time: 0.02,
          },
        ],
      }),
    );
    expect(text).toContain(
      [
        'Tests:',
        '  pass  functional_test  Functional test completed successfully',
        '  FAIL  security_test    Security test failed: /.env is served',
      ].join('\n'),
    );
  });
});

describe('baton status shows each canary step’s analysis', () => {
  it('lists the steps with their verdict, checks and what was measured', () => {
    const text = renderJob(
      job({
        status: 'rolled_back',
        canary_analyses: [
          { step: 1, percent: 10, verdict: 'pass', final: true, checks: 12, message: 'Pass: candidate svc-2: 40 requests, 5xx 0%' },
          { step: 2, percent: 50, verdict: 'breach', final: true, checks: 1, message: 'Breach: candidate svc-2 5xx rate 45% (9/20)' },
          { step: 3, percent: 80, verdict: 'inconclusive', final: false, checks: 2, message: 'Inconclusive: 3 candidate requests' },
        ],
      }),
    );
    expect(text).toContain(
      [
        'Canary:',
        '  step 1 (10%)  pass after 12 checks: Pass: candidate svc-2: 40 requests, 5xx 0%',
        '  step 2 (50%)  breach after 1 check: Breach: candidate svc-2 5xx rate 45% (9/20)',
        '  step 3 (80%)  inconclusive, watching after 2 checks: Inconclusive: 3 candidate requests',
      ].join('\n'),
    );
  });
});

describe('renderJob / renderTable / renderService', () => {
  it('renders one job with the fields that are set', () => {
    const text = renderJob(
      job({
        status: 'failed',
        progress: 20,
        current_step: 'Build failed',
        source: { type: 'directory' },
        failed_stage: 'building',
        error_message: 'boom',
        stage_timings: {
          validating: { started_at: 'x', completed_at: 'y', duration_ms: 120 },
          building: { started_at: 'y', completed_at: null, duration_ms: null },
        },
        validation_results: [
          { test_name: 'ok', severity: 'critical', passed: true, message: 'schema ok' },
          {
            test_name: 'plaintext_secret_validation',
            severity: 'high',
            passed: false,
            field: 'env.API_KEY',
            message: 'looks like a secret',
          },
        ],
        logs: ['line 1', 'line 2'],
      }),
    );
    expect(text).toBe(
      [
        'Deployment:    dep-1',
        'Agent:         my-agent',
        'Environment:   development',
        'Version:       latest',
        'Source:        directory',
        'Status:        failed (20%)',
        'Step:          Build failed',
        'Failed stage:  building',
        'Error:         boom',
        'Created:       2025-01-01T00:00:00.000Z',
        'Stages:',
        '  validating  120ms',
        '  building    running',
        'Validation:',
        '  high     env.API_KEY: looks like a secret',
        'Last log lines:',
        '  line 1',
        '  line 2',
      ].join('\n'),
    );
  });

  it('renders a table of deployments', () => {
    expect(renderTable([])).toBe('No deployments.');
    expect(
      renderTable([
        job({ deployment_id: 'dep-100', status: 'building', progress: 45 }),
        job({
          deployment_id: 'rb-2',
          kind: 'rollback',
          agent_id: 'a',
          status: 'rolled_back',
          progress: 100,
          created_at: '2025-01-02T00:00:00.000Z',
        }),
      ]),
    ).toBe(
      [
        'ID       AGENT     KIND        STATUS       PROGRESS  CREATED',
        'dep-100  my-agent  deployment  building     45%       2025-01-01T00:00:00.000Z',
        'rb-2     a         rollback    rolled_back  100%      2025-01-02T00:00:00.000Z',
      ].join('\n'),
    );
    expect(table(['A', 'B'], [['long cell', '']])).toBe('A          B\nlong cell');
  });

  it('renders a service', () => {
    const svc: ServiceView = {
      pinned: false,
      pin: null,
      good_revisions: [],
      agent_id: 'my-agent',
      service_name: 'my-agent',
      status: 'running',
      url: 'http://127.0.0.1:9100',
      serving_revision: 'my-agent-r2',
      last_good_revision: 'my-agent-r1',
      deployment_id: 'dep-2',
      traffic: [
        { revision: 'my-agent-r2', percent: 90 },
        { revision: 'my-agent-r3', percent: 10, tag: 'canary' },
      ],
      latest_ready_revision: 'my-agent-r3',
      updated_at: null,
    };
    expect(renderService(svc)).toBe(
      [
        'Agent:         my-agent',
        'Service:       my-agent',
        'Status:        running',
        'URL:           http://127.0.0.1:9100',
        'Serving:       my-agent-r2',
        'Last good:     my-agent-r1',
        'Latest ready:  my-agent-r3',
        'Deployment:    dep-2',
        'Traffic:',
        '   90%  my-agent-r2',
        '   10%  my-agent-r3  tag canary',
      ].join('\n'),
    );
  });

  it('formats durations', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12_345)).toBe('12.3s');
    expect(formatDuration(125_000)).toBe('2m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
    expect(formatDuration(-1)).toBe('?');
  });
});
