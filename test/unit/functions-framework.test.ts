import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFunctions } from '../../functions/framework.js';
import { LocalDesignStore } from '../../shared/adapters/local/design-store.js';
import { LocalScheduler } from '../../shared/adapters/local/scheduler.js';
import { deployEndpoint } from '../../shared/designs/endpoints.js';
import { stageEvent } from '../../shared/domain/events.js';
import type { AgentCallBody } from '../../shared/ports/agent-caller.js';
import { harness, RecordingBus, RecordingTasks } from '../support/fakes.js';

/**
 * The functions as Google runs them: each registered with the Functions Framework under its own
 * target and fed the payloads Eventarc and Cloud Tasks send. The ports behind them are in-memory.
 */
describe('the functions through the Functions Framework', () => {
  const h = harness();
  const servers: Server[] = [];
  const urls = new Map<string, string>();

  const agentCalls: AgentCallBody[] = [];
  let ids = 0;
  h.deps.designs = {
    store: new LocalDesignStore(null),
    scheduler: new LocalScheduler(null, new RecordingBus()),
    tasks: new RecordingTasks(),
    agents: {
      call: async (_agent, body) => {
        agentCalls.push(body);
        return { ok: true, status: 200, output: { echoed: body.input }, bytes: 20 };
      },
    },
    clock: h.clock,
    newId: () => `d${++ids}`,
    sleep: async () => {},
    settings: {
      base_url: 'https://baton-deployed-1.r.run.app',
      scheduled_url: 'https://s',
      lease_ms: 30_000,
      max_request_bytes: 4096,
      sync_commits: 'grouped' as const,
      run_task_deadline_ms: 960_000,
    },
  };

  beforeAll(async () => {
    registerFunctions(() => h.deps, { maxUploadBytes: 1024 * 1024, target: 'gcp' });
    for (const name of ['api', 'validate', 'prepare-source', 'verify', 'build-events', 'deployed']) {
      const server = getTestServer(name);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      urls.set(name, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  const pubsubBody = (json: unknown, attributes: Record<string, string> = {}) => ({
    message: {
      data: Buffer.from(JSON.stringify(json)).toString('base64'),
      attributes,
      messageId: '1234567890',
      publishTime: '2026-01-01T00:00:00.000Z',
    },
    subscription: 'projects/p/subscriptions/eventarc-us-central1-validate-123',
  });

  const binary = (name: string, body: unknown) =>
    fetch(urls.get(name) ?? '', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': '1234567890',
        'ce-specversion': '1.0',
        'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
        'ce-source': '//pubsub.googleapis.com/projects/p/topics/baton-deployment-requested',
        'ce-time': '2026-01-01T00:00:00.000Z',
      },
      body: JSON.stringify(body),
    });

  it('runs a stage from a binary-mode Eventarc Pub/Sub CloudEvent', async () => {
    await h.job('d1');
    const res = await binary('validate', pubsubBody(stageEvent('deployment.requested.v1', 'd1', 'now')));
    expect(res.status).toBeLessThan(300);
    expect((await h.jobs.get('d1'))?.status).toBe('validating');
    expect(h.bus.types()).toEqual(['deployment.validated.v1']);
  });

  it('runs a stage from a structured-mode CloudEvent', async () => {
    const res = await fetch(urls.get('prepare-source') ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        id: '99',
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        source: '//pubsub.googleapis.com/projects/p/topics/baton-deployment-validated',
        data: pubsubBody(stageEvent('deployment.validated.v1', 'd1', 'now')),
      }),
    });
    expect(res.status).toBeLessThan(300);
    expect((await h.jobs.get('d1'))?.status).toBe('preparing');
  });

  it('acknowledges a malformed message (it can never succeed) and changes nothing', async () => {
    const before = await h.jobs.get('d1');
    for (const body of [{ nope: true }, pubsubBody({ type: 'deployment.requested.v9' }), { message: { data: '!!!notbase64json' } }]) {
      expect((await binary('validate', body)).status).toBeLessThan(300);
    }
    expect(await h.jobs.get('d1')).toEqual(before);
  });

  it('answers 500 on a transient error so the trigger retries', async () => {
    await h.job(
      'd2',
      { agent_id: 'two' },
      {
        status: 'validating',
        stage: 'validating',
        claim: { stage: 'validating', token: 't', expires_at: '2026-01-01T00:00:00.000Z', done: true, ephemeral: false },
      },
    );
    h.sources.failures.push(new Error('storage unavailable'));
    const res = await binary('prepare-source', pubsubBody(stageEvent('deployment.validated.v1', 'd2', 'now')));
    expect(res.status).toBe(500);
    expect((await h.jobs.get('d2'))?.claim).toBeNull();
  });

  it('runs a poll from a Cloud Tasks HTTP request', async () => {
    await h.job(
      'd3',
      { agent_id: 'three' },
      {
        status: 'deploying',
        stage: 'deploying',
        revision: 'three-rev',
        claim: { stage: 'deploying', token: 't', expires_at: '2026-01-01T00:00:00.000Z', done: true, ephemeral: false },
      },
    );
    h.runtime.revisions.set('three-rev', { name: 'three-rev', state: 'starting', message: null, tag_url: null });
    const res = await fetch(urls.get('verify') ?? '', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-cloudtasks-queuename': 'baton-verify-poll',
        'x-cloudtasks-taskname': 'abc',
        'x-cloudtasks-taskretrycount': '0',
      },
      body: JSON.stringify({ type: 'verify.poll.v1', deployment_id: 'd3', attempt: 1 }),
    });
    expect(res.status).toBe(204);
    expect((await h.jobs.get('d3'))?.status).toBe('verifying');
    expect(h.tasks.tasks.at(-1)?.payload).toEqual({ type: 'verify.poll.v1', deployment_id: 'd3', attempt: 2 });
  });

  it('records the caller of POST /deploy as the owner, for the Firestore rules', async () => {
    const token = `x.${Buffer.from(JSON.stringify({ email: 'dev@example.com', email_verified: true })).toString('base64url')}.sig`;
    const res = await fetch(`${urls.get('api')}/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ agent_id: 'owned', source: { type: 'config' } }),
    });
    expect(res.status).toBe(202);
    const { deployment_id } = (await res.json()) as { deployment_id: string };
    expect((await h.jobs.get(deployment_id))?.owner).toBe('dev@example.com');
  });

  it('serves the API as an HTTP function', async () => {
    const res = await fetch(`${urls.get('api')}/deployments/d1`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { deployment_id: string }).deployment_id).toBe('d1');
    const bad = await fetch(`${urls.get('api')}/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"agent_id":"BAD"}',
    });
    expect(bad.status).toBe(400);
  });

  it('serves deployed designs publicly: POST /api/deployed/{path} with the endpoint key runs it; nothing else is reachable', async () => {
    const designs = h.deps.designs;
    if (!designs) throw new Error('no designs wiring');
    const { record, api_key } = await deployEndpoint(designs, {
      design: { version: 1, name: 'echo', blocks: [{ id: 'only', agent: { url: 'https://agent.example/x' } }], output: 'only' },
      endpoint_path: '/orders/summary',
      status: 'active',
    });
    expect(record.endpoint_url).toBe('https://baton-deployed-1.r.run.app/api/deployed/orders/summary');
    const base = urls.get('deployed') ?? '';
    const key = String(api_key);
    const post = (path: string, headers: Record<string, string>, body = '{"q":1}') =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    // The key as a bearer token: no Google identity is asked for.
    const ok = await post('/api/deployed/orders/summary', { authorization: `Bearer ${key}` });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ echoed: { q: 1 } });
    expect((await post('/api/deployed/orders/summary', { 'x-api-key': key })).status).toBe(200);
    expect(agentCalls).toHaveLength(2);

    const noKey = await post('/api/deployed/orders/summary', {});
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post('/api/deployed/orders/summary', { authorization: 'Bearer bk_AAAAAAAA_nope' })).status).toBe(401);
    expect((await post('/api/deployed/nothing-here', { 'x-api-key': key })).status).toBe(404);
    expect((await post('/api/deployed/orders/summary', { 'x-api-key': key }, JSON.stringify({ q: 'x'.repeat(5000) }))).status).toBe(413);
    // Nothing of the control plane is behind it: the API's paths answer 404, GET on the endpoint 405.
    for (const path of ['/deployments', '/api/deployments', `/api/deployments/${record.id}/logs`, '/openapi.json', '/']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toMatch(/execution_count|endpoint_path/);
    }
    const get = await fetch(`${base}/api/deployed/orders/summary`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(agentCalls).toHaveLength(2);
  });
});

describe('the caller of the API', () => {
  it('is the verified email in the bearer ID token, or nobody', async () => {
    const { callerOf } = await import('../../functions/api/index.js');
    const jwt = (claims: object) => `Bearer x.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
    const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as import('node:http').IncomingMessage;
    expect(callerOf(req(jwt({ email: 'dev@example.com', email_verified: true, sub: '1' })))).toBe('dev@example.com');
    // firestore.rules require email_verified: an unverified email must not own a job it could never read.
    expect(callerOf(req(jwt({ email: 'dev@example.com', sub: '1' })))).toBeNull();
    expect(callerOf(req(jwt({ email: 'dev@example.com', email_verified: 'true', sub: '1' })))).toBeNull();
    expect(callerOf(req(jwt({ sub: '1' })))).toBeNull();
    expect(callerOf(req('Bearer not-a-jwt'))).toBeNull();
    expect(callerOf(req())).toBeNull();
  });
});
