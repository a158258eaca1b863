import { useEffect, useState } from 'preact/hooks';
import type { DesignEndpoint, Execution, ExecutionWithSteps } from '../../../clients/typescript/src/index.js';
import { client } from '../live.js';
import { Action, Panel, Scroll, Status } from '../ui.js';

/** Seed 002's page: deploy a design with path and schedule, activate/deactivate, run, executions, delete. */
export function Designs() {
  const [list, setList] = useState<DesignEndpoint[]>([]);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<string | null>(null);
  const reload = async () => setList((await client.listDesigns({ limit: 100 })).deployments);
  useEffect(() => {
    reload().catch((e: unknown) => setError(String(e)));
  }, []);
  const deploy = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setError('');
    try {
      const design: unknown = JSON.parse(String(form.get('design')));
      const cron = String(form.get('cron') ?? '').trim();
      const ep = await client.deployDesign({
        design,
        endpoint_path: String(form.get('path')),
        ...(cron ? { schedule: { enabled: true, cron_expression: cron } } : {}),
      });
      await reload();
      setSelected(ep.id);
      if (ep.api_key) window.alert(`API key (shown once): ${ep.api_key}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const current = list.find((d) => d.id === selected);
  return (
    <main>
      <h1>Design endpoints</h1>
      <Panel title="Deploy a design">
        <form onSubmit={deploy} class="stack">
          <label>
            Endpoint path <input name="path" required placeholder="/orders/summary" />
          </label>
          <label>
            Schedule (cron, optional) <input name="cron" placeholder="*/5 * * * *" />
          </label>
          <label>
            Design (JSON) <textarea name="design" rows={6} required />
          </label>
          <button type="submit">Deploy design</button>
          {error && (
            <p role="alert" class="error">
              {error}
            </p>
          )}
        </form>
      </Panel>
      <ul class="jobs" aria-label="deployed designs">
        {list.map((d) => (
          <li>
            <button type="button" class="link" onClick={() => setSelected(d.id)} aria-pressed={d.id === selected}>
              {d.design_name} · {d.endpoint_path}
            </button>{' '}
            <Status status={d.status} /> <span class="muted">{d.execution_count} runs</span>
          </li>
        ))}
      </ul>
      {current && <DesignDetail key={current.id} design={current} onChange={reload} onDeleted={() => setSelected(null)} />}
    </main>
  );
}

function DesignDetail({ design, onChange, onDeleted }: { design: DesignEndpoint; onChange: () => Promise<void>; onDeleted: () => void }) {
  const [input, setInput] = useState('{}');
  const [runs, setRuns] = useState<Execution[]>([]);
  const [status, setStatus] = useState('');
  const [last, setLast] = useState<Execution | null>(null);
  const [steps, setSteps] = useState<ExecutionWithSteps | null>(null);
  const loadRuns = async () => setRuns((await client.listExecutions(design.id, { status: status || undefined, limit: 20 })).logs);
  useEffect(() => {
    void loadRuns();
  }, [status, design.id]);
  return (
    <Panel title={`${design.design_name} (${design.endpoint_path})`}>
      <p>
        <code>{design.endpoint_url}</code> <Action label="Copy URL" run={() => navigator.clipboard.writeText(design.endpoint_url)} />
      </p>
      <div class="actions">
        <Action
          label={design.status === 'active' ? 'Deactivate' : 'Activate'}
          run={async () => {
            await client.updateDesign(design.id, { status: design.status === 'active' ? 'inactive' : 'active' });
            await onChange();
          }}
        />
        <Action
          label="Delete"
          kind="danger"
          confirm={`Delete ${design.endpoint_path}? Its logs stay readable.`}
          run={async () => {
            await client.deleteDesign(design.id);
            onDeleted();
            await onChange();
          }}
        />
      </div>
      <label>
        Input (JSON) <textarea rows={3} value={input} onInput={(e) => setInput(e.currentTarget.value)} />
      </label>
      <Action
        label="Run"
        run={async () => {
          setLast(await client.executeDesign(design.id, JSON.parse(input)));
          await loadRuns();
          await onChange();
        }}
      />
      {last && (
        <Scroll label="last result" testId="last-result">
          {last.status}: {JSON.stringify(last.result_data ?? last.error ?? null, null, 2)}
        </Scroll>
      )}
      <h3>Executions</h3>
      <label>
        Status
        <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          {['', 'completed', 'failed', 'timeout', 'running', 'limit_exceeded'].map((s) => (
            <option value={s}>{s || 'any'}</option>
          ))}
        </select>
      </label>
      <ul class="jobs" aria-label="executions">
        {runs.map((r) => (
          <li>
            <button type="button" class="link" onClick={async () => setSteps(await client.getExecution(design.id, r.execution_id))}>
              {r.execution_id}
            </button>{' '}
            <Status status={r.status} />{' '}
            <span class="muted">
              {r.trigger_type} · {r.duration_ms ?? '—'} ms
            </span>
          </li>
        ))}
      </ul>
      {steps && (
        <Scroll label="execution steps" testId="steps">
          {steps.steps.map((s) => JSON.stringify(s)).join('\n')}
        </Scroll>
      )}
    </Panel>
  );
}
