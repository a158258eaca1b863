import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudRunRuntime } from '../../shared/adapters/gcp/runtime.js';
import { RollbackPollTaskSchema } from '../../shared/domain/events.js';
import { revisionName } from '../../shared/domain/names.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { checkRollback, rollBack } from '../../shared/pipeline/rollback.js';
import type { RevisionSpec } from '../../shared/ports/index.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { harness } from '../support/fakes.js';
import { type CloudRunFake, startCloudRunFake } from '../support/gcp-fakes/run-server.js';

/**
 * The rollback use cases over CloudRunRuntime and the Cloud Run Admin v2 fake with a
 * reconciliation delay: the route keeps serving the canary split after the rollback, until the test settles it,
 * writes the restored one, and the fake refuses to delete a revision the route still serves. A
 * rollback that deletes right after moving traffic fails here; one that waits for its poll does
 * not. What this does not prove: Cloud Run's real reconciliation times (seconds, variable).
 */

const PROJECT = 'baton-test';
const REGION = 'us-central1';
// Long enough that no loaded machine sees it elapse on its own; the test ends it with settle().
const DELAY_MS = 60_000;
const AGENT = 'lag';

let fake: CloudRunFake;
let clients: GcpClients;
let runtime: CloudRunRuntime;

beforeAll(async () => {
  fake = await startCloudRunFake({ reconcileDelayMs: DELAY_MS });
  const config = GcpConfigSchema.parse({
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: 'baton-test-bucket',
    BATON_RUN_ENDPOINT: fake.endpoint,
  });
  clients = buildGcpClients(config);
  runtime = new CloudRunRuntime(clients.services, clients.revisions, config);
});

afterAll(async () => {
  await clients.services.close();
  await clients.revisions.close();
  await fake.close();
});

const spec = (id: string): RevisionSpec => ({
  service: AGENT,
  revision: revisionName(AGENT, id),
  artifact: { ref: `${REGION}-docker.pkg.dev/${PROJECT}/baton/app:${id}`, digest: `sha256:${id.padEnd(64, '0')}` },
  env: {},
  tag: 'candidate',
  deployment_id: id,
  start_timeout_seconds: 60,
});

async function until(what: string, check: () => Promise<boolean>) {
  const end = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const settled = () => {
  fake.settle();
  return until('Cloud Run to reconcile', async () => !(await runtime.getService(AGENT))?.reconciling);
};

describe('an automatic rollback on Cloud Run with a reconciliation delay', () => {
  it('waits through its poll for the restored split before removing anything, then completes', async () => {
    const [old, canary, next] = [spec('d0'), spec('d1'), spec('d2')];
    for (const s of [old, canary, next]) {
      await runtime.deployRevision(s);
      fake.settle();
      await until(`${s.revision} ready`, async () => (await runtime.getRevision(AGENT, s.revision))?.state === 'ready');
    }
    // d1 was a canary at 10 %; d2 is the service's latest revision, which Cloud Run never deletes.
    await runtime.setTraffic(AGENT, [
      { revision: canary.revision, percent: 10, tag: 'candidate' },
      { revision: old.revision, percent: 90 },
    ]);
    await settled();

    const h = harness();
    h.deps.runtime = runtime;
    await h.job(
      'd1',
      { agent_id: AGENT },
      {
        status: 'rolling_back',
        stage: 'rolling_back',
        revision: canary.revision,
        previous_revision: old.revision,
        previous_deployment_id: 'd0',
      },
    );
    expect(await rollBack(h.deps, 'd1')).toBe('rolling back');
    const poll = () =>
      checkRollback(h.deps, RollbackPollTaskSchema.parse(h.tasks.tasks.filter((t) => t.queue === QUEUES.rollbackPoll).at(-1)?.payload));

    // Still reconciling: the route serves the canary split; nothing is deleted, the stage polls again.
    expect((await runtime.getService(AGENT))?.reconciling).toBe(true);
    expect(await poll()).toBe('checked');
    expect(await h.jobs.get('d1')).toMatchObject({ status: 'rolling_back' });
    expect(fake.calls.DeleteRevision ?? 0).toBe(0);

    await settled();
    expect(await poll()).toBe('checked');
    expect(await h.jobs.get('d1')).toMatchObject({ status: 'rolled_back', error_message: null });
    expect((await runtime.getService(AGENT))?.traffic).toEqual([{ revision: old.revision, percent: 100 }]);
    expect(fake.revisions.has(`projects/${PROJECT}/locations/${REGION}/services/${AGENT}/revisions/${canary.revision}`)).toBe(false);
  });
});
