import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalCleanup, ORPHAN_GRACE_MS } from '../../shared/adapters/local/cleanup.js';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import { type Job, newJob } from '../../shared/domain/job.js';
import { revisionName } from '../../shared/domain/names.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import type { JobStore } from '../../shared/ports/index.js';
import { FakeRuntime } from '../support/fakes.js';

/**
 * The cleanup after a build is the per-deployment part of the local target's garbage collection:
 * what it reads from the store must depend on the built agent's jobs only, never on how many jobs
 * the store holds (with ~1,050 stored jobs a run over all of them, right as the revision started,
 * tripled the revision's spawn → first output in `npm run bench`). Counted through a wrapper of
 * the JobStore port: every job document and service record handed back is one read.
 */
const AGENT = 'shop';
const NOW = Date.parse('2026-01-01T12:00:00Z');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function counting(store: JobStore): { store: JobStore; reads: () => number } {
  let reads = 0;
  const wrapped: JobStore = {
    create: (j) => store.create(j),
    createUnlessBusy: (j, n) => store.createUnlessBusy(j, n),
    enqueue: (j, p, s) => store.enqueue(j, p, s),
    admitWaiting: (s, p, n) => store.admitWaiting(s, p, n),
    waitingScopes: (n) => store.waitingScopes(n),
    queuePosition: (j) => store.queuePosition(j),
    get: async (id) => {
      reads++;
      return store.get(id);
    },
    update: (id, m) => store.update(id, m),
    list: async (q) => {
      const page = await store.list(q);
      reads += Math.max(1, page.items.length);
      return page;
    },
    watch: (id, cb) => store.watch(id, cb),
    getService: async (a) => {
      reads++;
      return store.getService(a);
    },
    updateService: (a, m) => store.updateService(a, m),
    listServices: (n) => store.listServices(n),
    metrics: (s, d) => store.metrics(s, d),
    countOpen: (f) => store.countOpen(f),
    appendHistory: (e) => store.appendHistory(e),
    history: (a, n) => store.history(a, n),
    countActive: (a) => store.countActive(a),
    putPrivate: (id, d) => store.putPrivate(id, d),
    getPrivate: (id) => store.getPrivate(id),
  };
  return { store: wrapped, reads: () => reads };
}

const at = (min: number) => new Date(NOW - 3_600_000 + min * 60_000).toISOString();

/** Deployment n of `agent`, built at minute n into artifact `ref` (default: its own). */
function deployment(agent: string, n: number, ref = `artifacts/sha256/${agent}-${n}.tar.gz`): Job {
  const id = `${agent}-${String(n).padStart(4, '0')}`;
  const job = newJob(id, DeploymentRequestSchema.parse({ agent_id: agent }), at(n));
  return {
    ...job,
    status: 'completed',
    completed_at: at(n),
    revision: revisionName(agent, id),
    artifact: { ref, digest: `sha256:${n}` },
    source_key: `sources/${agent}/${id}.tar.gz`,
    stage_timings: { building: { started_at: at(n), completed_at: at(n), duration_ms: 1 } },
  };
}

/**
 * A store holding `others` jobs of other agents and the agent's deployments 1-3, swept once (the
 * first run after a start is a sweep of everything), then its deployments 4-6: 1-3 are now past
 * the three kept, for the next run to collect.
 */
