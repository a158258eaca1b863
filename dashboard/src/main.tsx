import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, type LiveSource, liveSource } from './live.js';
import { DeployForm } from './pages/deploy.js';
import { Deployment } from './pages/deployment.js';
import { Deployments } from './pages/deployments.js';
import { Designs } from './pages/designs.js';
import { Metrics } from './pages/metrics.js';
import { Service, Services } from './pages/service.js';
import './style.css';
import { useHashRoute } from './ui.js';

const NAV = [
  ['#/', 'Deployments'],
  ['#/deploy', 'Deploy'],
  ['#/services', 'Services'],
  ['#/designs', 'Designs'],
  ['#/metrics', 'Metrics'],
] as const;

function App() {
  const route = useHashRoute();
  const [live, setLive] = useState<LiveSource | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    liveSource().then(setLive, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, []);
  const [page, arg] = route;
  useEffect(() => {
    document.title = `Baton · ${page ?? 'deployments'}`;
    document.querySelector('main h1')?.closest('main')?.focus();
  }, [page, arg]);
  return (
    <>
      <a href="#content" class="skip">
        Skip to content
      </a>
      <header>
        <nav aria-label="main">
          <strong>Baton</strong>
          {NAV.map(([href, label]) => (
            <a href={href} aria-current={`#/${page ?? ''}` === href ? 'page' : undefined}>
              {label}
            </a>
          ))}
          {live && currentSession() && (
            <span class="who" data-testid="signed-in">
              {currentSession()?.email}
            </span>
          )}
        </nav>
      </header>
      <div id="content">
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {!live ? null : page === 'deployments' && arg ? (
          <Deployment id={arg} live={live} />
        ) : page === 'services' && arg ? (
          <Service agent={arg} />
        ) : page === 'services' ? (
          <Services />
        ) : page === 'deploy' ? (
          <DeployForm />
        ) : page === 'designs' ? (
          <Designs />
        ) : page === 'metrics' ? (
          <Metrics />
        ) : (
          <Deployments live={live} />
        )}
      </div>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
