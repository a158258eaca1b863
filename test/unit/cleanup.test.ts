import { describe, expect, it } from 'vitest';
import { type CleanupInput, ORPHAN_GRACE_MS, planCleanup } from '../../shared/adapters/local/cleanup.js';
import { loadConfig } from '../../shared/config.js';
import { type Job, newJob, type ServiceRecord } from '../../shared/domain/job.js';
import { revisionName, serviceName } from '../../shared/domain/names.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import type { Status } from '../../shared/domain/status.js';
import type { ServiceStatus } from '../../shared/ports/index.js';

const AGENT = 'shop';
const SERVICE = serviceName(AGENT);
const NOW = Date.parse('2026-01-01T12:00:00Z');

/** Deployment n of the agent, created n minutes after 11:00, built into artifact n. */
function deployment(n: number, status: Status, extra: Partial<Job> = {}): Job {
  const id = `dep-${String(n).padStart(4, '0')}`;
  const job = newJob(id, DeploymentRequestSchema.parse({ agent_id: AGENT }), new Date(NOW - 3_600_000 + n * 60_000).toISOString());
  const revision = revisionName(AGENT, id);
  return {
    ...job,
    status,
    revision,
    previous_revision: n > 1 ? revisionName(AGENT, `dep-${String(n - 1).padStart(4, '0')}`) : null,
    artifact: { ref: `artifacts/sha256/${n}.tar.gz`, digest: `sha256:${n}` },
    source_key: `sources/${AGENT}/${id}.tar.gz`,
    ...extra,
  };
}

function input(
  jobs: Job[],
  opts: { traffic?: ServiceStatus['traffic']; keep?: number; record?: Partial<ServiceRecord> } = {},
): CleanupInput {
  const serving = [...jobs].reverse().find((j) => j.status === 'completed');
  const traffic = opts.traffic ?? (serving?.revision ? [{ revision: serving.revision, percent: 100 }] : []);
  const status: ServiceStatus = {
    name: SERVICE,
    url: 'http://127.0.0.1:1/',
    traffic,
    latest_created_revision: null,
    latest_ready_revision: null,
    reconciling: false,
  };
  const record: ServiceRecord = {
    agent_id: AGENT,
    service_name: SERVICE,
    url: null,
    serving_revision: serving?.revision ?? null,
    last_good_revision: serving?.revision ?? null,
    good_revisions: [],
    deployment_id: serving?.deployment_id ?? null,
    status: 'running',
    typical_stage_ms: {},
    updated_at: new Date(NOW).toISOString(),
    ...opts.record,
  };
  return {
    jobs,
    services: new Map([[AGENT, status]]),
    records: new Map([[AGENT, record]]),
    existing: new Map([
      [SERVICE, new Set(jobs.filter((j) => j.status === 'completed' || j.status === 'promoting').map((j) => j.revision ?? ''))],
    ]),
    artifacts: jobs.flatMap((j) => (j.artifact ? [{ key: j.artifact.ref, modified_ms: NOW - 3_000_000 }] : [])),
    keep: opts.keep ?? 3,
    now_ms: NOW,
  };
}

const removedRevisions = (plan: ReturnType<typeof planCleanup>) => plan.revisions.map((r) => r.revision).sort();
const rev = (n: number) => revisionName(AGENT, `dep-${String(n).padStart(4, '0')}`);

