import { readFileSync } from 'node:fs';
import { type ProcessRecord, startTimeOf } from '../../shared/adapters/local/process.js';

/**
 * The processes that launched this one for an npm script (`npm start` → sh → tsx → node): every
 * ancestor that npm started (it carries npm_lifecycle_event), and npm itself. Empty when not run
 * by npm, or where /proc cannot tell.
 *
 * npm forwards SIGTERM and SIGINT to its shell, which dies without passing them on, and npm does
 * not forward SIGHUP at all: watching these is how `kill <npm's PID>` reaches Baton.
 */
export function launchers(): ProcessRecord[] {
  if (process.env.npm_lifecycle_event === undefined) return [];
  const out: ProcessRecord[] = [];
  for (let pid = process.ppid; pid > 1 && out.length < 10; ) {
    const start = startTimeOf(pid);
    if (start === null) break;
    out.push({ pid, start });
    if (!startedByNpm(pid)) break;
    pid = parentOf(pid);
  }
  return out;
}

/** Calls `onGone` (once) when one of `watched` has exited; checks every `everyMs`. */
export function watchLaunchers(watched: ProcessRecord[], onGone: (gone: ProcessRecord) => void, everyMs = 250): () => void {
  if (watched.length === 0) return () => undefined;
  const timer = setInterval(() => {
    const gone = watched.find((p) => startTimeOf(p.pid) !== p.start);
    if (!gone) return;
    clearInterval(timer);
    onGone(gone);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

function startedByNpm(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1')
      .split('\0')
      .some((v) => v.startsWith('npm_lifecycle_event='));
  } catch {
    return false;
  }
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}
