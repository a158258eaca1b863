import { useState } from 'preact/hooks';
import { client } from '../live.js';

/** The deploy form: a config file and an archive (POST /deploy-from-file), or a git repository (POST /deploy). */
export function DeployForm() {
  const [mode, setMode] = useState<'upload' | 'git'>('upload');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      const agentId = String(form.get('agent_id') ?? '').trim();
      let accepted: { deployment_id: string };
      if (mode === 'git') {
        accepted = await client.deploy({
          agent_id: agentId,
          source: { type: 'git', url: String(form.get('url')), ref: String(form.get('ref') || 'main') },
          ...(form.get('environment') ? { environment: String(form.get('environment')) } : {}),
        });
      } else {
        const config = form.get('config_file') as File | null;
        const source = form.get('source') as File | null;
        if (!config || config.size === 0) throw new Error('choose a config file (YAML or JSON)');
        accepted = await client.deployFromFile({
          agentId: agentId || undefined,
          configFile: { name: config.name, data: new Uint8Array(await config.arrayBuffer()) },
          source: source && source.size > 0 ? { name: source.name, data: new Uint8Array(await source.arrayBuffer()) } : undefined,
        });
      }
      window.location.hash = `#/deployments/${accepted.deployment_id}`;
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main>
      <h1>Deploy</h1>
      <fieldset class="tabs">
        <legend>Source</legend>
        <label>
          <input type="radio" name="mode" checked={mode === 'upload'} onChange={() => setMode('upload')} /> Config file and archive
        </label>
        <label>
          <input type="radio" name="mode" checked={mode === 'git'} onChange={() => setMode('git')} /> Git repository
        </label>
      </fieldset>
      <form onSubmit={submit} class="stack">
        <label>
          Agent id <input name="agent_id" required={mode === 'git'} placeholder="my-agent" autocomplete="off" />
        </label>
        {mode === 'upload' ? (
          <>
            <label>
              Config file (YAML or JSON) <input type="file" name="config_file" accept=".yaml,.yml,.json" required />
            </label>
            <label>
              Source archive (optional: .tar.gz, .tgz, .zip) <input type="file" name="source" accept=".gz,.tgz,.zip" />
            </label>
          </>
        ) : (
          <>
            <label>
              Repository URL <input name="url" type="url" required placeholder="https://github.com/me/app.git" />
            </label>
            <label>
              Ref <input name="ref" placeholder="main" />
            </label>
            <label>
              Environment <input name="environment" placeholder="the default" />
            </label>
          </>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Deploying…' : 'Deploy'}
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
