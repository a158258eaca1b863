import { useEffect, useState } from 'preact/hooks';
import type { Job } from '../../../clients/typescript/src/index.js';
import type { LiveSource } from '../live.js';
import { eta, Progress, Status } from '../ui.js';

const STATUSES = [
  '',
  'queued',
  'validating',
  'building',
  'deploying',
  'verifying',
  'testing',
  'awaiting_approval',
  'promoting',
  'completed',
  'failed',
  'rolling_back',
  'rolled_back',
  'cancelled',
];

/** The live list: status, progress and ETA, filtered by agent, status and environment. */
export function Deployments({ live }: { live: LiveSource }) {
  const [agent, setAgent] = useState('');
  const [status, setStatus] = useState('');
  const [environment, setEnvironment] = useState('');
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState('');
  useEffect(
    () =>
      live.watchList(
        {
          agent_id: /^[a-z0-9][a-z0-9_-]*$/.test(agent) ? agent : undefined,
          status: (status || undefined) as Job['status'] | undefined,
          limit: 50,
        },
        (j) => {
          setJobs(j);
          setError('');
        },
        setError,
      ),
    [live, agent, status],
  );
  const shown = (jobs ?? []).filter((j) => !environment || j.environment === environment);
  return (
    <main>
      <h1>Deployments</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Agent <input value={agent} onInput={(e) => setAgent(e.currentTarget.value.trim())} placeholder="any" />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            {STATUSES.map((s) => (
              <option value={s}>{s || 'any'}</option>
            ))}
          </select>
        </label>
        <label>
          Environment <input value={environment} onInput={(e) => setEnvironment(e.currentTarget.value.trim())} placeholder="any" />
        </label>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {jobs === null ? (
        <p>Loading…</p>
      ) : shown.length === 0 ? (
        <p>
          No deployments yet. <a href="#/deploy">Deploy one</a>.
        </p>
      ) : (
        <ul class="jobs" aria-label="deployments">
          {shown.map((j) => (
            <li key={j.deployment_id}>
              <a href={`#/deployments/${j.deployment_id}`} class="job-link">
                <strong>{j.agent_id}</strong> <Status status={j.status} />{' '}
                <span class="muted">
                  {j.kind === 'rollback' ? 'rollback · ' : ''}
                  {j.environment} · {j.current_step}
                </span>
              </a>
              <Progress job={j} />
              <span class="muted">
                ETA {eta(j)} · {new Date(j.created_at).toLocaleString()}
              </span>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
