import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DesignAgents } from '../support/design-agents.js';
import { TestStack } from '../support/stack.js';

/**
 * The endpoints API of shared/designs.md through the local stack (one stack for the file):
 * deploy, list, read, update, delete, execute, logs; POST /api/deployed/{path} with API keys,
 * rate limits, the input schema, the size limit and Prefer: respond-async; schedules on the
 * local scheduler, one firing on a real minute; and a fuzz of the API that must never answer 5xx.
 */

let stack: TestStack;
let agents: DesignAgents;

beforeAll(async () => {
  agents = await new DesignAgents().start();
  stack = await TestStack.start({ BATON_DESIGN_MAX_REQUEST_BYTES: '4096', BATON_DESIGN_LEASE_MS: '2000' });
});
afterAll(async () => {
  await stack?.close();
  await agents?.stop();
});

type Json = Record<string, unknown>;

/** A body sent as it is (not JSON-encoded). */
class Raw {
  constructor(readonly text: string) {}
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : body instanceof Raw ? body.text : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json: json as Json, headers: res.headers };
}

const echoDesign = () => ({
  version: 1,
  name: 'echo-chain',
  blocks: [
    { id: 'first', agent: agents.agent('/upper') },
    { id: 'second', agent: agents.agent('/echo') },
  ],
  edges: [{ from: 'first', to: 'second' }],
  output: 'second',
});

let n = 0;
async function deploy(extra: Json = {}) {
  n++;
  const res = await call('POST', '/api/deployments', { design: echoDesign(), endpoint_path: `/echo-${n}`, ...extra });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json as Json & { id: string; api_key: string; endpoint_path: string; endpoint_url: string };
}

