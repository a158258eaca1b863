import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Environments, MetricsPoint, Metrics as MetricsView } from '../../../clients/typescript/src/index.js';
import { client } from '../live.js';
import { ms, Panel } from '../ui.js';

/** Windows offered, in days (today included). */
const WINDOWS = [
  [1, 'today'],
  [7, 'last 7 days'],
  [30, 'last 30 days'],
  [90, 'last 90 days'],
] as const;

const dayBefore = (days: number) => new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
/** The histograms' first bucket is [0, 100 ms): the server gives its middle, 50 ms, for anything in it. */
const seconds = (s: number | null | undefined) => (s != null && s * 1000 < 100 ? '<\u00a0100\u00a0ms' : ms(s == null ? null : s * 1000));
const toUnix = (p: MetricsPoint) => Date.parse(p.start) / 1000;

/**
 * Metrics and environments, all from the server: GET /metrics (its aggregates, filtered by agent,
 * environment and window) gives the totals, each stage's p50/p95 and the window over time (hours
 * for a window of up to 7 days, else days); stage durations over time come from its day series.
 */
export function Metrics() {
  const [agent, setAgent] = useState('');
  const [environment, setEnvironment] = useState('');
  const [days, setDays] = useState(7);
  const [view, setView] = useState<MetricsView | null>(null);
  const [daily, setDaily] = useState<MetricsView | null>(null);
  const [envs, setEnvs] = useState<Environments | null>(null);
  const [stage, setStage] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    client.getEnvironments().then(setEnvs, (e: unknown) => setError(String(e)));
  }, []);
  useEffect(() => {
    const query = { agent_id: agent.trim() || undefined, environment: environment || undefined, from: dayBefore(days) };
    const controller = new AbortController();
    Promise.all([
      client.getMetrics(query, { signal: controller.signal }),
      client.getMetrics({ ...query, resolution: 'day' }, { signal: controller.signal }),
    ]).then(
      ([v, d]) => {
        setView(v);
        setDaily(d);
        setError('');
      },
      (e: unknown) => {
        if (!controller.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => controller.abort();
  }, [agent, environment, days]);
  const m = view?.metrics;
  // The x axis spans the window asked for (a lone point would otherwise get a range of years).
  const windowStart = Date.parse(`${dayBefore(days)}T00:00:00Z`) / 1000;
  const windowEnd = Math.ceil(Date.now() / 3_600_000) * 3600;
  const xRange: [number, number] = [windowStart, windowEnd];
  const points = view?.series.points ?? [];
  const by = view?.series.resolution ?? 'hour';
  const stages = Object.entries(m?.stages ?? {});
  const shownStage = stage || stages.find(([s]) => s === 'building')?.[0] || stages[0]?.[0] || '';
  const stageDays = (daily?.series.points ?? []).filter((p) => p.stages?.[shownStage]);
  return (
    <main>
      <h1>Metrics and environments</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Agent <input value={agent} onChange={(e) => setAgent((e.target as HTMLInputElement).value)} placeholder="all" />
        </label>
        <label>
          Environment
          <select value={environment} onChange={(e) => setEnvironment((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {Object.keys(envs?.environments ?? {}).map((name) => (
              <option value={name}>{name}</option>
            ))}
          </select>
        </label>
        <label>
          Window
          <select value={String(days)} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            {WINDOWS.map(([d, label]) => (
              <option value={String(d)}>{label}</option>
            ))}
          </select>
        </label>
      </form>
      {m && (
        <Panel title="Summary">
          <p data-testid="summary">
            {m.total_deployments} deployments · {Math.round(m.success_rate * 100)}% succeeded · {m.failed_deployments} failed or rolled back
            · {m.cancelled_deployments} cancelled · duration p50 {seconds(m.p50_deployment_time)}, p95 {seconds(m.p95_deployment_time)} ·{' '}
            {m.active_deployments} running now
          </p>
        </Panel>
      )}
      <Panel title={`Success rate by ${by}`}>
        <Chart
          label={`success rate (%) by ${by}`}
          data={[points.map(toUnix), points.map((p) => p.success_rate * 100)]}
          series={[{ label: 'success %', stroke: '#1d6b2f' }]}
          x={xRange}
          y={[0, 100]}
        />
      </Panel>
      <Panel title={`Deployment duration by ${by}`}>
        <Chart
          label={`deployment duration p50 and p95 (s) by ${by}`}
          data={[points.map(toUnix), points.map((p) => p.p50_deployment_time), points.map((p) => p.p95_deployment_time)]}
          series={[
            { label: 'p50 s', stroke: '#0b4f8a' },
            { label: 'p95 s', stroke: '#8a3b0b' },
          ]}
          x={xRange}
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
            {stages.map(([s, v]) => (
              <tr>
                <td>{s}</td>
                <td>{seconds(v.p50)}</td>
                <td>{seconds(v.p95)}</td>
                <td>{v.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {stages.length > 0 && (
          <label>
            Stage over time
            <select value={shownStage} onChange={(e) => setStage((e.target as HTMLSelectElement).value)}>
              {stages.map(([s]) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </label>
        )}
        <Chart
          label={`${shownStage || 'stage'} duration p50 and p95 (s) by day`}
          data={[
            stageDays.map(toUnix),
            stageDays.map((p) => p.stages?.[shownStage]?.p50 ?? null),
            stageDays.map((p) => p.stages?.[shownStage]?.p95 ?? null),
          ]}
          series={[
            { label: 'p50 s', stroke: '#0b4f8a' },
            { label: 'p95 s', stroke: '#8a3b0b' },
          ]}
          x={xRange}
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

function Chart({
  label,
  data,
  series,
  x,
  y,
}: {
  label: string;
  data: (number | null)[][];
  series: { label: string; stroke: string }[];
  /** The x axis (unix seconds) and, when fixed, the y axis. */
  x: [number, number];
  y?: [number, number];
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current || data[0].length === 0) return;
    const width = Math.min(720, ref.current.clientWidth || 320);
    const plot = new uPlot(
      {
        width,
        height: 200,
        scales: { x: { time: true, range: x }, ...(y ? { y: { range: y } } : {}) },
        series: [{}, ...series.map((s) => ({ ...s, width: 2, points: { show: true } }))],
      },
      data as uPlot.AlignedData,
      ref.current,
    );
    return () => plot.destroy();
  }, [JSON.stringify(data), label, x[0], x[1]]);
  return (
    <div ref={ref} role="img" aria-label={label} class="chart">
      {data[0].length === 0 ? 'No finished deployments in this window' : null}
    </div>
  );
}