describe('what the local cleanup removes', () => {
  it('keeps the last N revisions, removes the older ones with their artifacts, sources and logs', () => {
    const jobs = [1, 2, 3, 4, 5, 6].map((n) => deployment(n, 'completed'));
    const plan = planCleanup(input(jobs));
    expect(removedRevisions(plan)).toEqual([rev(1), rev(2), rev(3)]);
    for (const n of [1, 2, 3]) {
      expect(plan.keys).toContain(`artifacts/sha256/${n}.tar.gz`);
      expect(plan.keys).toContain(`sources/${AGENT}/dep-000${n}.tar.gz`);
      expect(plan.keys).toContain(`deployment_logs/${AGENT}/dep-000${n}.log`);
    }
    for (const n of [4, 5, 6]) expect(plan.keys.filter((k) => k.includes(`/${n}.tar.gz`) || k.includes(`dep-000${n}`))).toEqual([]);
  });

  it('never removes what serves traffic, carries a tag, or what the service record serves and would roll back to', () => {
    const jobs = [1, 2, 3, 4, 5, 6].map((n) => deployment(n, 'completed'));
    const traffic = [
      { revision: rev(6), percent: 90 },
      { revision: rev(1), percent: 10 },
      { revision: rev(2), percent: 0, tag: 'pinned' },
    ];
    const plan = planCleanup(input(jobs, { traffic, keep: 1 }));
    // 6 serves; 5 is where a rollback of 6 returns; 1 has traffic; 2 is tagged.
    expect(removedRevisions(plan)).toEqual([rev(3), rev(4)]);
    expect(plan.keys).not.toContain('artifacts/sha256/1.tar.gz');
    expect(plan.keys).not.toContain('artifacts/sha256/2.tar.gz');
  });

  it('never collects what a running deployment needs: its revision, artifact, source, and the revision it replaces', () => {
    const jobs = [
      ...[1, 2, 3, 4, 5].map((n) => deployment(n, 'completed')),
      // Building: no revision yet, its artifact just written.
      deployment(6, 'building', { revision: null, previous_revision: rev(1), artifact: null }),
      deployment(7, 'promoting', { previous_revision: rev(5) }),
    ];
    const i = input(jobs, { keep: 1 });
    const plan = planCleanup({ ...i, artifacts: [...i.artifacts, { key: 'artifacts/sha256/new.tar.gz', modified_ms: NOW - 1000 }] });
    // 5 serves and 4 is its rollback target; 7 is promoting; 1 is what the building one replaces.
    expect(removedRevisions(plan)).toEqual([rev(2), rev(3)]);
    expect(plan.keys).not.toContain('artifacts/sha256/new.tar.gz');
    expect(plan.keys).not.toContain('artifacts/sha256/7.tar.gz');
    expect(plan.keys).not.toContain('artifacts/sha256/1.tar.gz');
    expect(plan.keys).not.toContain(`sources/${AGENT}/dep-0006.tar.gz`);
  });

  it('a rollback in progress keeps the deployment it undoes and the revision it returns to', () => {
    const jobs = [1, 2, 3, 4, 5].map((n) => deployment(n, 'completed'));
    const rollback = {
      ...deployment(6, 'rolling_back'),
      kind: 'rollback' as const,
      revision: null,
      artifact: null,
      rollback_of: 'dep-0003',
    };
    const plan = planCleanup(input([...jobs, rollback], { keep: 1 }));
    expect(removedRevisions(plan)).toEqual([rev(1)]);
  });

  it('keeps the log and source of the last N deployments whatever their outcome, and a failed one’s artifact goes with the rest', () => {
    const jobs = [deployment(1, 'completed'), deployment(2, 'completed'), deployment(3, 'failed'), deployment(4, 'failed')];
    const plan = planCleanup(input(jobs, { keep: 2 }));
    expect(plan.keys).not.toContain(`deployment_logs/${AGENT}/dep-0004.log`);
    expect(plan.keys).not.toContain(`deployment_logs/${AGENT}/dep-0003.log`);
    expect(removedRevisions(plan)).toEqual([]);
  });

  it('an artifact shared with a kept revision stays; one no job names stays until it is older than the grace period', () => {
    const jobs = [1, 2, 3].map((n) =>
      deployment(n, 'completed', { artifact: { ref: 'artifacts/sha256/same.tar.gz', digest: 'sha256:same' } }),
    );
    const i = input(jobs, { keep: 1 });
    const orphans = [
      { key: 'artifacts/sha256/old-orphan.tar.gz', modified_ms: NOW - ORPHAN_GRACE_MS - 1 },
      { key: 'artifacts/sha256/young-orphan.tar.gz', modified_ms: NOW - 5000 },
    ];
    const plan = planCleanup({ ...i, artifacts: [{ key: 'artifacts/sha256/same.tar.gz', modified_ms: NOW - 3_000_000 }, ...orphans] });
    expect(plan.keys).not.toContain('artifacts/sha256/same.tar.gz');
    expect(plan.keys).toContain('artifacts/sha256/old-orphan.tar.gz');
    expect(plan.keys).not.toContain('artifacts/sha256/young-orphan.tar.gz');
  });

  it('an uploaded archive of a collected deployment goes too', () => {
    const upload = (n: number) =>
      deployment(n, 'completed', {
        request: DeploymentRequestSchema.parse({
          agent_id: AGENT,
          source: { type: 'archive', blob_key: `uploads/u${n}.tar.gz`, format: 'tar.gz' },
        }),
      });
    const plan = planCleanup(input([upload(1), upload(2), upload(3)], { keep: 1 }));
    expect(plan.keys).toContain('uploads/u1.tar.gz');
    expect(plan.keys).not.toContain('uploads/u2.tar.gz');
  });
});

describe('cleanup settings, validated at start-up', () => {
  it('on, keeping 3, by default; a bad value names the variable', () => {
    expect(loadConfig({})).toMatchObject({ BATON_CLEANUP: true, BATON_KEEP_REVISIONS: 3 });
    expect(loadConfig({ BATON_CLEANUP: 'false', BATON_KEEP_REVISIONS: '10' })).toMatchObject({
      BATON_CLEANUP: false,
      BATON_KEEP_REVISIONS: 10,
    });
    expect(() => loadConfig({ BATON_KEEP_REVISIONS: '0' })).toThrow(/BATON_KEEP_REVISIONS="0"/);
    expect(() => loadConfig({ BATON_KEEP_REVISIONS: 'all' })).toThrow(/BATON_KEEP_REVISIONS="all"/);
    expect(() => loadConfig({ BATON_CLEANUP: 'sometimes' })).toThrow(/BATON_CLEANUP="sometimes"/);
  });
});