describe('endpoints API', () => {
  it('refuses a design naming the path inside it, and a cycle with the cycle', async () => {
    const design = {
      version: 1,
      name: 'r',
      blocks: [
        { id: 'c', agent: agents.agent('/router') },
        { id: 'x', agent: agents.agent('/echo') },
      ],
      groups: [{ id: 'route', pattern: 'routing', router: 'c', routes: { a: 'x' } }],
      output: 'x',
    };
    const res = await call('POST', '/api/deployments', { design, endpoint_path: '/bad' });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({
      field: 'design.groups[0].default',
      message: expect.stringMatching(/a routing group needs a default/),
    });
    const cyc = await call('POST', '/api/deployments', {
      design: {
        ...echoDesign(),
        edges: [
          { from: 'first', to: 'second' },
          { from: 'second', to: 'first' },
        ],
      },
      endpoint_path: '/cyc',
    });
    expect(cyc.json.error).toMatchObject({ message: expect.stringMatching(/a cycle: first → second → first/) });
  });

  it('deploys a design: 201 with the record (seed 002 fields) and the API key once; the key runs it, no key is 401', async () => {
    const ep = await deploy({ design_name: 'Echo' });
    expect(ep).toMatchObject({
      design_name: 'Echo',
      status: 'active',
      execution_count: 0,
      last_execution_at: null,
      schedule: { enabled: false, timezone: 'UTC' },
      endpoint_url: `${stack.url}/api/deployed${ep.endpoint_path}`,
    });
    expect(ep.api_key).toMatch(/^bk_/);
    const read = await call('GET', `/api/deployments/${ep.id}`);
    expect(read.json.api_key).toBeUndefined();
    expect(JSON.stringify(read.json)).not.toContain('sha256');

    const none = await call('POST', `/api/deployed${ep.endpoint_path}`, { text: 'hi' });
    expect(none.status).toBe(401);
    const wrong = await call('POST', `/api/deployed${ep.endpoint_path}`, { text: 'hi' }, { authorization: 'Bearer bk_AAAAAAAA_nope' });
    expect(wrong.status).toBe(401);
    const ok = await call('POST', `/api/deployed${ep.endpoint_path}`, { text: 'hi' }, { authorization: `Bearer ${ep.api_key}` });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ block: 'second', input: { text: 'HI' } });
    const viaHeader = await call('POST', `/api/deployed${ep.endpoint_path}`, 'plain', { 'x-api-key': ep.api_key });
    expect(viaHeader.json).toEqual({ block: 'second', input: 'PLAIN' });

    const after = await call('GET', `/api/deployments/${ep.id}`);
    expect(after.json).toMatchObject({ execution_count: 2, last_execution_at: expect.any(String) });
    const logs = await call('GET', `/api/deployments/${ep.id}/logs?trigger_type=api`);
    const list = logs.json.logs as Json[];
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({ status: 'completed', trigger_type: 'api', input_data: 'plain', deployment_id: ep.id });
    const one = await call('GET', `/api/deployments/${ep.id}/logs/${String(list[0].id)}`);
    const steps = one.json.steps as Json[];
    expect(steps.map((s) => [s.block_id, s.status, s.attempt])).toEqual([
      ['first', 'completed', 1],
      ['second', 'completed', 1],
    ]);
    expect(steps[0].output_preview).toMatchObject({ preview: '"PLAIN"', truncated: false, bytes: 7 });
  });

  it('rotates keys: the new key works, the old one stops', async () => {
    const ep = await deploy();
    const rotated = await call('POST', `/api/deployments/${ep.id}/keys`, {});
    expect(rotated.status).toBe(201);
    const fresh = String(rotated.json.api_key);
    expect((await call('POST', `/api/deployed${ep.endpoint_path}`, 'x', { 'x-api-key': ep.api_key })).status).toBe(401);
    expect((await call('POST', `/api/deployed${ep.endpoint_path}`, 'x', { 'x-api-key': fresh })).status).toBe(200);
  });

  it('rate limits per endpoint: 429 with Retry-After once the minute is used up', async () => {
    const ep = await deploy({ rate_limit: { requests_per_minute: 2 } });
    const h = { 'x-api-key': ep.api_key };
    expect((await call('POST', `/api/deployed${ep.endpoint_path}`, 'a', h)).status).toBe(200);
    expect((await call('POST', `/api/deployed${ep.endpoint_path}`, 'b', h)).status).toBe(200);
    const limited = await call('POST', `/api/deployed${ep.endpoint_path}`, 'c', h);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  });

  it('checks the input schema (400 naming the field) and the request size (413)', async () => {
    const ep = await deploy({
      input_schema: {
        type: 'object',
        required: ['customer'],
        properties: { customer: { type: 'object', properties: { id: { type: 'integer' } } } },
      },
    });
    const h = { 'x-api-key': ep.api_key };
    const missing = await call('POST', `/api/deployed${ep.endpoint_path}`, {}, h);
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({ field: 'input.customer' });
    const wrongType = await call('POST', `/api/deployed${ep.endpoint_path}`, { customer: { id: 'x' } }, h);
    expect(wrongType.json.error).toMatchObject({ field: 'input.customer.id', message: expect.stringMatching(/must be integer/) });
    const big = await call('POST', `/api/deployed${ep.endpoint_path}`, { customer: { id: 1, pad: 'x'.repeat(5000) } }, h);
    expect(big.status).toBe(413);
    const badSchema = await call('POST', '/api/deployments', {
      design: echoDesign(),
      endpoint_path: '/bad-schema',
      input_schema: { type: 'nope' },
    });
    expect(badSchema.json.error).toMatchObject({ field: 'input_schema' });
  });

  it('Prefer: respond-async answers 202 with the execution id; the run goes through the queue and completes', async () => {
    const ep = await deploy();
    const res = await call('POST', `/api/deployed${ep.endpoint_path}`, 'later', { 'x-api-key': ep.api_key, prefer: 'respond-async' });
    expect(res.status).toBe(202);
    const id = String(res.json.execution_id);
    let log: Json = {};
    for (let i = 0; i < 200; i++) {
      log = (await call('GET', `/api/deployments/${ep.id}/logs/${id}`)).json;
      if (log.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(log).toMatchObject({ status: 'completed', result_data: { block: 'second', input: 'LATER' }, trigger_type: 'api' });
  });

  it('a run that outlives its deadline answers 202 with the execution id, goes on through the queue and completes there', async () => {
    const design = {
      version: 1,
      name: 'late',
      blocks: [
        { id: 'late-first', agent: agents.agent('/echo') },
        { id: 'late-slow', agent: agents.agent('/slow/1200') },
      ],
      edges: [{ from: 'late-first', to: 'late-slow' }],
      output: 'late-slow',
    };
    const ep = await deploy({ design, deadline_ms: 300 });
    const t0 = Date.now();
    const res = await call('POST', `/api/deployed${ep.endpoint_path}`, { q: 1 }, { 'x-api-key': ep.api_key });
    expect(Date.now() - t0).toBeLessThan(1200);
    expect(res.status).toBe(202);
    const id = String(res.json.execution_id);
    expect(res.json).toMatchObject({
      status: 'running',
      log_url: `/api/deployments/${ep.id}/logs/${id}`,
      message: expect.stringContaining('deadline_ms 300'),
    });
    expect(res.headers.get('location')).toBe(`/api/deployments/${ep.id}/logs/${id}`);
    let log: Json = {};
    for (let i = 0; i < 400; i++) {
      log = (await call('GET', `/api/deployments/${ep.id}/logs/${id}`)).json;
      if (log.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(log).toMatchObject({
      status: 'completed',
      result_data: { slept: 1200, block: 'late-slow' },
      trigger_type: 'api',
      counters: { replayed: 1 },
    });
    // The first block ran once; the slow one's attempt in flight at the deadline was aborted and made again by the queue.
    expect(agents.callsOf('late-first')).toHaveLength(1);
    expect(agents.callsOf('late-slow')).toHaveLength(2);
    const steps = (log.steps as { block_id: string; status: string; error?: string }[]).map((st) => [st.block_id, st.status]);
    expect(steps).toEqual([
      ['late-first', 'completed'],
      ['late-slow', 'aborted'],
      ['late-slow', 'completed'],
    ]);
    // The same through execute: 202 with the log's URL.
    const manual = await call('POST', `/api/deployments/${ep.id}/execute`, { input: 2 });
    expect(manual.status).toBe(202);
    expect(manual.json).toMatchObject({ status: 'running', message: expect.stringContaining('sync deadline') });
  });

  it('manual execute, inactive endpoints, update, list with paging and filters, delete keeping the logs', async () => {
    const ep = await deploy();
    const run = await call('POST', `/api/deployments/${ep.id}/execute`, { input: 'manual' });
    expect(run.json).toMatchObject({ status: 'completed', result_data: { block: 'second', input: 'MANUAL' } });
    const put = await call('PUT', `/api/deployments/${ep.id}`, { status: 'inactive' });
    expect(put.json).toMatchObject({ status: 'inactive' });
    expect((await call('POST', `/api/deployed${ep.endpoint_path}`, 'x', { 'x-api-key': ep.api_key })).status).toBe(404);
    expect((await call('POST', `/api/deployments/${ep.id}/execute`, { input: 1 })).status).toBe(409);
    const inactive = await call('GET', '/api/deployments?status=inactive');
    expect((inactive.json.deployments as Json[]).map((d) => d.id)).toContain(ep.id);
    const page1 = await call('GET', '/api/deployments?limit=2');
    expect((page1.json.deployments as Json[]).length).toBe(2);
    const page2 = await call('GET', `/api/deployments?limit=2&cursor=${String(page1.json.next_cursor)}`);
    const ids1 = (page1.json.deployments as Json[]).map((d) => d.id);
    expect((page2.json.deployments as Json[]).some((d) => ids1.includes(d.id))).toBe(false);
    expect((await call('GET', '/api/deployments?cursor=garbage')).status).toBe(400);
    const manual = await call('GET', `/api/deployments/${ep.id}/logs?trigger_type=manual&status=completed`);
    expect((manual.json.logs as Json[]).length).toBe(1);
    expect((await call('DELETE', `/api/deployments/${ep.id}`)).status).toBe(200);
    expect((await call('GET', `/api/deployments/${ep.id}`)).status).toBe(404);
    expect(((await call('GET', `/api/deployments/${ep.id}/logs`)).json.logs as Json[]).length).toBe(1);
    const again = await call('POST', '/api/deployments', { design: echoDesign(), endpoint_path: ep.endpoint_path });
    expect(again.status).toBe(201);
    const taken = await call('POST', '/api/deployments', { design: echoDesign(), endpoint_path: ep.endpoint_path });
    expect(taken.status).toBe(409);
  });

  it('schedules: refuses what Cloud Scheduler cannot express; the job follows the endpoint', async () => {
    const refused = await call('POST', '/api/deployments', {
      design: echoDesign(),
      endpoint_path: '/every-30s',
      schedule: { interval_seconds: 30 },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({
      field: 'schedule.interval_seconds',
      message: expect.stringMatching(/minimum of one minute.*Cloud Scheduler can express/),
    });
    const badCron = await call('POST', '/api/deployments', {
      design: echoDesign(),
      endpoint_path: '/bad-cron',
      schedule: { cron_expression: '* * * * * *' },
    });
    expect(badCron.json.error).toMatchObject({ field: 'schedule.cron_expression' });
    const ep = await deploy({ schedule: { interval_seconds: 300, timezone: 'Europe/Paris' } });
    const name = `baton-design-${ep.id}`;
    expect(await stack.stack.scheduler.get(name)).toMatchObject({ cron: '*/5 * * * *', time_zone: 'Europe/Paris', state: 'enabled' });
    await call('PUT', `/api/deployments/${ep.id}`, { status: 'inactive' });
    expect(await stack.stack.scheduler.get(name)).toMatchObject({ state: 'paused' });
    await call('PUT', `/api/deployments/${ep.id}`, { status: 'active', schedule: { cron_expression: '0 9 * * MON-FRI', timezone: 'UTC' } });
    expect(await stack.stack.scheduler.get(name)).toMatchObject({ cron: '0 9 * * MON-FRI', time_zone: 'Etc/UTC', state: 'enabled' });
    await call('DELETE', `/api/deployments/${ep.id}`);
    expect(await stack.stack.scheduler.get(name)).toBeNull();
  });

  it.concurrent('a schedule fires on a real minute on the local scheduler (trigger_type scheduled)', { timeout: 75_000 }, async () => {
    const ep = await deploy({ schedule: { cron_expression: '* * * * *', timezone: 'UTC' } });
    const until = Date.now() + 70_000;
    let logs: Json[] = [];
    while (Date.now() < until) {
      logs = (await call('GET', `/api/deployments/${ep.id}/logs?trigger_type=scheduled`)).json.logs as Json[];
      if (logs.some((l) => l.status === 'completed')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs[0]).toMatchObject({
      status: 'completed',
      trigger_type: 'scheduled',
      result_data: { block: 'second', input: { text: '' } },
    });
    await call('DELETE', `/api/deployments/${ep.id}`);
  });

  it('fuzzed: random methods, paths and bodies never answer 5xx', async () => {
    const ep = await deploy();
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
    let depth = 0;
    const junk = (): unknown => {
      if (++depth > 40) return null;
      return pick<() => unknown>([
        () => null,
        () => Math.floor(rnd() * 1e6) - 5e5,
        () => 'x'.repeat(Math.floor(rnd() * 50)),
        () => [junk(), junk()],
        () => ({ design: junk(), endpoint_path: junk(), schedule: junk(), status: junk() }),
        () => ({
          version: 1,
          name: 'f',
          blocks: [{ id: junk(), agent: junk() }],
          output: junk(),
          groups: [{ id: 'g', pattern: pick(['parallel', 'routing', 'debate', 'x']), blocks: junk() }],
        }),
        () => ({ input: junk(), grace_seconds: junk() }),
        () => ({ rate_limit: { requests_per_minute: junk() }, auth: { type: junk() }, input_schema: junk() }),
      ])();
    };
    const paths = [
      '/api/deployments',
      `/api/deployments/${ep.id}`,
      `/api/deployments/${ep.id}/execute`,
      `/api/deployments/${ep.id}/keys`,
      `/api/deployments/${ep.id}/logs?status=${String(junk())}&from=${String(junk())}`,
      `/api/deployments/${ep.id}/logs/${String(junk())}`,
      '/api/deployments/%E0%A4%A',
      `/api/deployed${ep.endpoint_path}`,
      '/api/deployed/nope',
      '/api/deployments?limit=-1&cursor=%%%',
    ];
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) {
      const method = pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
      depth = 0;
      const body = method === 'GET' ? undefined : rnd() < 0.15 ? new Raw('{"broken') : junk();
      const res = await call(method, pick(paths), body, rnd() < 0.5 ? { 'x-api-key': ep.api_key } : {});
      statuses.push(res.status);
      expect(res.status, `${method} → ${JSON.stringify(res.json).slice(0, 200)}`).toBeLessThan(500);
    }
    expect(new Set(statuses).size).toBeGreaterThan(3);
  });
});