async function setup(others: number) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-cleanup-scope-'));
  dirs.push(dir);
  const blobs = new FolderBlobStore(dir);
  const local = new LocalJobStore(null);
  const runtime = new FakeRuntime();
  /** Writes a blob as of `minute`, a second before the build of that minute ended. */
  const put = async (key: string, minute: number) => {
    await blobs.put(key, Buffer.from('x'));
    const t = new Date(Date.parse(at(minute)) - 1000);
    utimesSync(blobs.pathOf(key), t, t);
  };
  // Other agents' history: failed deployments, as the bench's accept phase leaves them.
  for (let i = 0; i < others; i++) {
    await local.create({ ...newJob(`other-${i}`, DeploymentRequestSchema.parse({ agent_id: `other-${i}` }), at(0)), status: 'failed' });
  }
  const add = async (n: number) => {
    const j = deployment(AGENT, n);
    await local.create(j);
    await put(j.artifact?.ref ?? '', n);
    await put(j.source_key ?? '', n);
    runtime.revisions.set(j.revision ?? '', { name: j.revision ?? '', state: 'ready', message: null, tag_url: null });
    runtime.traffic = [{ revision: j.revision ?? '', percent: 100 }];
  };
  const { store, reads } = counting(local);
  const inUse = new Set<string>();
  const cleanup = new LocalCleanup({ jobs: store, runtime, blobs, keep: 3, now: () => NOW, artifactInUse: (r) => inUse.has(r) });
  for (const n of [1, 2, 3]) await add(n);
  await cleanup.collect();
  for (const n of [4, 5, 6]) await add(n);
  return { cleanup, reads, blobs, runtime, local, inUse, put };
}

const ref = (n: number) => `artifacts/sha256/${AGENT}-${n}.tar.gz`;

describe('the cleanup after a build reads its agent only', () => {
  it('reads as many documents with 20 or 600 other jobs in the store, and removes the revisions past the kept ones', async () => {
    const figures: number[] = [];
    for (const others of [20, 600]) {
      const { cleanup, reads, blobs, runtime } = await setup(others);
      expect(runtime.deleted).toEqual([]);
      const before = reads();
      cleanup.schedule(AGENT);
      await cleanup.idle();
      figures.push(reads() - before);
      expect(runtime.deleted.sort()).toEqual([1, 2, 3].map((n) => revisionName(AGENT, `${AGENT}-000${n}`)).sort());
      for (const n of [1, 2, 3]) {
        expect(await blobs.exists(ref(n))).toBe(false);
        expect(await blobs.exists(`sources/${AGENT}/${AGENT}-000${n}.tar.gz`)).toBe(false);
      }
      for (const n of [4, 5, 6]) expect(await blobs.exists(ref(n))).toBe(true);
    }
    expect(figures[1]).toBe(figures[0]);
    // The agent's six jobs and its service record, not the store.
    expect(figures[0]).toBeLessThanOrEqual(6 + 2);
  });

  it('keeps an artifact written again after the build that named it (another agent built the same content), or one a revision was made from', async () => {
    const { cleanup, blobs, runtime, inUse, put } = await setup(3);
    await put(ref(1), 50);
    inUse.add(ref(2));
    cleanup.schedule(AGENT);
    await cleanup.idle();
    expect(runtime.deleted).toHaveLength(3);
    expect(await blobs.exists(ref(1))).toBe(true);
    expect(await blobs.exists(ref(2))).toBe(true);
    expect(await blobs.exists(ref(3))).toBe(false);
  });

  it('sweeps everything again (orphaned artifacts too) once the last sweep is older than the grace period', async () => {
    const { blobs, local, runtime } = await setup(5);
    let now = NOW;
    const cleanup = new LocalCleanup({ jobs: local, runtime, blobs, keep: 3, now: () => now });
    const old = new Date(NOW - ORPHAN_GRACE_MS - 60_000);
    const orphan = async (key: string) => {
      await blobs.put(key, Buffer.from('x'));
      utimesSync(blobs.pathOf(key), old, old);
    };
    await orphan('artifacts/sha256/orphan.tar.gz');
    cleanup.schedule(AGENT);
    await cleanup.idle();
    // The first run of this cleanup is a sweep.
    expect(await blobs.exists('artifacts/sha256/orphan.tar.gz')).toBe(false);
    await orphan('artifacts/sha256/orphan-2.tar.gz');
    cleanup.schedule(AGENT);
    await cleanup.idle();
    expect(await blobs.exists('artifacts/sha256/orphan-2.tar.gz')).toBe(true);
    now += ORPHAN_GRACE_MS;
    cleanup.schedule(AGENT);
    await cleanup.idle();
    expect(await blobs.exists('artifacts/sha256/orphan-2.tar.gz')).toBe(false);
  });
});
