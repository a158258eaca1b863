import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  BatonApiError,
  BatonClient,
  BatonConnectionError,
  BatonInvalidRequestError,
  type Job,
  type ServiceLogEntry,
} from '../../clients/typescript/src/index.js';
import type { DeploymentRequestInput } from '../domain/request.js';
import { completionScript } from './completion.js';
import {
  agentIdFromFolder,
  parseApproval,
  parseApprovalTimeout,
  parseCanaryThresholds,
  parseEnvFlags,
  parseEnvironment,
  parseHealthPath,
  parseSecretFlags,
  parseStartTimeout,
  parseStrategy,
  UsageError,
} from './deploy-options.js';
import { designs } from './designs.js';
import { DotenvError, parseDotenv } from './dotenv.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import { lintCommand } from './lint.js';
import { ProgressView, renderJob, renderLogEntry, renderOutcome, renderService, renderServices, renderTable, USAGE } from './render.js';

/** `baton` — the command line on top of BatonClient. `run` does everything but touch the process, so tests can drive it. */

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  cwd: string;
  fetch?: typeof fetch;
  /** Opens a URL in the user's browser (`baton open`); absent in tests, where the URL is only printed. */
  openUrl?: (url: string) => void;
  /** Subscribes to Ctrl-C while a command follows a job; returns the unsubscribe. */
  onInterrupt?: (handler: () => void) => () => void;
}

