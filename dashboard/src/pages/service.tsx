import { useEffect, useState } from 'preact/hooks';
import type { Job, ServiceView } from '../../../clients/typescript/src/index.js';
import { client } from '../live.js';
import { Action, Panel, Status } from '../ui.js';

/** A service: URL, serving revision, traffic split, its deployments, a rollback of the serving one. */
export function Service({ agent }: { agent: string }) {
  const [svc, setSvc] = useState<ServiceView | null>(null);
  const [history, setHistory] = useState<Job[]>([]);
  const [error, setError] = useState('');
  const load = async () => {
    try {
      setSvc(await client.getService(agent));
      setHistory((await client.listDeployments({ agent_id: agent, limit: 20 })).deployments);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => {
    void load();
  }, [agent]);
  if (!svc)
    return (
      <main>
        <h1>{agent}</h1>
        {error ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : (
          <p>Loading…</p>
        )}
      </main>
    );
  const serving = history.find((j) => j.deployment_id === svc.deployment_id);
  return (
    <main>
      <h1>Service {agent}</h1>
      <p>
        <a href={svc.url ?? '#'}>{svc.url}</a> · serving <strong>{svc.serving_revision ?? 'nothing'}</strong> ·{' '}
        <Status status={svc.status} />
      </p>
      <Panel title="Traffic">
        <table>
          <thead>
            <tr>
              <th scope="col">revision</th>
              <th scope="col">percent</th>
              <th scope="col">tag</th>
            </tr>
          </thead>
          <tbody>
            {svc.traffic.map((t) => (
              <tr>
                <td>{t.revision}</td>
                <td>{t.percent}%</td>
                <td>{t.tag ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Panel>
      {serving?.status === 'completed' && serving.previous_revision && (
        <Action
          label={`Roll back to ${serving.previous_revision}`}
          kind="danger"
          confirm={`Return traffic to ${serving.previous_revision}?`}
          run={async () => {
            const rb = await client.rollback(serving.deployment_id, 'rolled back from the service page');
            window.location.hash = `#/deployments/${rb.rollback_id}`;
          }}
        />
      )}
      <Panel title="History">
        <ul class="jobs">
          {history.map((j) => (
            <li>
              <a href={`#/deployments/${j.deployment_id}`}>{j.revision ?? j.deployment_id}</a> <Status status={j.status} />{' '}
              <span class="muted">
                {j.kind} · {new Date(j.created_at).toLocaleString()}
              </span>
            </li>
          ))}
        </ul>
      </Panel>
    </main>
  );
}
