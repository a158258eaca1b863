/**
 * Operating Baton (issue 10), on an in-process local stack:
 *
 * 1. GET /metrics with BENCH_OPS_JOBS (10,000) finished deployments stored: latency over HTTP
 *    (goal p99 < 20 ms), all agents and one agent's filter; beside it, in the same run, the same
 *    numbers computed the way the aggregates avoid (walking every job through JobStore.list), to
 *    show what the per-request scan would cost.
 * 2. BENCH_OPS_DEPLOYS (200) deployments of distinct agents submitted at once with a per-owner
 *    limit of 3: accept latency (goal p99 < 50 ms), every one ends completed, none stuck (all
 *    final within BENCH_OPS_TIMEOUT_S), and never more than 3 running at once (sampled every 50 ms).
 *
 *   npm run bench:ops        BENCH_OPS_JOBS, BENCH_OPS_METRIC_REQUESTS (500), BENCH_OPS_DEPLOYS, BENCH_OPS_TIMEOUT_S (600)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../functions/local/stack.js';
import { loadConfig } from '../shared/config.js';
import { holdsOwnerSlot } from '../shared/domain/admission.js';
import { type Job, newJob } from '../shared/domain/job.js';
import { DeploymentRequestSchema } from '../shared/domain/request.js';
import { FINAL_STATUSES } from '../shared/domain/status.js';
import { intEnv, ms, summarize, table } from './stats.js';

const JOBS = intEnv('BENCH_OPS_JOBS', 10_000);
const METRIC_REQUESTS = intEnv('BENCH_OPS_METRIC_REQUESTS', 500);
const DEPLOYS = intEnv('BENCH_OPS_DEPLOYS', 200);
const TIMEOUT_S = intEnv('BENCH_OPS_TIMEOUT_S', 600);
const LIMIT = 3;

async function timed(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return performance.now() - t0;
}

/** The per-request scan the aggregates replace: every job through the store's list, then the counts. */
async function scanMetrics(
  stack: Awaited<ReturnType<typeof startLocalStack>>,
): Promise<{ total: number; average_ms: number; p95_ms: number }> {
  let cursor: string | undefined;
  let total = 0;
  let sum = 0;
  const durations: number[] = [];
  do {
    const page = await stack.jobs.list({ limit: 100, cursor, kind: 'deployment' });
    for (const j of page.items) {
      if (!FINAL_STATUSES.includes(j.status)) continue;
      total++;
      const d = Date.parse(j.completed_at ?? j.updated_at) - Date.parse(j.created_at);
      sum += d;
      durations.push(d);
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  durations.sort((a, b) => a - b);
  return { total, average_ms: total ? sum / total : 0, p95_ms: durations[Math.ceil(durations.length * 0.95) - 1] ?? 0 };
}

async function metricsBench() {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-ops-m-'));
  const stack = await startLocalStack(loadConfig({ BATON_DATA_DIR: dir, PORT: '0' }));
  try {
    const t0 = Date.parse('2026-11-20T00:00:00Z');
    const seedStart = performance.now();
    // Seeded through the store's own commits (each ending deployment folds into the aggregates), 250 at a time.
    const seedOne = async (i: number) => {
      const agent = `agent-${i % 100}`;
      const created = new Date(t0 + i * 60_000).toISOString();
      const job: Job = newJob(
        `m-${i}`,
        DeploymentRequestSchema.parse({ agent_id: agent, environment: i % 3 ? 'development' : 'staging' }),
        created,
      );
      await stack.jobs.create(job);
      const done = new Date(t0 + i * 60_000 + 20_000 + (i % 50) * 1000).toISOString();
      await stack.jobs.update(job.deployment_id, (j) => ({ ...j, status: 'validating' }));
      await stack.jobs.update(job.deployment_id, (j) => ({
        ...j,
        status: i % 10 === 0 ? 'failed' : 'completed',
        completed_at: done,
        updated_at: done,
        stage_timings: {
          validating: { started_at: created, completed_at: created, duration_ms: 100 + (i % 7) * 10 },
          building: { started_at: created, completed_at: done, duration_ms: 10_000 + (i % 50) * 500 },
        },
      }));
    };
    for (let i = 0; i < JOBS; i += 250) await Promise.all(Array.from({ length: Math.min(250, JOBS - i) }, (_, k) => seedOne(i + k)));
    // Measured once the journal has folded the seeding into its files, as a control plane that has run a while.
    await stack.jobs.flush();
    const seeded = performance.now() - seedStart;
    const from = 'from=2026-11-01&to=2026-12-31';
    for (let i = 0; i < 20; i++) await timed(`${stack.url}/metrics?${from}`); // warm-up
    const all: number[] = [];
    const one: number[] = [];
    for (let i = 0; i < METRIC_REQUESTS; i++) {
      all.push(await timed(`${stack.url}/metrics?${from}`));
      one.push(await timed(`${stack.url}/metrics?${from}&agent_id=agent-7&environment=development`));
    }
    const body = (await (await fetch(`${stack.url}/metrics?${from}`)).json()) as { metrics: Record<string, unknown> };
    const scans: number[] = [];
    for (let i = 0; i < 20; i++) {
      const s0 = performance.now();
      await scanMetrics(stack);
      scans.push(performance.now() - s0);
    }
    const a = summarize(all);
    const o = summarize(one);
    const s = summarize(scans);
    console.log(`\n1. GET /metrics with ${JOBS} finished deployments stored (seeded in ${ms(seeded)}), ${METRIC_REQUESTS} requests each`);
    console.log(
      table(
        ['what', 'n', 'p50', 'p99', 'max'],
        [
          ['GET /metrics (aggregates, all agents)', String(a.n), ms(a.p50), ms(a.p99), ms(a.max)],
          ['GET /metrics?agent_id&environment', String(o.n), ms(o.p50), ms(o.p99), ms(o.max)],
          ['scan of every job (what it avoids)', String(s.n), ms(s.p50), ms(s.p99), ms(s.max)],
        ],
      ),
    );
    console.log(
      `   goal p99 < 20 ms: ${a.p99 < 20 && o.p99 < 20 ? 'met' : 'NOT met'}; scan p50 / aggregates p50 = ${(s.p50 / a.p50).toFixed(1)}x`,
    );
    console.log(`   total_deployments ${body.metrics.total_deployments}, p95_deployment_time ${body.metrics.p95_deployment_time} s`);
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function queueBench(): Promise<ReturnType<typeof summarize>> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-ops-q-'));
  const stack = await startLocalStack(
    loadConfig({
      BATON_DATA_DIR: dir,
      PORT: '0',
      BATON_VERIFY_POLL_MS: '20',
      BATON_MAX_ACTIVE_PER_OWNER: String(LIMIT),
      BATON_MAX_QUEUED_PER_OWNER: String(DEPLOYS),
    }),
  );
  let maxRunning = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const page = await stack.jobs.list({ limit: DEPLOYS + 10 });
      maxRunning = Math.max(maxRunning, page.items.filter(holdsOwnerSlot).length);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    const accepts: number[] = [];
    const started = performance.now();
    const ids = await Promise.all(
      Array.from({ length: DEPLOYS }, async (_, i) => {
        const t0 = performance.now();
        const res = await fetch(`${stack.url}/deploy`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ agent_id: `ops-${i}`, source: { type: 'config' } }),
        });
        const body = (await res.json()) as { deployment_id?: string };
        accepts.push(performance.now() - t0);
        if (res.status !== 202 || !body.deployment_id) throw new Error(`deploy ${i} answered ${res.status}: ${JSON.stringify(body)}`);
        return body.deployment_id;
      }),
    );
    const deadline = Date.now() + TIMEOUT_S * 1000;
    let jobs: (Job | null)[] = [];
    while (Date.now() < deadline) {
      jobs = await Promise.all(ids.map((id) => stack.jobs.get(id)));
      if (jobs.every((j) => j && FINAL_STATUSES.includes(j.status))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const took = performance.now() - started;
    const byStatus = new Map<string, number>();
    for (const j of jobs) byStatus.set(j?.status ?? 'missing', (byStatus.get(j?.status ?? 'missing') ?? 0) + 1);
    const stuck = jobs.filter((j) => !j || !FINAL_STATUSES.includes(j.status)).length;
    const a = summarize(accepts);
    console.log(`\n2. ${DEPLOYS} deployments (config source, distinct agents) submitted at once, per-owner limit ${LIMIT}`);
    console.log(table(['what', 'n', 'p50', 'p99', 'max'], [['POST /deploy accept', String(a.n), ms(a.p50), ms(a.p99), ms(a.max)]]));
    console.log(`   outcomes: ${[...byStatus].map(([s, n]) => `${s} ${n}`).join(', ')}; stuck: ${stuck}; all final after ${ms(took)}`);
    console.log(`   most running at once (sampled every 50 ms): ${maxRunning} (limit ${LIMIT})`);
    console.log(
      `   goals: accept p99 < 50 ms ${a.p99 < 50 ? 'met' : 'NOT met'}; all completed ${byStatus.get('completed') === DEPLOYS ? 'yes' : 'NO'}; none stuck ${stuck === 0 ? 'yes' : 'NO'}; limit held ${maxRunning <= LIMIT ? 'yes' : 'NO'}`,
    );
    return a;
  } finally {
    sampling = false;
    await sampler;
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same burst of accepts with no per-owner limit (nothing waits), stopped once accepted: what the queue adds to an accept. */
async function acceptBaseline(): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-ops-b-'));
  const stack = await startLocalStack(loadConfig({ BATON_DATA_DIR: dir, PORT: '0', BATON_MAX_ACTIVE_PER_OWNER: String(DEPLOYS + 1) }));
  try {
    return await submitAll(stack.url, 'base');
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function submitAll(url: string, prefix: string): Promise<number[]> {
  const accepts: number[] = [];
  await Promise.all(
    Array.from({ length: DEPLOYS }, async (_, i) => {
      const t0 = performance.now();
      const res = await fetch(`${url}/deploy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: `${prefix}-${i}`, source: { type: 'config' } }),
      });
      await res.arrayBuffer();
      accepts.push(performance.now() - t0);
      if (res.status !== 202) throw new Error(`deploy ${i} answered ${res.status}`);
    }),
  );
  return accepts;
}

async function main() {
  console.log(`bench:ops on ${process.platform}, Node ${process.version}; other work on the machine skews every figure`);
  await metricsBench();
  const baseline = summarize(await acceptBaseline());
  const queued = await queueBench();
  console.log(
    table(
      ['accept of the burst', 'n', 'p50', 'p99', 'max'],
      [
        ['with the queue (limit 3)', String(queued.n), ms(queued.p50), ms(queued.p99), ms(queued.max)],
        ['no limit (nothing waits)', String(baseline.n), ms(baseline.p50), ms(baseline.p99), ms(baseline.max)],
      ],
    ),
  );
  console.log(`   queue p99 / no-limit p99 = ${(queued.p99 / baseline.p99).toFixed(2)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
