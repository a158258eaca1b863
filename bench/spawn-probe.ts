import childProcess, { type ChildProcess } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { nowMs } from './http.js';

/**
 * Observes (never changes) the processes the stack spawns, to time a revision from its spawn to its
 * first line of output. examples/hello prints its first line in its listen callback, so that is
 * "spawn → listening on PORT" as the process itself saw it, without the runtime's digest check,
 * extraction and 15 ms readiness polling that measurements.startup_ms also counts.
 *
 * Installs a wrapper around child_process.spawn and re-syncs the built-in's ES module exports, so
 * modules that imported `spawn` call the wrapper. Revisions are recognised by K_REVISION in the
 * environment the runtime gives them.
 */
export interface RevisionSpawn {
  spawned_at: number;
  first_output_at: number | null;
}

const revisions = new Map<string, RevisionSpawn>();
let installed = false;

export function installSpawnProbe(): void {
  if (installed) return;
  installed = true;
  const original = childProcess.spawn;
  const wrapped = (...args: unknown[]): ChildProcess => {
    const child = (original as (...a: unknown[]) => ChildProcess)(...args);
    const options = args.find((a): a is { env?: NodeJS.ProcessEnv } => typeof a === 'object' && a !== null && !Array.isArray(a));
    const revision = options?.env?.K_REVISION;
    if (revision) {
      const rec: RevisionSpawn = { spawned_at: nowMs(), first_output_at: null };
      revisions.set(revision, rec);
      const first = () => {
        rec.first_output_at ??= nowMs();
      };
      child.stdout?.once('data', first);
      child.stderr?.once('data', first);
    }
    return child;
  };
  (childProcess as unknown as { spawn: unknown }).spawn = wrapped;
  syncBuiltinESMExports();
}

export function revisionSpawn(revision: string | null): RevisionSpawn | null {
  return revision ? (revisions.get(revision) ?? null) : null;
}
