import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Environments, Job } from '../../../clients/typescript/src/index.js';
import { client } from '../live.js';
import { ms, Panel } from '../ui.js';

/** Success rate and stage durations (p50/p95) over time, from the last 100 jobs; and the environments. */
export function Metrics() {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [envs, setEnvs] = useState<Environments | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    client.listDeployments({ limit: 100 }).then(
      (p) => setJobs(p.deployments),
      (e: unknown) => setError(String(e)),
    );
    client.getEnvironments().then(setEnvs, (e: unknown) => setError(String(e)));
  }, []);
  const finished = (jobs ?? []).filter((j) => j.kind === 'deployment' && j.completed_at).reverse();
  const buckets = byHour(finished);
  const stages = stageStats(finished);
  return (
    <main>
      <h1>Metrics and environments</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <Panel title="Success rate by hour">
        <Chart
          label="success rate (%) by hour"
          data={[buckets.map((b) => b.t), buckets.map((b) => b.rate)]}
          series={[{ label: 'success %', stroke: '#1d6b2f' }]}
        />
      </Panel>
      <Panel title="Stage durations">
        <table>
          <thead>
            <tr>
              <th scope="col">stage</th>
              <th scope="col">p50</th>
              <th scope="col">p95</th>
              <th scope="col">n</th>
            </tr>
          </thead>
          <tbody>
            {stages.map((s) => (
              <tr>
                <td>{s.stage}</td>
                <td>{ms(s.p50)}</td>
                <td>{ms(s.p95)}</td>
                <td>{s.n}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Chart
          label="deployment duration p50 and p95 (s) by hour"
          data={[buckets.map((b) => b.t), buckets.map((b) => b.p50 / 1000), buckets.map((b) => b.p95 / 1000)]}
          series={[
            { label: 'p50 s', stroke: '#0b4f8a' },
            { label: 'p95 s', stroke: '#8a3b0b' },
          ]}
        />
      </Panel>
      <Panel title="Environments">
        <ul>
          {Object.entries(envs?.environments ?? {}).map(([name, e]) => (
            <li>
              <strong>{name}</strong>
              {name === envs?.default_environment ? ' (default)' : ''}: {e.description} — {e.validation_level} validation, tests{' '}
              {e.test_types.join(', ')}
            </li>
          ))}
        </ul>
      </Panel>
    </main>
  );
}

function Chart({ label, data, series }: { label: string; data: number[][]; series: { label: string; stroke: string }[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current || data[0].length === 0) return;
    const width = Math.min(720, ref.current.clientWidth || 320);
    const plot = new uPlot(
      { width, height: 200, series: [{}, ...series.map((s) => ({ ...s, width: 2, points: { show: true } }))] },
      data as uPlot.AlignedData,
      ref.current,
    );
    return () => plot.destroy();
  }, [JSON.stringify(data)]);
  return (
    <div ref={ref} role="img" aria-label={label} class="chart">
      {data[0].length === 0 ? 'No finished deployments yet' : null}
    </div>
  );
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

function byHour(jobs: Job[]) {
  const groups = new Map<number, Job[]>();
  for (const j of jobs) {
    const hour = Math.floor(Date.parse(j.created_at) / 3_600_000) * 3600;
    groups.set(hour, [...(groups.get(hour) ?? []), j]);
  }
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([t, js]) => {
      const took = js.map((j) => Date.parse(j.completed_at ?? j.created_at) - Date.parse(j.created_at)).sort((a, b) => a - b);
      return { t, rate: (100 * js.filter((j) => j.status === 'completed').length) / js.length, p50: pct(took, 50), p95: pct(took, 95) };
    });
}

function stageStats(jobs: Job[]) {
  const by = new Map<string, number[]>();
  for (const j of jobs)
    for (const [stage, t] of Object.entries(j.stage_timings))
      if (t.duration_ms != null) by.set(stage, [...(by.get(stage) ?? []), t.duration_ms]);
  return [...by.entries()].map(([stage, v]) => {
    const sorted = [...v].sort((a, b) => a - b);
    return { stage, p50: pct(sorted, 50), p95: pct(sorted, 95), n: v.length };
  });
}