const OPTIONS = {
  url: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  agent: { type: 'string', short: 'a' },
  env: { type: 'string', short: 'e', multiple: true },
  'env-file': { type: 'string', multiple: true },
  secret: { type: 'string', multiple: true },
  environment: { type: 'string' },
  version: { type: 'string' },
  'health-path': { type: 'string' },
  'start-timeout': { type: 'string' },
  strategy: { type: 'string' },
  'max-error-rate': { type: 'string' },
  'max-latency': { type: 'string' },
  'min-requests': { type: 'string' },
  'no-auto-rollback': { type: 'boolean' },
  approval: { type: 'string' },
  'approval-timeout': { type: 'string' },
  source: { type: 'string' },
  wait: { type: 'boolean', short: 'w' },
  timeout: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
  reason: { type: 'string' },
  service: { type: 'string' },
  revision: { type: 'string' },
  lines: { type: 'string' },
  format: { type: 'string' },
  dockerfile: { type: 'string' },
  path: { type: 'string' },
  schedule: { type: 'string' },
  timezone: { type: 'string' },
  input: { type: 'string' },
  status: { type: 'string' },
  unpin: { type: 'boolean' },
  to: { type: 'string' },
  force: { type: 'boolean' },
  cleanup: { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const GLOBAL_OPTIONS: readonly OptionName[] = ['url', 'json', 'help'];

/** The options a folder deployment takes from flags; a config file carries its own. */
const FOLDER_ONLY = [
  'env',
  'env-file',
  'secret',
  'environment',
  'version',
  'health-path',
  'start-timeout',
  'strategy',
  'max-error-rate',
  'max-latency',
  'min-requests',
  'no-auto-rollback',
  'approval',
  'approval-timeout',
] as const satisfies readonly OptionName[];

/** Each command, its positional arguments (min, max) and the options it accepts besides the global ones. */
const COMMANDS: Record<string, { args: [number, number]; options: readonly OptionName[] }> = {
  deploy: {
    args: [1, 1],
    options: ['agent', ...FOLDER_ONLY, 'source', 'wait', 'timeout', 'unpin'],
  },
  status: { args: [0, 1], options: ['agent', 'limit', 'cursor'] },
  logs: { args: [0, 1], options: ['follow', 'service', 'revision', 'lines'] },
  rollback: { args: [1, 1], options: ['reason', 'wait', 'timeout', 'to', 'force', 'cleanup'] },
  unpin: { args: [1, 1], options: [] },
  services: { args: [0, 0], options: ['limit'] },
  cancel: { args: [1, 1], options: [] },
  approve: { args: [1, 1], options: [] },
  reject: { args: [1, 1], options: ['reason'] },
  service: { args: [1, 1], options: [] },
  designs: { args: [1, 3], options: ['path', 'schedule', 'timezone', 'input', 'status', 'limit'] },
  open: { args: [0, 1], options: [] },
  completion: { args: [1, 1], options: [] },
  help: { args: [0, 1], options: [] },
  lint: { args: [0, 1], options: ['format', 'dockerfile'] },
};

/** Runs one command; the exit code follows exit-codes.ts. With --json, errors too are JSON (on stderr). */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const fail = (code: number, error: Record<string, unknown>, text: string) => {
    io.stderr.write(json ? `${JSON.stringify({ error, exit_code: code })}\n` : text);
    return code;
  };
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) return fail(EXIT.badInput, { code: 'usage', message: err.message }, `baton: ${err.message}\n\n${USAGE}`);
    if (err instanceof DotenvError) return fail(EXIT.badInput, { code: 'usage', message: err.message }, `baton: ${err.message}\n`);
    if (err instanceof BatonApiError) {
      const error = { code: err.code, status: err.status, message: err.serverMessage, ...(err.field ? { field: err.field } : {}) };
      return fail(err instanceof BatonInvalidRequestError ? EXIT.badInput : EXIT.failed, error, `baton: ${err.message}\n`);
    }
    if (err instanceof BatonConnectionError)
      return fail(EXIT.failed, { code: 'unreachable', message: err.message }, `baton: ${err.message}\n`);
    const message = err instanceof Error ? err.message : String(err);
    return fail(EXIT.failed, { code: 'error', message }, `baton: ${message}\n`);
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const [command, ...args] = positionals;
  if (values.help || command === 'help') {
    io.stdout.write(values.json ? `${JSON.stringify({ usage: USAGE, commands: Object.keys(COMMANDS) })}\n` : USAGE);
    return 0;
  }
  if (!command) throw new UsageError('no command given');
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command "${command}"`);
  for (const name of Object.keys(values) as OptionName[]) {
    if (!GLOBAL_OPTIONS.includes(name) && !spec.options.includes(name))
      throw new UsageError(`option --${name} does not apply to "${command}"`);
  }
  const [min, max] = spec.args;
  if (args.length < min) throw new UsageError(`"${command}" needs ${min === 1 ? 'an argument' : `${min} arguments`}`);
  if (args.length > max) throw new UsageError(`too many arguments for "${command}": ${args.slice(max).join(' ')}`);

  if (command === 'lint') {
    const format = values.format ?? (values.json ? 'json' : 'text');
    if (!['text', 'json', 'sarif'].includes(format)) throw new UsageError(`--format must be text, json or sarif, not "${format}"`);
    const dir = resolve(io.cwd, args[0] ?? '.');
    // A folder that is not there is bad input (4), as in deploy, not a lint failure (1).
    if ((await pathKind(dir)) !== 'directory') throw new UsageError(`lint takes a folder: ${args[0] ?? '.'} is not one`);
    return lintCommand(dir, { format, dockerfile: values.dockerfile }, io.stdout);
  }
  const session = await firestoreSession(io.env);
  const client = new BatonClient({
    baseUrl: values.url || io.env.BATON_URL || undefined,
    fetch: io.fetch,
    token: io.env.BATON_TOKEN || undefined,
    documentWatcher: session?.watcher,
  });
  const ctx: Ctx = { client, io, values, json: values.json === true };
  try {
    switch (command) {
      case 'deploy':
        return await deploy(ctx, args[0]);
      case 'status':
        return await status(ctx, args[0]);
      case 'logs':
        return values.service === undefined ? await logs(ctx, args[0]) : await serviceLogs(ctx, values.service, args[0]);
      case 'rollback':
        return await rollback(ctx, args[0]);
      case 'cancel':
        return await cancel(ctx, args[0]);
      case 'approve':
        return await decideApproval(ctx, args[0], 'approve');
      case 'reject':
        return await decideApproval(ctx, args[0], 'reject');
      case 'service':
        return await service(ctx, args[0]);
      case 'designs':
        return await designs({ client, cwd: io.cwd, json: ctx.json, out: (t) => io.stdout.write(t), values }, args);
      case 'open':
        return openDashboard(ctx, args[0]);
      case 'completion':
        return completion(ctx, args[0]);
      case 'unpin':
        return await unpin(ctx, args[0]);
      case 'services':
        return await services(ctx);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    // The Firestore connection would keep the process alive.
    await session?.close();
  }
}

interface Ctx {
  client: BatonClient;
  io: CliIo;
  values: Values;
  json: boolean;
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;
const ARCHIVE = /\.(tar\.gz|tgz|zip)$/i;

async function deploy(ctx: Ctx, arg: string): Promise<number> {
  const { client, io, values } = ctx;
  const target = resolve(io.cwd, arg);
  const kind = await pathKind(target);
  if (kind === 'missing') throw new UsageError(`${arg} does not exist`);
  const timeoutMs = parseTimeout(values.timeout);
  if (values.timeout !== undefined && !values.wait) throw new UsageError('--timeout only applies with --wait');

  let accepted: Awaited<ReturnType<BatonClient['deploy']>>;
  if (kind === 'directory') {
    if (values.source) throw new UsageError('--source goes with a config file; a folder is its own source');
    const request = await folderRequest(ctx, target);
    accepted = await client.deploy({ ...request, source: { type: 'directory', path: target }, ...(values.unpin ? { unpin: true } : {}) });
  } else if (kind === 'file' && CONFIG_FILE.test(target)) {
    const ignored = FOLDER_ONLY.filter((k) => values[k] !== undefined);
    if (ignored.length > 0) {
      io.stderr.write(`baton: ignoring ${ignored.map((k) => `--${k}`).join(', ')}: a config file deployment takes these from the file\n`);
    }
    let source: { name: string; data: Buffer } | undefined;
    if (values.source) {
      const sourcePath = resolve(io.cwd, values.source);
      if ((await pathKind(sourcePath)) !== 'file' || !ARCHIVE.test(sourcePath)) {
        throw new UsageError(`--source must be an existing .tar.gz, .tgz or .zip archive, not ${values.source}`);
      }
      source = { name: basename(sourcePath), data: await readFile(sourcePath) };
    }
    accepted = await client.deployFromFile({
      agentId: values.agent,
      unpin: values.unpin === true,
      configFile: { name: basename(target), data: await readFile(target) },
      source,
    });
  } else {
    throw new UsageError(`${arg} is neither a folder nor a .yaml, .yml or .json service config`);
  }

  if (!values.wait) {
    io.stdout.write(
      ctx.json ? `${JSON.stringify(accepted, null, 2)}\n` : `Deployment ${accepted.deployment_id} queued (agent ${accepted.agent_id})\n`,
    );
    if (!ctx.json) io.stdout.write(`Follow it with: baton status ${accepted.deployment_id}\n`);
    return 0;
  }
  if (!ctx.json) io.stdout.write(`Deployment ${accepted.deployment_id} queued (agent ${accepted.agent_id})\n`);
  return follow(ctx, accepted.deployment_id, timeoutMs);
}

/** The POST /deploy body for a folder, from the flags; the agent id from the folder's name when --agent is missing. */
async function folderRequest(ctx: Ctx, folder: string): Promise<Omit<DeploymentRequestInput, 'source'>> {
  const { io, values } = ctx;
  const agent = values.agent || agentIdFromFolder(folder);
  const environment = parseEnvironment(values.environment);
  const strategy = parseStrategy(values.strategy);
  const thresholds = parseCanaryThresholds(values);
  const start = parseStartTimeout(values['start-timeout']);
  const health = parseHealthPath(values['health-path']);
  const approval = parseApproval(values.approval);
  const approvalTimeout = parseApprovalTimeout(values['approval-timeout']);
  const env: Record<string, string> = {};
  for (const file of values['env-file'] ?? []) {
    const path = resolve(io.cwd, file);
    if ((await pathKind(path)) !== 'file') throw new UsageError(`--env-file ${file} is not a file`);
    Object.assign(env, parseDotenv(await readFile(path, 'utf8'), file));
  }
  Object.assign(env, parseEnvFlags(values.env));
  const secrets = parseSecretFlags(values.secret);
  if (!values.agent) {
    io.stderr.write(`baton: no --agent given: deploying as agent "${agent}", from the folder name (choose with --agent <id>)\n`);
  }
  return {
    agent_id: agent,
    ...(environment ? { environment } : {}),
    ...(values.version ? { version: values.version } : {}),
    ...(Object.keys(env).length > 0 ? { env } : {}),
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
    deployment_options: {
      ...(health ? { health_path: health } : {}),
      ...(start !== undefined ? { start_timeout_seconds: start } : {}),
      ...(strategy ? { strategy } : {}),
      ...thresholds,
      ...(values['no-auto-rollback'] ? { auto_rollback: false } : {}),
      ...(approval ? { approval } : {}),
      ...(approvalTimeout !== undefined ? { approval_timeout_seconds: approvalTimeout } : {}),
    },
  };
}

async function status(ctx: Ctx, id: string | undefined): Promise<number> {
  const { client, io, values } = ctx;
  if (id) {
    if (values.agent || values.limit || values.cursor)
      throw new UsageError('--agent, --limit and --cursor list deployments; leave out the id');
    const job = await client.getStatus(id);
    io.stdout.write(ctx.json ? `${JSON.stringify(job, null, 2)}\n` : `${renderJob(job)}\n`);
    return 0;
  }
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number, not "${values.limit}"`);
  const page = await client.listDeployments({ agent_id: values.agent, limit, cursor: values.cursor });
  if (ctx.json) {
    io.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(`${renderTable(page.deployments)}\n`);
  if (page.next_cursor) {
    io.stdout.write(
      `\nMore: baton status${values.agent ? ` --agent ${values.agent}` : ''} --limit ${limit} --cursor ${page.next_cursor}\n`,
    );
  }
  return 0;
}

