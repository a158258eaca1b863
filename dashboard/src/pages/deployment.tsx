import { useEffect, useState } from 'preact/hooks';
import type { Job } from '../../../clients/typescript/src/index.js';
import { client, type LiveSource } from '../live.js';
import { Action, eta, ms, Panel, Progress, Scroll, Status } from '../ui.js';

type Row = Record<string, unknown>;

/** One deployment, live: timeline, progress, log tail, results, the failure record, actions. */
export function Deployment({ id, live }: { id: string; live: LiveSource }) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    setJob(null);
    return live.watchJob(id, setJob, setError);
  }, [id, live]);
  if (error && !job)
    return (
      <main>
        <h1>Deployment {id}</h1>
        <p role="alert" class="error">
          {error}
        </p>
      </main>
    );
  if (!job)
    return (
      <main>
        <h1>Deployment</h1>
        <p>Loading…</p>
      </main>
    );
  const failure = (job as Row).failure as Row | null | undefined;
  const canaries = ((job as Row).canary_analyses as Row[] | undefined) ?? [];
  const awaiting = job.status === 'awaiting_approval';
  const running = !['completed', 'failed', 'rolled_back', 'cancelled'].includes(job.status);
  return (
    <main>
      <h1>
        {job.kind === 'rollback' ? 'Rollback' : 'Deployment'} of <a href={`#/services/${job.agent_id}`}>{job.agent_id}</a>{' '}
        <Status status={job.status} />
      </h1>
      <p class="muted">
        {job.deployment_id} · {job.environment} · version {job.version} · ETA {eta(job)}
      </p>
      <Progress job={job} />
      <p aria-live="polite" class="step">
        {job.current_step}
      </p>
      {job.service_url && (
        <p>
          Service: <a href={job.service_url}>{job.service_url}</a> (revision {job.revision})
        </p>
      )}
      <div class="actions">
        {running && <Action label="Cancel" kind="danger" confirm="Cancel this deployment?" run={() => client.cancel(job.deployment_id)} />}
        {awaiting && <Action label="Approve" run={() => client.approve(job.deployment_id)} />}
        {awaiting && (
          <Action
            label="Reject"
            kind="danger"
            run={async () => client.reject(job.deployment_id, window.prompt('Why reject?') || 'rejected in the dashboard')}
          />
        )}
        {job.status === 'completed' && job.kind === 'deployment' && job.previous_revision && (
          <Action
            label="Roll back"
            kind="danger"
            confirm={`Return traffic to ${job.previous_revision}?`}
            run={async () => {
              const rb = await client.rollback(job.deployment_id, 'rolled back from the dashboard');
              window.location.hash = `#/deployments/${rb.rollback_id}`;
            }}
          />
        )}
        {job.rollback_id && <a href={`#/deployments/${job.rollback_id}`}>its rollback</a>}
        {job.rollback_of && <a href={`#/deployments/${job.rollback_of}`}>the deployment it rolls back</a>}
      </div>
      {failure && (
        <Panel title="Why it failed">
          <p class="error">
            <strong>{String(failure.reason_code)}</strong> in {String(failure.stage)}: {String(failure.message)}
          </p>
          <p>What to do: {String(failure.hint)}</p>
          {Array.isArray(failure.revision_output) && failure.revision_output.length > 0 && (
            <Scroll label="the revision's last output">{(failure.revision_output as string[]).join('\n')}</Scroll>
          )}
        </Panel>
      )}
      <Panel title="Stages">
        <table>
          <thead>
            <tr>
              <th scope="col">stage</th>
              <th scope="col">started</th>
              <th scope="col">took</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(job.stage_timings).map(([stage, t]) => (
              <tr key={stage}>
                <td>{stage}</td>
                <td>{new Date(t.started_at).toLocaleTimeString()}</td>
                <td>{t.duration_ms == null ? 'running' : ms(t.duration_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Panel>
      <Panel title="Log">
        <Scroll label="log tail" class="log">
          {job.logs.join('\n')}
        </Scroll>
        <a href={`${client.baseUrl}/deployments/${job.deployment_id}/logs`}>The whole log</a>
      </Panel>
      {job.validation_results.length > 0 && (
        <Panel title="Validation">
          <ResultList
            rows={job.validation_results.map((v) => ({ name: v.test_name, passed: v.passed, text: `${v.severity}: ${v.message}` }))}
          />
        </Panel>
      )}
      {job.test_results.length > 0 && (
        <Panel title="Tests">
          <ResultList rows={job.test_results.map((t) => ({ name: `${t.test_type}: ${t.test_name}`, passed: t.passed, text: t.message }))} />
        </Panel>
      )}
      {canaries.length > 0 && (
        <Panel title="Canary analysis">
          <Scroll label="canary analyses">{canaries.map((c) => JSON.stringify(c)).join('\n')}</Scroll>
        </Panel>
      )}
    </main>
  );
}

function ResultList({ rows }: { rows: { name: string; passed: boolean; text: string }[] }) {
  return (
    <ul class="results">
      {rows.map((r) => (
        <li class={r.passed ? 'pass' : 'fail'}>
          <strong>{r.passed ? 'pass' : 'FAIL'}</strong> {r.name} — {r.text}
        </li>
      ))}
    </ul>
  );
}
