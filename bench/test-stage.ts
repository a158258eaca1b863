/**
 * What the test stage adds to a deployment with functional tests only (the default in development:
 * one GET of the health path), over the requests themselves. Deploys examples/hello N times on an
 * in-process local stack and, per deployment, takes
 *
 *   overhead = (testing.started_at − verifying.completed_at)   the extra hand-off (event → function)
 *            + testing.duration_ms                              claim, requests, commit, hand-on
 *            − the requests' own time (functional_test.metrics: response_time × requests)
 *
 * and prints median, p90 and max against the goal (< 50 ms). It also prints the hop after it that
 * every deployment now takes, the approval gate's (promoting.started_at − testing.completed_at,
 * with no approval required), apart: it is not the test stage's, but it is in every deployment.
 *
 *   npm run bench:test-stage          BENCH_TEST_DEPLOYS (10)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startLocalStack } from '../functions/local/stack.js';
import { loadConfig } from '../shared/config.js';
import type { Job } from '../shared/domain/job.js';
import { FINAL_STATUSES } from '../shared/domain/status.js';
import { summarize } from './stats.js';

const DEPLOYS = Number(process.env.BENCH_TEST_DEPLOYS ?? 10);
if (!Number.isInteger(DEPLOYS) || DEPLOYS < 1)
  throw new Error(`BENCH_TEST_DEPLOYS=${process.env.BENCH_TEST_DEPLOYS}: must be an integer >= 1`);
const GOAL_MS = 50;
const EXAMPLE = resolve(import.meta.dirname, '..', 'examples', 'hello');

/** The stage's cost beyond its requests, from one completed job's timings and results. */
function testStageOverheadMs(job: Job): { overhead_ms: number; requests_ms: number; gate_ms: number } {
  const verified = job.stage_timings.verifying?.completed_at;
  const testing = job.stage_timings.testing;
  const functional = job.test_results.find((r) => r.test_type === 'functional_test');
  if (!verified || !testing?.duration_ms || !functional) throw new Error(`deployment ${job.deployment_id} has no test-stage timings`);
  const requests_ms = Number(functional.metrics.response_time) * 1000 * Number(functional.metrics.requests);
  const handoff = Date.parse(testing.started_at) - Date.parse(verified);
  const promoting = job.stage_timings.promoting?.started_at;
  const gate_ms = testing.completed_at && promoting ? Date.parse(promoting) - Date.parse(testing.completed_at) : Number.NaN;
  return { overhead_ms: handoff + testing.duration_ms - requests_ms, requests_ms, gate_ms };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-bench-test-'));
  const stack = await startLocalStack(loadConfig({ BATON_DATA_DIR: dataDir, PORT: '0', BATON_VERIFY_POLL_MS: '20' }));
  const overheads: number[] = [];
  const requests: number[] = [];
  const gates: number[] = [];
  try {
    for (let i = 1; i <= DEPLOYS; i++) {
      const res = await fetch(`${stack.url}/deploy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: 'test-bench', source: { type: 'directory', path: EXAMPLE } }),
      });
      const body = (await res.json()) as { deployment_id?: string };
      if (res.status !== 202 || !body.deployment_id) throw new Error(`deploy ${i} answered ${res.status}: ${JSON.stringify(body)}`);
      let job: Job | null = null;
      while (!job || !FINAL_STATUSES.includes(job.status)) {
        await new Promise((r) => setTimeout(r, 25));
        job = await stack.jobs.get(body.deployment_id);
      }
      if (job.status !== 'completed') throw new Error(`deploy ${i} ended ${job.status}: ${job.error_message}`);
      const m = testStageOverheadMs(job);
      overheads.push(m.overhead_ms);
      requests.push(m.requests_ms);
      gates.push(m.gate_ms);
      process.stderr.write(
        `bench:test-stage: ${i}/${DEPLOYS} overhead ${m.overhead_ms.toFixed(1)} ms (requests ${m.requests_ms.toFixed(1)} ms)\n`,
      );
    }
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const o = summarize(overheads);
  const r = summarize(requests);
  console.log(`Test stage, functional tests only, ${DEPLOYS} deployments of examples/hello on the local target`);
  console.log(`  requests themselves   p50 ${r.p50.toFixed(1)} ms  max ${r.max.toFixed(1)} ms`);
  console.log(`  overhead over them    p50 ${o.p50.toFixed(1)} ms  p90 ${o.p90.toFixed(1)} ms  max ${o.max.toFixed(1)} ms`);
  console.log(`  goal < ${GOAL_MS} ms (p50): ${o.p50 < GOAL_MS ? 'met' : 'NOT met'}`);
  const g = summarize(gates);
  console.log(`  then the approval gate's hop (none required)  p50 ${g.p50.toFixed(1)} ms  max ${g.max.toFixed(1)} ms`);
}

await main();
