import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatonClient,
  BatonConflictError,
  BatonInvalidRequestError,
  BatonNotFoundError,
  BatonUnauthorizedError,
  type Job,
} from '../../clients/typescript/src/index.js';
import { run } from '../../shared/cli/main.js';
import { DesignAgents } from '../support/design-agents.js';
import { FIXTURES, fixture, TestStack } from '../support/stack.js';

/** The TypeScript client against one real local stack: deploy and wait live, typed refusals, signals. */
let t: TestStack;
let agents: DesignAgents;
beforeAll(async () => {
  agents = await new DesignAgents().start();
  t = await TestStack.start();
});
afterAll(async () => {
  await t?.close();
  await agents?.stop();
});

describe('the TypeScript client on the local stack', () => {
  it('deploys a folder and follows it to completed, seeing progress rise; a signal stops a wait', async () => {
    const client = new BatonClient({ baseUrl: t.url });
    const seen: Job[] = [];
    const job = await client.deployAndWait(
      { agent_id: 'ts-client', source: { type: 'directory', path: fixture('healthy') } },
      (j) => seen.push(j),
      { timeoutMs: 120_000 },
    );
    expect(job.status, job.error_message ?? '').toBe('completed');
    expect(seen.length).toBeGreaterThan(2);
    const progress = seen.map((j) => j.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect((await client.getService('ts-client', { signal: AbortSignal.timeout(5000) })).serving_revision).toBe(job.revision);
    expect(await client.getLogs(job.deployment_id)).toContain('[promoting]');

    await expect(
      client.waitForDeployment(job.deployment_id, undefined, { signal: AbortSignal.abort(new Error('stopped by the caller')) }),
    ).rejects.toThrow('stopped by the caller');

    // The first deployment of an agent has nothing to roll back to: a conflict, typed.
    const err = await client.rollback(job.deployment_id, 'try').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonConflictError);
    expect((err as BatonConflictError).field).toBe('deployment_id');
  });

  it('names the refusals by class: bad input with its field, an unknown id', async () => {
    const client = new BatonClient({ baseUrl: t.url });
    const bad = await client.deploy({ agent_id: 'NOT VALID' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BatonInvalidRequestError);
    expect((bad as BatonInvalidRequestError).field).toBe('agent_id');
    await expect(client.getStatus('no-such-deployment')).rejects.toBeInstanceOf(BatonNotFoundError);
  });
});

describe('the TypeScript client: deployed designs', () => {
  it('deploys a design, runs it (by id and at its endpoint with its key), reads its executions, deactivates and deletes it', async () => {
    const client = new BatonClient({ baseUrl: t.url });
    const design = {
      version: 1,
      name: 'ts-echo',
      blocks: [
        { id: 'first', agent: agents.agent('/upper') },
        { id: 'second', agent: agents.agent('/echo') },
      ],
      edges: [{ from: 'first', to: 'second' }],
      output: 'second',
    };
    const endpoint = await client.deployDesign({ design, endpoint_path: '/ts/echo' });
    expect(endpoint.endpoint_url).toMatch(/\/api\/deployed\/ts\/echo$/);
    expect(endpoint.api_key).toBeTruthy();
    const run = await client.executeDesign(endpoint.id, 'hello');
    expect(run.status).toBe('completed');
    expect(JSON.stringify(run.result_data)).toContain('HELLO');
    expect(JSON.stringify(await client.callEndpoint('/ts/echo', 'again', { apiKey: endpoint.api_key }))).toContain('AGAIN');
    await expect(client.callEndpoint('/ts/echo', 'x')).rejects.toBeInstanceOf(BatonUnauthorizedError);

    const runs = await client.listExecutions(endpoint.id, { trigger_type: 'manual' });
    expect(runs.logs.map((l) => l.execution_id)).toEqual([run.execution_id]);
    const one = await client.getExecution(endpoint.id, run.execution_id);
    expect(one.steps.length).toBeGreaterThanOrEqual(2);

    expect((await client.updateDesign(endpoint.id, { status: 'inactive' })).status).toBe('inactive');
    expect((await client.listDesigns({ status: 'inactive' })).deployments.map((d) => d.id)).toContain(endpoint.id);
    await client.deleteDesign(endpoint.id);
    await expect(client.getDesign(endpoint.id)).rejects.toBeInstanceOf(BatonNotFoundError);
  });

  it('the CLI: designs deploy, list, run and logs, with --json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-design-'));
    const file = join(dir, 'design.json');
    writeFileSync(
      file,
      JSON.stringify({ version: 1, name: 'cli-echo', blocks: [{ id: 'only', agent: agents.agent('/upper') }], output: 'only' }),
    );
    const baton = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const code = await run(argv, {
        stdout: { write: (x: string) => (out += x) },
        stderr: { write: (x: string) => (err += x) },
        env: { BATON_URL: t.url },
        cwd: dir,
      });
      return { code, out, err };
    };
    const deployed = await baton('designs', 'deploy', 'design.json', '--path', '/cli/echo', '--json');
    expect(deployed.code, deployed.err).toBe(0);
    const id = (JSON.parse(deployed.out) as { id: string }).id;
    expect((await baton('designs', 'list')).out).toContain('/cli/echo');
    const ran = await baton('designs', 'run', id, '--input', '"shout"', '--json');
    expect(ran.code, ran.err).toBe(0);
    expect(JSON.stringify(JSON.parse(ran.out).result_data)).toContain('SHOUT');
    const logs = JSON.parse((await baton('designs', 'logs', id, '--json')).out) as { logs: { execution_id: string }[] };
    expect(logs.logs).toHaveLength(1);
    expect((await baton('designs', 'logs', id, logs.logs[0].execution_id)).out).toContain('completed');
    expect((await baton('designs', 'run', id, '--input', '{not json')).code).toBe(4);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('the Python client (clients/python) on the same stack', () => {
  it('passes its unittest suite: async deploy_from_config and wait with progress, sync wrapper, rollback, a failure, typed refusals, retries', async () => {
    const cwd = resolve(import.meta.dirname, '../../clients/python');
    // python3 is required (CI machines have it): a missing interpreter fails the test rather than skipping it.
    const { stderr } = await promisify(execFile)('python3', ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], {
      cwd,
      env: { ...process.env, BATON_URL: t.url, BATON_FIXTURES: FIXTURES, PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 240_000,
    }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`python3 -m unittest failed:\n${err.stderr ?? err.message}`);
    });
    expect(stderr).toMatch(/Ran (\d+) tests/);
    expect(stderr).toContain('OK');
    expect(Number(/Ran (\d+) tests/.exec(stderr)?.[1])).toBe(6);
  }, 300_000);
});