async function logs(ctx: Ctx, id: string | undefined): Promise<number> {
  const { client, io, values } = ctx;
  if (!id) throw new UsageError('"logs" needs a deployment id, or --service <agent> for what its revisions write');
  if (values.revision !== undefined || values.lines !== undefined) throw new UsageError('--revision and --lines go with --service <agent>');
  if (!values.follow) {
    const text = await client.getLogs(id);
    if (ctx.json) io.stdout.write(`${JSON.stringify({ deployment_id: id, logs: text }, null, 2)}\n`);
    else io.stdout.write(text.length === 0 || text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  }
  return interruptible(ctx, id, async (signal) => {
    const job = await client.followLogs(id, (line) => io.stdout.write(`${line}\n`), { signal });
    io.stderr.write(`-- ${job.kind} ${job.deployment_id} ${job.status}\n`);
    return 0;
  });
}

/** `baton logs --service <agent> [-f]`: the runtime logs of the agent's revisions. */
async function serviceLogs(ctx: Ctx, agent: string, extra: string | undefined): Promise<number> {
  const { client, io, values } = ctx;
  if (extra !== undefined) throw new UsageError(`--service reads an agent's runtime logs; leave out "${extra}"`);
  const lines = values.lines === undefined ? undefined : Number(values.lines);
  if (lines !== undefined && (!Number.isInteger(lines) || lines < 1 || lines > 1000)) {
    throw new UsageError(`--lines must be a whole number from 1 to 1000, not "${values.lines}"`);
  }
  const options = { revision: values.revision, lines };
  const print = (e: ServiceLogEntry) => io.stdout.write(`${ctx.json ? JSON.stringify(e) : renderLogEntry(e)}\n`);
  if (!values.follow) {
    const entries = await client.getServiceLogs(agent, options);
    if (ctx.json) io.stdout.write(`${JSON.stringify({ agent_id: agent, entries }, null, 2)}\n`);
    else for (const e of entries) print(e);
    return 0;
  }
  const controller = new AbortController();
  const off = io.onInterrupt?.(() => controller.abort(new Error('interrupted')));
  try {
    await client.followServiceLogs(agent, print, { ...options, signal: controller.signal });
    io.stderr.write('-- the control plane closed the log stream\n');
    return 1;
  } catch (err) {
    if (controller.signal.aborted) return 130;
    throw err;
  } finally {
    off?.();
  }
}

async function rollback(ctx: Ctx, id: string): Promise<number> {
  const { client, io, values } = ctx;
  const timeoutMs = parseTimeout(values.timeout);
  if (values.timeout !== undefined && !values.wait) throw new UsageError('--timeout only applies with --wait');
  const res = await client.rollback(
    id,
    values.reason,
    {},
    {
      ...(values.to ? { target_revision: values.to } : {}),
      ...(values.force || values.cleanup
        ? {
            rollback_options: { ...(values.force ? { force_rollback: true } : {}), ...(values.cleanup ? { cleanup_resources: true } : {}) },
          }
        : {}),
    },
  );
  if (ctx.json && !values.wait) {
    io.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
    return 0;
  }
  if (!ctx.json) io.stdout.write(`Rollback ${res.rollback_id} of ${res.deployment_id} queued (agent ${res.agent_id})\n`);
  if (!values.wait) {
    io.stdout.write(`Follow it with: baton status ${res.rollback_id}\n`);
    return 0;
  }
  return follow(ctx, res.rollback_id, timeoutMs);
}

async function cancel(ctx: Ctx, id: string): Promise<number> {
  const res = await ctx.client.cancel(id);
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(res, null, 2)}\n` : `${res.message}: ${res.deployment_id} (now ${res.status})\n`);
  return 0;
}

async function decideApproval(ctx: Ctx, id: string, what: 'approve' | 'reject'): Promise<number> {
  const reason = ctx.values.reason;
  if (what === 'reject' && !reason?.trim()) throw new UsageError('"reject" needs --reason "<why>"');
  const res = what === 'approve' ? await ctx.client.approve(id) : await ctx.client.reject(id, reason ?? '');
  ctx.io.stdout.write(
    ctx.json
      ? `${JSON.stringify(res, null, 2)}\n`
      : `${res.message}: ${res.deployment_id}\nFollow it with: baton status ${res.deployment_id}\n`,
  );
  return 0;
}

async function unpin(ctx: Ctx, agent: string): Promise<number> {
  const res = await ctx.client.unpin(agent);
  const was = res.unpinned ? `unpinned (was pinned to ${res.unpinned.revision} by rollback ${res.unpinned.rollback_id})` : 'was not pinned';
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(res, null, 2)}\n` : `${agent} ${was}\n`);
  return 0;
}

