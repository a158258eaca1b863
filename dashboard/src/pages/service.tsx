import { useEffect, useState } from 'preact/hooks';
import type { HistoryEntryView, ServiceList, ServiceView } from '../../../clients/typescript/src/index.js';
import { client } from '../live.js';
import { Action, Panel, Status } from '../ui.js';

/** Every agent with its serving revision and pin (GET /services). */
export function Services() {
  const [list, setList] = useState<ServiceList['services'] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    client.listServices().then(
      (l) => setList(l.services),
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  }, []);
  return (
    <main>
      <h1>Services</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {list?.length === 0 && <p>No service deployed yet</p>}
      <ul class="jobs" aria-label="services">
        {(list ?? []).map((s) => (
          <li>
            <a href={`#/services/${encodeURIComponent(s.agent_id)}`}>{s.agent_id}</a> <Status status={s.status} />{' '}
            {s.pinned && <span class="badge s-pinned">pinned</span>} <span class="muted">serving {s.serving_revision ?? 'nothing'}</span>
          </li>
        ))}
      </ul>
    </main>
  );
}

/**
 * A service: URL, serving revision, traffic split, the pin a manual rollback left (and unpin),
 * a rollback to the revision before or to a named one, and its audit trail (GET
 * /services/{agent_id}/history: every state change and operator action, who and when).
 */
export function Service({ agent }: { agent: string }) {
  const [svc, setSvc] = useState<ServiceView | null>(null);
  const [history, setHistory] = useState<HistoryEntryView[]>([]);
  const [allHistory, setAllHistory] = useState(false);
  const [error, setError] = useState('');
  const load = async () => {
    try {
      const [s, h] = await Promise.all([client.getService(agent), client.getHistory(agent, 50)]);
      setSvc(s);
      setHistory(h);
      setError('');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => {
    setSvc(null);
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
  return (
    <main>
      <h1>Service {agent}</h1>
      <p>
        <a href={svc.url ?? '#'}>{svc.url}</a> · serving <strong>{svc.serving_revision ?? 'nothing'}</strong> ·{' '}
        <Status status={svc.status} />
        {svc.deployment_id && (
          <>
            {' '}
            · by <a href={`#/deployments/${svc.deployment_id}`}>{svc.deployment_id}</a>
          </>
        )}
      </p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {svc.pinned && svc.pin ? (
        <Panel title="Pinned">
          <p data-testid="pin">
            Pinned to <strong>{svc.pin.revision}</strong> by rollback{' '}
            <a href={`#/deployments/${svc.pin.rollback_id}`}>{svc.pin.rollback_id}</a> on {new Date(svc.pin.pinned_at).toLocaleString()}:{' '}
            {svc.pin.reason}. A deployment is refused until the agent is unpinned.
          </p>
          <Action label="Unpin" confirm={`Let deployments of ${agent} through again?`} run={() => client.unpin(agent).then(load)} />
        </Panel>
      ) : (
        <p class="muted" data-testid="pin">
          Not pinned: deployments go through.
        </p>
      )}
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
      {svc.deployment_id && <RollbackForm svc={svc} />}
      <Panel title="History">
        {history.length === 0 ? (
          <p>No entries yet</p>
        ) : (
          <ul class="jobs" aria-label="history">
            {(allHistory ? history : history.slice(0, HISTORY_SHOWN)).map((h) => (
              <li>
                <span class="muted">{new Date(h.at).toLocaleString()}</span> {describe(h)}
                {h.deployment_id && (
                  <>
                    {' '}
                    · <a href={`#/deployments/${h.deployment_id}`}>{h.deployment_id.slice(0, 8)}</a>
                  </>
                )}
                {h.by && <span class="muted"> · by {h.by}</span>}
                {h.detail && <span class="muted"> · {h.detail}</span>}
              </li>
            ))}
          </ul>
        )}
        {!allHistory && history.length > HISTORY_SHOWN && (
          <button type="button" class="link" onClick={() => setAllHistory(true)}>
            Show all {history.length} entries
          </button>
        )}
      </Panel>
    </main>
  );
}

/** Entries shown before "Show all": the newest, which say what happened last. */
const HISTORY_SHOWN = 12;

function describe(h: HistoryEntryView): string {
  if (h.event === 'action') return `${h.action ?? 'action'}`;
  if (h.event === 'created') return `created (${h.to ?? ''})`;
  if (h.event === 'admitted') return 'left the queue';
  return `${h.from ?? '?'} → ${h.to ?? '?'}`;
}

/**
 * POST /rollback of the serving deployment: to the revision before it, or to a named one
 * (target_revision; one that served before, or any with force). The API says why it refuses.
 */
function RollbackForm({ svc }: { svc: ServiceView }) {
  const others = svc.good_revisions.map((g) => g.revision).filter((r) => r !== svc.serving_revision);
  const [target, setTarget] = useState('');
  const [named, setNamed] = useState('');
  const [force, setForce] = useState(false);
  const [reason, setReason] = useState('');
  const revision = target === 'other' ? named.trim() : target;
  return (
    <Panel title="Roll back">
      <div class="stack">
        <label>
          Return to
          <select value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
            <option value="">the previous revision</option>
            {others.map((r) => (
              <option value={r}>{r}</option>
            ))}
            <option value="other">another revision, by name…</option>
          </select>
        </label>
        {target === 'other' && (
          <>
            <label>
              Revision name <input value={named} onInput={(e) => setNamed((e.target as HTMLInputElement).value)} autocomplete="off" />
            </label>
            <label>
              <input type="checkbox" checked={force} onChange={(e) => setForce((e.target as HTMLInputElement).checked)} /> even if it never
              served (force)
            </label>
          </>
        )}
        <label>
          Reason <input value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} placeholder="why" />
        </label>
        <Action
          label={revision ? `Roll back to ${revision}` : 'Roll back'}
          kind="danger"
          confirm={`Move all traffic of ${svc.agent_id} to ${revision || 'the revision before'}? The agent stays pinned until unpinned.`}
          run={async () => {
            const rb = await client.rollback(
              svc.deployment_id ?? '',
              reason.trim() || 'rolled back from the service page',
              {},
              revision ? { target_revision: revision, ...(force ? { rollback_options: { force_rollback: true } } : {}) } : {},
            );
            window.location.hash = `#/deployments/${rb.rollback_id}`;
          }}
        />
      </div>
    </Panel>
  );
}
