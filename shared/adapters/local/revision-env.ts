import { execFileSync } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { satisfiesNodeRange } from '../../domain/node-range.js';

/** The PATH a revision gets after its own bin folder and its Node: the system's, nothing of Baton's. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface NodeBinary {
  path: string;
  version: string;
}

export interface NodeChoice extends NodeBinary {
  /** Said in the revision's log: which Node runs it when the package asked for one. */
  note: string | null;
}

let found: NodeBinary[] | null = null;

/**
 * The Node binaries a revision may run on: the one running Baton (the default) first, then a
 * different `node` on the system PATH. Looked up once per process.
 */
export function nodeBinaries(): NodeBinary[] {
  if (found) return found;
  const own = { path: realpathSync(process.execPath), version: process.version };
  const out = [own];
  for (const dir of SYSTEM_PATH.split(':')) {
    const candidate = join(dir, 'node');
    try {
      accessSync(candidate, constants.X_OK);
      const path = realpathSync(candidate);
      if (out.some((n) => n.path === path)) continue;
      const version = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 5000, env: { PATH: SYSTEM_PATH } }).trim();
      out.push({ path, version });
    } catch {
      // Not there, or not a working node.
    }
  }
  found = out;
  return out;
}

/**
 * The Node a package asked for with `engines.node`: the one running Baton when it satisfies the
 * range (or there is none), else the first system one that does; when none does, Baton's, with a
 * note saying so.
 */
export function chooseNode(engines: unknown, binaries: NodeBinary[] = nodeBinaries()): NodeChoice {
  const own = binaries[0];
  if (typeof engines !== 'string' || engines.trim() === '') return { ...own, note: null };
  const verdicts = binaries.map((b) => ({ b, ok: satisfiesNodeRange(b.version, engines) }));
  if (verdicts[0].ok === null) {
    return { ...own, note: `engines.node "${engines}" could not be read: running Node ${own.version} (the one running Baton)` };
  }
  const match = verdicts.find((v) => v.ok);
  if (match) return { ...match.b, note: `engines.node "${engines}": running Node ${match.b.version} (${match.b.path})` };
  const seen = binaries.map((b) => `${b.version} (${b.path})`).join(', ');
  return {
    ...own,
    note: `engines.node "${engines}" is not satisfied by any Node found (${seen}): running Node ${own.version}, the one running Baton. Install a matching Node on the system PATH, or change engines.node`,
  };
}

/**
 * A revision's whole environment, built from nothing (Cloud Run's container contract): its own bin
 * folder, its Node and the system PATH, NODE_ENV=production unless the request says otherwise, what
 * the request sets, and the variables Cloud Run itself sets (PORT, K_SERVICE, K_REVISION,
 * K_CONFIGURATION), which the request cannot override. Nothing of the control plane's environment.
 */
export function revisionEnv(opts: {
  appDir: string;
  home: string;
  node: NodeBinary;
  request: Record<string, string>;
  port: number;
  service: string;
  revision: string;
}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    ...opts.request,
    PATH: `${join(opts.appDir, 'node_modules', '.bin')}:${dirname(opts.node.path)}:${SYSTEM_PATH}`,
    HOME: opts.home,
    PORT: String(opts.port),
    K_SERVICE: opts.service,
    K_REVISION: opts.revision,
    K_CONFIGURATION: opts.service,
    // Revisions here are reachable through the router only; Baton's agent runtime reads this.
    BATON_LISTEN_HOST: '127.0.0.1',
  };
}