async function services(ctx: Ctx): Promise<number> {
  const limit = ctx.values.limit === undefined ? 100 : Number(ctx.values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be a whole number from 1 to 500');
  const res = await ctx.client.listServices(limit);
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(res, null, 2)}\n` : `${renderServices(res.services)}\n`);
  return 0;
}

async function service(ctx: Ctx, agent: string): Promise<number> {
  const svc = await ctx.client.getService(agent);
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(svc, null, 2)}\n` : `${renderService(svc)}\n`);
  return 0;
}

/**
 * `baton open [id]`: the dashboard the control plane serves (a deployment's page with an id), in
 * the browser when there is one to open; the URL is printed either way.
 */
function openDashboard(ctx: Ctx, id: string | undefined): number {
  const url = `${ctx.client.baseUrl}/${id ? `#/deployments/${encodeURIComponent(id)}` : ''}`;
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify({ url })}\n` : `${url}\n`);
  ctx.io.openUrl?.(url);
  return 0;
}

function completion(ctx: Ctx, shell: string): number {
  if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`completion takes bash or zsh, not "${shell}"`);
  const script = completionScript(shell, COMMANDS, GLOBAL_OPTIONS);
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify({ shell, script })}\n` : script);
  return 0;
}

/** Follows a job to its final status with a progress bar; its exit code by the final status (exit-codes.ts). */
async function follow(ctx: Ctx, id: string, timeoutMs: number | undefined): Promise<number> {
  const { client, io } = ctx;
  const view = new ProgressView(io.stdout.isTTY === true, io.stdout.columns);
  const onProgress = ctx.json
    ? undefined
    : (job: Job) => {
        const text = view.update(job);
        if (text) io.stdout.write(text);
      };
  return interruptible(ctx, id, async (signal) => {
    let job: Job;
    try {
      job = await client.waitForDeployment(id, onProgress, { timeoutMs, signal });
    } finally {
      const end = view.finish();
      if (end) io.stdout.write(end);
    }
    io.stdout.write(ctx.json ? `${JSON.stringify(job, null, 2)}\n` : `${renderOutcome(job)}\n`);
    return exitCodeOf(job);
  });
}

