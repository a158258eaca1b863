import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PermanentError } from '../domain/errors.js';
import { redact, withoutCredentials } from '../domain/redact.js';

/**
 * A shallow fetch of one ref (branch, tag or commit sha) into `dest`: `git init`, `git fetch
 * --depth 1 <url> <ref>`, a detached checkout of FETCH_HEAD. Only the https and http transports
 * are enabled (protocol.allow=never otherwise: no file://, ext:: or ssh even through a redirect
 * or a submodule), no terminal prompt, no system or global config. A token goes in an
 * Authorization header passed through GIT_CONFIG_* environment variables: never on the command
 * line, in the URL, in a file, or in a log line (git's stderr is redacted as well).
 */
export async function shallowClone(input: {
  url: string;
  ref: string;
  dest: string;
  token: string | null;
  timeoutMs: number;
  path?: string;
}): Promise<{ root: string; commit: string }> {
  const config: [string, string][] = [
    ['protocol.allow', 'never'],
    ['protocol.https.allow', 'always'],
    ['protocol.http.allow', 'always'],
    ['http.followRedirects', 'initial'],
    ['advice.detachedHead', 'false'],
  ];
  if (input.token)
    config.push(['http.extraHeader', `Authorization: Basic ${Buffer.from(`x-access-token:${input.token}`).toString('base64')}`]);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: input.dest,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_COUNT: String(config.length),
  };
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  const git = (args: string[]) => run(args, env, input.timeoutMs, input.token);
  await git(['init', '--quiet', input.dest]);
  await git(['-C', input.dest, 'fetch', '--quiet', '--depth', '1', '--no-tags', '--', input.url, input.ref]).catch((err: unknown) => {
    throw new PermanentError(
      `Could not fetch ${input.ref} from ${withoutCredentials(input.url)}: ${err instanceof Error ? err.message : String(err)}`,
      input.token
        ? 'Check the ref and that the token can read the repository'
        : 'Check the URL and ref; a private repository needs token_secret',
    );
  });
  await git(['-C', input.dest, 'checkout', '--quiet', '--detach', 'FETCH_HEAD']);
  const commit = (await git(['-C', input.dest, 'rev-parse', 'HEAD'])).trim();
  const root = input.path ? join(input.dest, input.path) : input.dest;
  if (input.path && !(await stat(root).catch(() => null))?.isDirectory())
    throw new PermanentError(`The repository has no folder ${input.path} at ${input.ref}`, 'Check source.path');
  return { root, commit };
}

function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, token: string | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.on('error', (e) => reject(new PermanentError(`Could not run git: ${e.message}`, 'Install git on the control plane machine')));
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      const text = token ? err.split(token).join('<redacted>') : err;
      reject(
        new Error(`git ${args.find((a) => !a.startsWith('-') && a !== args[1]) ?? args[0]} failed (exit ${code}): ${redact(text.trim())}`),
      );
    });
  });
}
