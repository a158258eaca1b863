import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildResource, BuildStep } from '../../shared/adapters/gcp/builder.js';

/**
 * Plays Cloud Build for the bash steps of a build Baton sends (the git fetch step, the Dockerfile
 * step): each step's args go through Cloud Build's substitution, then `bash -c` runs in the step's
 * `dir` under /workspace (a temporary folder), with the step's secretEnv from `secrets` and
 * $BUILDER_OUTPUT, and what it wrote to $BUILDER_OUTPUT/output comes back base64-encoded as in
 * results.buildStepOutputs.
 *
 * Stricter than Cloud Build: any `$` not doubled in an arg is an error here (Cloud Build would
 * substitute it, or leave it to ALLOW_LOOSE), so a script that reached bash altered fails the test.
 * What it does not prove: the builder images' own tools (gcr.io/cloud-builders/git is git on
 * Ubuntu; this machine's git, bash and coreutils stand in), the network of a Cloud Build worker,
 * Secret Manager (the values are given), docker steps (not run: no docker here).
 */
export function substitute(arg: string, substitutions: Record<string, string>): string {
  return arg.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, _m, braced, bare) => {
    if (whole === '$$') return '$';
    const name = braced ?? bare;
    const value = substitutions[name];
    if (value === undefined) throw new Error(`Cloud Build would substitute ${whole} in a step's args: double the $ for bash`);
    return value;
  });
}

export interface StepRun {
  code: number;
  /** stdout and stderr, interleaved, as the build log shows them. */
  log: string;
  /** $BUILDER_OUTPUT/output, base64 (as results.buildStepOutputs[i]), or '' when the step wrote none. */
  output: string;
}

export class Workspace {
  readonly root = mkdtempSync(join(tmpdir(), 'baton-cb-workspace-'));

  constructor(
    private readonly build: BuildResource,
    /** Values of the secrets, by the env each availableSecrets entry names. */
    private readonly secrets: Record<string, string> = {},
    /** Extra environment for every step (e.g. GIT_SSL_CAINFO for a test server's certificate). */
    private readonly env: Record<string, string> = {},
  ) {}

  step(id: string): BuildStep {
    const step = this.build.steps.find((s) => s.id === id);
    if (!step) throw new Error(`the build has no step ${id}`);
    return step;
  }

  /** Runs one bash step as Cloud Build would. */
  run(id: string): Promise<StepRun> {
    const step = this.step(id);
    if (step.entrypoint !== 'bash' || step.args[0] !== '-c') throw new Error(`step ${id} is not a bash -c step`);
    const script = substitute(step.args[1], { ...this.build.substitutions, BUILD_ID: 'build-id', PROJECT_ID: 'project' });
    const declared = new Map((this.build.availableSecrets?.secretManager ?? []).map((s) => [s.env, s.versionName]));
    const secretEnv: Record<string, string> = {};
    for (const name of step.secretEnv ?? []) {
      if (!declared.has(name)) throw new Error(`secretEnv ${name} is not in availableSecrets`);
      const value = this.secrets[name];
      if (value === undefined) throw new Error(`no value for the secret ${declared.get(name)}`);
      secretEnv[name] = value;
    }
    const outputs = mkdtempSync(join(tmpdir(), 'baton-cb-outputs-'));
    const cwd = join(this.root, step.dir ?? '');
    mkdirSync(cwd, { recursive: true });
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', script], {
        cwd,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BUILDER_OUTPUT: outputs, ...this.env, ...secretEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      child.stdout.on('data', (d: Buffer) => {
        log += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        log += d.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => {
        const file = join(outputs, 'output');
        const output = existsSync(file) ? readFileSync(file).subarray(0, 4096).toString('base64') : '';
        rmSync(outputs, { recursive: true, force: true });
        resolve({ code: code ?? -1, log, output });
      });
    });
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