/** Runs `body` with a signal that Ctrl-C aborts; an interrupted follow exits 130 and says the job goes on. */
async function interruptible(ctx: Ctx, id: string, body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const off = ctx.io.onInterrupt?.(() => controller.abort(new Error('interrupted')));
  try {
    return await body(controller.signal);
  } catch (err) {
    if (controller.signal.aborted) {
      ctx.io.stderr.write(`\nStopped following ${id}; it keeps running on the server. Check on it with: baton status ${id}\n`);
      return EXIT.interrupted;
    }
    throw err;
  } finally {
    off?.();
  }
}

function parseTimeout(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout must be a number of seconds, not "${raw}"`);
  return seconds * 1000;
}

async function pathKind(path: string): Promise<'directory' | 'file' | 'other' | 'missing'> {
  try {
    const st = await stat(path);
    return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  process.exitCode = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    openUrl: openInBrowser,
    onInterrupt: (handler) => {
      process.once('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
  });
}

/**
 * On the gcp target the CLI can follow a job with Firestore's onSnapshot (BATON_WATCH=firestore)
 * through the Firebase client SDK, signed in as the person whose Google ID token is BATON_TOKEN,
 * so firestore.rules apply: only their own jobs are readable. Needs BATON_GCP_PROJECT and
 * BATON_FIREBASE_API_KEY (or FIRESTORE_EMULATOR_HOST, where the token's email is the identity).
 * Elsewhere the CLI follows the API's event stream.
 */
async function firestoreSession(env: CliIo['env']) {
  if (env.BATON_WATCH !== 'firestore') return undefined;
  if (!env.BATON_GCP_PROJECT) throw new UsageError('BATON_WATCH=firestore needs BATON_GCP_PROJECT, the project that holds the deployments');
  if (!env.BATON_TOKEN)
    throw new UsageError('BATON_WATCH=firestore needs BATON_TOKEN, your Google ID token (gcloud auth print-identity-token)');
  const emulatorHost = env.FIRESTORE_EMULATOR_HOST || undefined;
  if (!emulatorHost && !env.BATON_FIREBASE_API_KEY)
    throw new UsageError("BATON_WATCH=firestore needs BATON_FIREBASE_API_KEY, the project's Firebase Web API key");
  const { firebaseWatcher } = await import('../../clients/typescript/src/firestore-watcher.js');
  return firebaseWatcher({
    projectId: env.BATON_GCP_PROJECT,
    apiKey: env.BATON_FIREBASE_API_KEY || undefined,
    googleIdToken: env.BATON_TOKEN,
    emulatorHost,
  });
}

/** xdg-open (Linux) or open (macOS), detached; where neither exists the printed URL is enough. */
function openInBrowser(url: string): void {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  try {
    const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // No opener: the URL was printed.
  }
}
