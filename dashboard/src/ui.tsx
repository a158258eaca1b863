import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Job } from '../../clients/typescript/src/index.js';

/** Small shared pieces: the hash route, status badges, the progress bar, async actions. */

export function useHashRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function Status({ status }: { status: string }) {
  return <span class={`badge s-${status}`}>{status.replace('_', ' ')}</span>;
}

export function Progress({ job }: { job: Pick<Job, 'progress' | 'status'> }) {
  // The figure sits beside the bar, not over the fill, so its contrast never depends on the fill.
  return (
    <div class="progress">
      <div class="bar" role="progressbar" aria-valuenow={job.progress} aria-valuemin={0} aria-valuemax={100} aria-label="progress">
        <div class={`fill s-${job.status}`} style={{ width: `${job.progress}%` }} />
      </div>
      <span>{job.progress}%</span>
    </div>
  );
}

export function eta(job: Pick<Job, 'eta_seconds' | 'status'>): string {
  if (job.eta_seconds == null || ['completed', 'failed', 'rolled_back', 'cancelled'].includes(job.status)) return '—';
  return job.eta_seconds < 60 ? `${Math.round(job.eta_seconds)} s` : `${Math.round(job.eta_seconds / 60)} min`;
}

export function ms(v: number | null | undefined): string {
  if (v == null) return '—';
  return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`;
}

export function Panel({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="panel" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** A button that runs an async action and shows its error beside it (the API's message names the field). */
export function Action({
  label,
  run,
  confirm: ask,
  kind,
}: {
  label: string;
  run: () => Promise<unknown>;
  confirm?: string;
  kind?: 'danger';
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  return (
    <span class="action">
      <button
        type="button"
        class={kind}
        disabled={busy}
        onClick={async () => {
          if (ask && !window.confirm(ask)) return;
          setBusy(true);
          setError('');
          try {
            await run();
          } catch (e) {
            setError(e instanceof Error ? e.message : String(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        {label}
      </button>
      {error && (
        <span role="alert" class="error">
          {error}
        </span>
      )}
    </span>
  );
}

/** Preformatted text that may scroll: focusable, so a keyboard can scroll it (axe: scrollable-region-focusable). */
export function Scroll({
  children,
  label,
  testId,
  class: cls,
}: {
  children: ComponentChildren;
  label: string;
  testId?: string;
  class?: string;
}) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard to be scrolled
    <pre tabIndex={0} title={label} data-testid={testId} class={cls}>
      {children}
    </pre>
  );
}
