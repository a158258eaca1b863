import { type ChildProcess, spawn } from 'node:child_process';

/** Splits a stream into lines and hands each to `onLine`. */
export function onLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let rest = '';
  stream.on('data', (d: Buffer) => {
    const parts = (rest + d.toString('utf8')).split(/\r?\n/);
    rest = parts.pop() ?? '';
    for (const p of parts) if (p.trim().length > 0) onLine(p);
  });
  stream.on('end', () => {
    if (rest.trim().length > 0) onLine(rest);
    rest = '';
  });
}

/** Runs a shell command in its own process group, so the whole tree can be stopped. */
export function spawnGroup(command: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): ChildProcess {
  return spawn('/bin/sh', ['-c', command], { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Stops a process group: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export function stopGroup(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const kill = setTimeout(() => signal(pid, 'SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      signal(pid, 'SIGKILL');
      resolve();
    });
    signal(pid, 'SIGTERM');
  });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

/** The environment child processes get: the machine's, without the control plane's own settings. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('BATON_') || k.startsWith('VITEST') || k === 'PORT' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
