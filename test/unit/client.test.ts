import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BatonApiError,
  BatonClient,
  BatonConnectionError,
  BatonTimeoutError,
  DEFAULT_BASE_URL,
  type Job,
  SseParser,
  unseenLines,
} from '../../clients/typescript/src/index.js';
import { type CliIo, run } from '../../shared/cli/main.js';

/**
 * The client against a real node:http server on 127.0.0.1 that plays the Baton API: each test
 * installs the routes it needs and inspects the requests the client sent.
 */

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
}
type Handler = (req: Seen, res: ServerResponse) => void | Promise<void>;

let server: Server;
let baseUrl: string;
let routes: Map<string, Handler>;
let requests: Seen[];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const seen: Seen = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(seen);
      const handler = routes.get(`${seen.method} ${seen.path}`);
      if (!handler) {
        sendJson(res, 404, { error: { code: 'not_found', message: `no route ${seen.method} ${seen.path}` } });
        return;
      }
      Promise.resolve(handler(seen, res)).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  routes = new Map();
  requests = [];
});

afterEach(() => {
  vi.unstubAllEnvs();
});

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function job(overrides: Partial<Job> = {}): Record<string, unknown> {
  return {
    deployment_id: 'dep-1',
    kind: 'deployment',
    agent_id: 'my-agent',
    environment: 'development',
    version: 'latest',
    status: 'queued',
    stage: null,
    current_step: 'Queued',
    progress: 0,
    logs: [],
    error_message: null,
    failed_stage: null,
    service_url: null,
    revision: null,
    previous_revision: null,
    created_at: '2025-01-01T00:00:00.000Z',
    started_at: null,
    updated_at: '2025-01-01T00:00:00.000Z',
    completed_at: null,
    stage_timings: {},
    validation_results: [],
    source: { type: 'directory', path: '/srv/app' },
    eta_seconds: null,
    ...overrides,
  };
}

const sse = (data: unknown) => `event: job\ndata: ${JSON.stringify(data)}\n\n`;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/** A stream route that sends the given jobs as events, then closes (or stays open with keepOpen). */
function streamOf(jobs: Record<string, unknown>[], { keepOpen = false } = {}): Handler {
  return async (_req, res) => {
    openStream(res);
    for (const j of jobs) {
      res.write(sse(j));
      await delay(10);
    }
    if (!keepOpen) res.end();
  };
}

const requestsTo = (method: string, path: string) => requests.filter((r) => r.method === method && r.path === path);

/** A port nothing listens on: bind one, then let it go. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('BatonClient requests', () => {
  it('defaults to BATON_URL, then http://127.0.0.1:8080, and drops a trailing slash', () => {
    vi.stubEnv('BATON_URL', '');
    expect(new BatonClient().baseUrl).toBe(DEFAULT_BASE_URL);
    expect(DEFAULT_BASE_URL).toBe('http://127.0.0.1:8080');
    vi.stubEnv('BATON_URL', 'http://baton.example:9000/');
    expect(new BatonClient().baseUrl).toBe('http://baton.example:9000');
    expect(new BatonClient({ baseUrl: 'http://other:1/api/' }).baseUrl).toBe('http://other:1/api');
  });

  it('deploy POSTs the request as JSON and parses the 202 answer', async () => {
    routes.set('POST /deploy', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-42', agent_id: 'my-agent', status: 'queued' }),
    );
    const client = new BatonClient({ baseUrl });
    const request = {
      agent_id: 'my-agent',
      environment: 'staging' as const,
      version: 'v2',
      source: { type: 'directory' as const, path: '/srv/app' },
      env: { LOG_LEVEL: 'debug' },
      deployment_options: { auto_rollback: false, health_path: '/healthz' },
    };
    const accepted = await client.deploy(request);
    expect(accepted).toEqual({ message: 'Deployment started', deployment_id: 'dep-42', agent_id: 'my-agent', status: 'queued' });
    expect(requests).toHaveLength(1);
    expect(requests[0].headers['content-type']).toBe('application/json');
    expect(JSON.parse(requests[0].body.toString('utf8'))).toEqual(request);
  });

  it('deployFromFile sends multipart with agent_id, config_file and source', async () => {
    routes.set('POST /deploy-from-file', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-7', agent_id: 'filer', status: 'queued' }),
    );
    const client = new BatonClient({ baseUrl });
    const accepted = await client.deployFromFile({
      agentId: 'filer',
      configFile: { name: 'agent.yaml', data: Buffer.from('name: filer\nport: 8080\n') },
      source: { name: 'src.tar.gz', data: Buffer.from([0x1f, 0x8b, 0x08, 0x00]) },
    });
    expect(accepted.deployment_id).toBe('dep-7');
    const req = requests[0];
    expect(req.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const form = await new Response(new Uint8Array(req.body), {
      headers: { 'content-type': String(req.headers['content-type']) },
    }).formData();
    expect(form.get('agent_id')).toBe('filer');
    const config = form.get('config_file');
    expect(config).toBeInstanceOf(File);
    expect((config as File).name).toBe('agent.yaml');
    expect(await (config as File).text()).toBe('name: filer\nport: 8080\n');
    const source = form.get('source') as File;
    expect(source.name).toBe('src.tar.gz');
    expect([...new Uint8Array(await source.arrayBuffer())]).toEqual([0x1f, 0x8b, 0x08, 0x00]);
  });

  it('getStatus parses the job, keeps unknown fields and fills defaults', async () => {
    const body = job({ status: 'building', progress: 45, current_step: 'Building' });
    delete body.eta_seconds;
    routes.set('GET /deployments/dep-1', (_req, res) => sendJson(res, 200, { ...body, future_field: 'kept' }));
    const got = await new BatonClient({ baseUrl }).getStatus('dep-1');
    expect(got.status).toBe('building');
    expect(got.progress).toBe(45);
    expect(got.eta_seconds).toBeNull();
    expect((got as Record<string, unknown>).future_field).toBe('kept');
  });

  it('listDeployments sends the query and returns the page', async () => {
    routes.set('GET /deployments', (_req, res) =>
      sendJson(res, 200, { deployments: [job({ deployment_id: 'a' }), job({ deployment_id: 'b', status: 'failed' })], next_cursor: 'c2' }),
    );
    const page = await new BatonClient({ baseUrl }).listDeployments({ agent_id: 'my-agent', status: 'failed', limit: 5 });
    expect(page.deployments.map((d) => d.deployment_id)).toEqual(['a', 'b']);
    expect(page.next_cursor).toBe('c2');
    expect(Object.fromEntries(requests[0].query)).toEqual({ agent_id: 'my-agent', status: 'failed', limit: '5' });
  });

  it('getLogs, rollback, cancel and getService hit their routes', async () => {
    routes.set('GET /deployments/dep-1/logs', (_req, res) => sendJson(res, 200, { deployment_id: 'dep-1', logs: 'a\nb\n' }));
    routes.set('POST /rollback', (_req, res) =>
      sendJson(res, 202, {
        message: 'Rollback started',
        rollback_id: 'rb-1',
        deployment_id: 'dep-1',
        agent_id: 'my-agent',
        status: 'queued',
      }),
    );
    routes.set('POST /deployments/dep-1/cancel', (_req, res) =>
      sendJson(res, 200, { message: 'Cancellation requested', deployment_id: 'dep-1', status: 'building' }),
    );
    routes.set('GET /services/my-agent', (_req, res) =>
      sendJson(res, 200, {
        agent_id: 'my-agent',
        service_name: 'my-agent',
        status: 'running',
        url: 'http://127.0.0.1:9100',
        serving_revision: 'my-agent-r2',
        last_good_revision: 'my-agent-r1',
        deployment_id: 'dep-1',
        traffic: [{ revision: 'my-agent-r2', percent: 100 }],
        latest_ready_revision: 'my-agent-r2',
        updated_at: '2025-01-01T00:00:00.000Z',
      }),
    );
    const client = new BatonClient({ baseUrl });
    expect(await client.getLogs('dep-1')).toBe('a\nb\n');
    const rb = await client.rollback('dep-1', 'bad release');
    expect(rb.rollback_id).toBe('rb-1');
    expect(JSON.parse(requestsTo('POST', '/rollback')[0].body.toString())).toEqual({
      deployment_id: 'dep-1',
      rollback_reason: 'bad release',
    });
    expect(await client.cancel('dep-1')).toEqual({ message: 'Cancellation requested', deployment_id: 'dep-1', status: 'building' });
    const svc = await client.getService('my-agent');
    expect(svc.serving_revision).toBe('my-agent-r2');
    expect(svc.traffic).toEqual([{ revision: 'my-agent-r2', percent: 100 }]);
  });

  it('throws BatonApiError with status, code, field and the server message', async () => {
    routes.set('POST /deploy', (_req, res) =>
      sendJson(res, 400, { error: { code: 'invalid', message: 'agent_id: must be 1-48 lowercase characters', field: 'agent_id' } }),
    );
    const client = new BatonClient({ baseUrl });
    const err = await client.deploy({ agent_id: 'Bad Name' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonApiError);
    const apiErr = err as BatonApiError;
    expect(apiErr.status).toBe(400);
    expect(apiErr.code).toBe('invalid');
    expect(apiErr.field).toBe('agent_id');
    expect(apiErr.serverMessage).toBe('agent_id: must be 1-48 lowercase characters');
    expect(apiErr.message).toBe('agent_id: must be 1-48 lowercase characters (field: agent_id) [HTTP 400 invalid]');

    const notFound = (await client.getStatus('nope').catch((e: unknown) => e)) as BatonApiError;
    expect(notFound).toBeInstanceOf(BatonApiError);
    expect(notFound.status).toBe(404);
    expect(notFound.code).toBe('not_found');
    expect(notFound.field).toBeUndefined();
  });

  it('turns a non-JSON error body into a BatonApiError that quotes it', async () => {
    routes.set('GET /deployments/dep-1', (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('upstream exploded');
    });
    const err = (await new BatonClient({ baseUrl }).getStatus('dep-1').catch((e: unknown) => e)) as BatonApiError;
    expect(err).toBeInstanceOf(BatonApiError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('http_error');
    expect(err.message).toContain('upstream exploded');
  });

  it('says the control plane is not reachable when the connection is refused', async () => {
    const port = await closedPort();
    const client = new BatonClient({ baseUrl: `http://127.0.0.1:${port}` });
    const err = (await client.getStatus('dep-1').catch((e: unknown) => e)) as BatonConnectionError;
    expect(err).toBeInstanceOf(BatonConnectionError);
    expect(err.reason).toBe('ECONNREFUSED');
    expect(err.message).toContain(`not reachable at http://127.0.0.1:${port}`);
    expect(err.message).toContain('npm start');
    expect(err.message).toContain('BATON_URL');
    // watch does not fall back to polling a server that is not there.
    await expect(client.watch('dep-1', () => {})).rejects.toBeInstanceOf(BatonConnectionError);
  });
});

describe('SseParser', () => {
  it('parses events split anywhere, CRLF line ends, comments and multi-line data', () => {
    const p = new SseParser();
    expect(p.push(': keep-alive\n\nevent: jo')).toEqual([]);
    expect(p.push('b\r\ndata: {"a":\r')).toEqual([]);
    expect(p.push('\ndata: 1}\r\n')).toEqual([]);
    expect(p.push('\r\ndata: plain\n\n')).toEqual([
      { event: 'job', data: '{"a":\n1}', id: undefined },
      { event: 'message', data: 'plain', id: undefined },
    ]);
    expect(p.push('id: 7\nevent: job\ndata:x\n\n')).toEqual([{ event: 'job', data: 'x', id: '7' }]);
  });
});

describe('unseenLines', () => {
  it('returns only the lines of the tail after what was printed', () => {
    expect(unseenLines(['l1', 'l2', 'l3'], ['l2', 'l3', 'l4', 'l5'])).toEqual(['l4', 'l5']);
    // the tail lags behind the full log: nothing new
    expect(unseenLines(['l1', 'l2', 'l3', 'l4'], ['l1', 'l2'])).toEqual([]);
    // nothing in common (more lines arrived than the tail holds): all of it
    expect(unseenLines(['l1', 'l2'], ['l7', 'l8'])).toEqual(['l7', 'l8']);
    expect(unseenLines([], ['a'])).toEqual(['a']);
    expect(unseenLines(['a'], [])).toEqual([]);
  });
});

describe('BatonClient.watch', () => {
  it('parses an event split across two writes and resolves at the final status', async () => {
    const building = JSON.stringify(job({ status: 'building', progress: 45, current_step: 'Building' }));
    routes.set('GET /deployments/dep-1/stream', async (_req, res) => {
      openStream(res);
      res.write(': connected\n\n');
      res.write(`event: job\ndata: ${building.slice(0, 40)}`);
      await delay(40);
      res.write(`${building.slice(40)}\n\n`);
      await delay(10);
      res.write(sse(job({ status: 'completed', progress: 100, current_step: 'Done', service_url: 'http://127.0.0.1:9100' })));
      res.end();
    });
    const seen: Job[] = [];
    const final = await new BatonClient({ baseUrl }).watch('dep-1', (j) => seen.push(j));
    expect(seen.map((j) => [j.status, j.progress])).toEqual([
      ['building', 45],
      ['completed', 100],
    ]);
    expect(final.status).toBe('completed');
    expect(final.service_url).toBe('http://127.0.0.1:9100');
    expect(requestsTo('GET', '/deployments/dep-1')).toHaveLength(0);
    expect(requests[0].headers.accept).toBe('text/event-stream');
  });

  it('stops at a final status even if the server keeps the stream open', async () => {
    routes.set('GET /deployments/dep-1/stream', streamOf([job({ status: 'failed', error_message: 'boom' })], { keepOpen: true }));
    const final = await new BatonClient({ baseUrl }).watch('dep-1', () => {});
    expect(final.status).toBe('failed');
    expect(final.error_message).toBe('boom');
  });

  it('reconnects when the stream drops before a final status', async () => {
    let connections = 0;
    routes.set('GET /deployments/dep-1/stream', (req, res) => {
      connections++;
      const jobs =
        connections === 1
          ? [job({ status: 'building', progress: 30 })]
          : [job({ status: 'building', progress: 30 }), job({ status: 'completed', progress: 100 })];
      return streamOf(jobs)(req, res);
    });
    const seen: string[] = [];
    const final = await new BatonClient({ baseUrl }).watch('dep-1', (j) => seen.push(`${j.status}:${j.progress}`), {
      reconnectDelayMs: 10,
    });
    expect(final.status).toBe('completed');
    expect(connections).toBe(2);
    // the repeated state after reconnecting is not reported twice
    expect(seen).toEqual(['building:30', 'completed:100']);
    expect(requestsTo('GET', '/deployments/dep-1')).toHaveLength(0);
  });

  it('falls back to polling when the stream keeps closing early', async () => {
    let connections = 0;
    routes.set('GET /deployments/dep-1/stream', (req, res) => {
      connections++;
      return streamOf([job({ status: 'deploying', progress: 60 })])(req, res);
    });
    let polls = 0;
    routes.set('GET /deployments/dep-1', (_req, res) => {
      polls++;
      sendJson(res, 200, polls < 3 ? job({ status: 'verifying', progress: 80 }) : job({ status: 'completed', progress: 100 }));
    });
    const seen: string[] = [];
    const final = await new BatonClient({ baseUrl }).watch('dep-1', (j) => seen.push(j.status), {
      maxReconnects: 2,
      reconnectDelayMs: 5,
      pollIntervalMs: 20,
    });
    expect(final.status).toBe('completed');
    expect(connections).toBe(3);
    expect(polls).toBe(3);
    expect(seen).toEqual(['deploying', 'verifying', 'completed']);
  });

  it('polls when the server has no stream, and reports an unknown deployment', async () => {
    routes.set('GET /deployments/dep-1', (_req, res) => sendJson(res, 200, job({ status: 'cancelled' })));
    const final = await new BatonClient({ baseUrl }).watch('dep-1', () => {}, { pollIntervalMs: 10 });
    expect(final.status).toBe('cancelled');

    const err = (await new BatonClient({ baseUrl })
      .watch('nope', () => {}, { pollIntervalMs: 10 })
      .catch((e: unknown) => e)) as BatonApiError;
    expect(err).toBeInstanceOf(BatonApiError);
    expect(err.status).toBe(404);
    // a 404 is not retried
    expect(requestsTo('GET', '/deployments/nope')).toHaveLength(1);
  });

  it('keeps polling through a passing 5xx', async () => {
    let polls = 0;
    routes.set('GET /deployments/dep-1', (_req, res) => {
      polls++;
      if (polls === 1) sendJson(res, 503, { error: { code: 'unavailable', message: 'busy' } });
      else sendJson(res, 200, job({ status: 'completed', progress: 100 }));
    });
    const final = await new BatonClient({ baseUrl }).watch('dep-1', () => {}, { pollIntervalMs: 10 });
    expect(final.status).toBe('completed');
    expect(polls).toBe(2);
  });

  it('waitForDeployment rejects with a clear error on timeout', async () => {
    routes.set(
      'GET /deployments/dep-1/stream',
      streamOf([job({ status: 'building', progress: 40, current_step: 'Building' })], { keepOpen: true }),
    );
    const progress: number[] = [];
    const err = (await new BatonClient({ baseUrl })
      .waitForDeployment('dep-1', (j) => progress.push(j.progress), { timeoutMs: 200 })
      .catch((e: unknown) => e)) as BatonTimeoutError;
    expect(err).toBeInstanceOf(BatonTimeoutError);
    expect(err.message).toBe(
      'timed out after 0.2s waiting for deployment dep-1 to finish; last seen building at 40% (Building); it keeps running on the server',
    );
    expect(err.lastJob?.status).toBe('building');
    expect(progress).toEqual([40]);
  });

  it('deployAndWait deploys, then follows to the end', async () => {
    routes.set('POST /deploy', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-9', agent_id: 'a', status: 'queued' }),
    );
    routes.set(
      'GET /deployments/dep-9/stream',
      streamOf([
        job({ deployment_id: 'dep-9', status: 'validating', progress: 5 }),
        job({ deployment_id: 'dep-9', status: 'completed', progress: 100 }),
      ]),
    );
    const progress: number[] = [];
    const final = await new BatonClient({ baseUrl }).deployAndWait({ agent_id: 'a' }, (j) => progress.push(j.progress));
    expect(final.deployment_id).toBe('dep-9');
    expect(final.status).toBe('completed');
    expect(progress).toEqual([5, 100]);
  });

  it('followLogs prints the whole log, then only new tail lines', async () => {
    routes.set('GET /deployments/dep-1/logs', (_req, res) => sendJson(res, 200, { deployment_id: 'dep-1', logs: 'l1\nl2\nl3\n' }));
    routes.set(
      'GET /deployments/dep-1/stream',
      streamOf([
        job({ status: 'building', logs: ['l1', 'l2'] }),
        job({ status: 'building', logs: ['l2', 'l3', 'l4', 'l5'] }),
        job({ status: 'completed', logs: ['l4', 'l5', 'l6'] }),
      ]),
    );
    const lines: string[] = [];
    const final = await new BatonClient({ baseUrl }).followLogs('dep-1', (l) => lines.push(l));
    expect(lines).toEqual(['l1', 'l2', 'l3', 'l4', 'l5', 'l6']);
    expect(final.status).toBe('completed');
  });
});

describe('baton CLI (run) against the fake API', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'baton-cli-'));
    await writeFile(join(dir, 'agent.yaml'), 'agent_id: filer\n');
    await writeFile(join(dir, 'notes.txt'), 'x');
    await mkdir(join(dir, 'My_Web App'));
    await mkdir(join(dir, '2024'));
    await writeFile(join(dir, '.env'), '# settings\nexport GREETING="hi there" # shown\nLEVEL=debug\n');
    await writeFile(join(dir, 'bad.env'), 'A=1\nB="open\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function io(): CliIo & { out: () => string; err: () => string } {
    let out = '';
    let err = '';
    return {
      stdout: { write: (t: string) => (out += t), isTTY: false },
      stderr: { write: (t: string) => (err += t) },
      env: { BATON_URL: baseUrl },
      cwd: dir,
      out: () => out,
      err: () => err,
    };
  }

  it('deploy <dir> --wait sends a directory source, prints one line per step and exits 0', async () => {
    routes.set('POST /deploy', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-5', agent_id: 'web', status: 'queued' }),
    );
    routes.set(
      'GET /deployments/dep-5/stream',
      streamOf([
        job({ deployment_id: 'dep-5', agent_id: 'web', status: 'building', progress: 20, current_step: 'Building' }),
        job({ deployment_id: 'dep-5', agent_id: 'web', status: 'building', progress: 45, current_step: 'Building' }),
        job({
          deployment_id: 'dep-5',
          agent_id: 'web',
          status: 'completed',
          progress: 100,
          current_step: 'Done',
          service_url: 'http://127.0.0.1:9100',
          revision: 'web-dep5',
          started_at: '2025-01-01T00:00:00.000Z',
          completed_at: '2025-01-01T00:00:12.500Z',
        }),
      ]),
    );
    const t = io();
    const code = await run(['deploy', '.', '--agent', 'web', '--environment', 'staging', '--no-auto-rollback', '--wait'], t);
    expect(t.err()).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(requestsTo('POST', '/deploy')[0].body.toString())).toEqual({
      agent_id: 'web',
      environment: 'staging',
      source: { type: 'directory', path: dir },
      deployment_options: { auto_rollback: false },
    });
    expect(t.out()).toBe(
      [
        'Deployment dep-5 queued (agent web)',
        '[####----------------]  20% building  Building',
        '[####################] 100% completed  Done',
        'Deployment dep-5 completed in 12.5s',
        'Revision:    web-dep5',
        'Service URL: http://127.0.0.1:9100',
        '',
      ].join('\n'),
    );
  });

  it('deploy <dir> maps --env, --env-file, --secret, --health-path, --start-timeout, --strategy and the canary thresholds into the request', async () => {
    routes.set('POST /deploy', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-7', agent_id: 'web', status: 'queued' }),
    );
    const t = io();
    const argv = ['deploy', '.', '-a', 'web', '--env-file', '.env', '--env', 'LEVEL=info', '-e', 'URL=a=b', '--secret', 'DB_PASS=db-pass'];
    argv.push('--health-path', '/healthz', '--start-timeout', '90', '--strategy', 'canary:10,50,100');
    argv.push('--max-error-rate', '2%', '--max-latency', '400', '--min-requests', '25');
    expect(await run(argv, t)).toBe(0);
    expect(t.err()).toBe('');
    expect(JSON.parse(requestsTo('POST', '/deploy')[0].body.toString())).toEqual({
      agent_id: 'web',
      env: { GREETING: 'hi there', LEVEL: 'info', URL: 'a=b' },
      secrets: { DB_PASS: 'db-pass' },
      source: { type: 'directory', path: dir },
      deployment_options: {
        health_path: '/healthz',
        start_timeout_seconds: 90,
        strategy: { type: 'canary', steps: [10, 50, 100] },
        max_error_rate: 0.02,
        max_latency_ms: 400,
        min_requests: 25,
      },
    });
  });

  it('deploy <dir> without --agent names the agent after the folder, as gcloud does, and says so', async () => {
    routes.set('POST /deploy', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-8', agent_id: 'my-web-app', status: 'queued' }),
    );
    const t = io();
    expect(await run(['deploy', 'My_Web App'], t)).toBe(0);
    expect(JSON.parse(requestsTo('POST', '/deploy')[0].body.toString()).agent_id).toBe('my-web-app');
    expect(t.err()).toBe('baton: no --agent given: deploying as agent "my-web-app", from the folder name (choose with --agent <id>)\n');
  });

  it('a malformed --env-file exits 4 (bad input) naming the file and line, without quoting it', async () => {
    const t = io();
    expect(await run(['deploy', '.', '--agent', 'web', '--env-file', 'bad.env'], t)).toBe(4);
    expect(t.err()).toBe('baton: bad.env:2: the value of B opens a " quote that is never closed\n');
    expect(requests).toHaveLength(0);
  });

  it('deploy --wait exits 1 and shows the error when the deployment fails', async () => {
    routes.set('POST /deploy', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-6', agent_id: 'web', status: 'queued' }),
    );
    routes.set(
      'GET /deployments/dep-6/stream',
      streamOf([
        job({ deployment_id: 'dep-6', status: 'failed', progress: 20, failed_stage: 'building', error_message: 'npm install failed' }),
      ]),
    );
    const t = io();
    expect(await run(['deploy', dir, '--agent', 'web', '--wait'], t)).toBe(1);
    expect(t.out()).toContain('Failed stage: building\nError:        npm install failed\n');
  });

  it('deploy <config.yaml> uploads it as config_file', async () => {
    routes.set('POST /deploy-from-file', (_req, res) =>
      sendJson(res, 202, { message: 'Deployment started', deployment_id: 'dep-8', agent_id: 'filer', status: 'queued' }),
    );
    const t = io();
    expect(await run(['deploy', 'agent.yaml', '--agent', 'filer'], t)).toBe(0);
    expect(t.out()).toBe('Deployment dep-8 queued (agent filer)\nFollow it with: baton status dep-8\n');
    const req = requestsTo('POST', '/deploy-from-file')[0];
    const form = await new Response(new Uint8Array(req.body), {
      headers: { 'content-type': String(req.headers['content-type']) },
    }).formData();
    expect(form.get('agent_id')).toBe('filer');
    expect(await (form.get('config_file') as File).text()).toBe('agent_id: filer\n');
  });

  it('bad usage exits 4 and says what was wrong', async () => {
    const cases: [string[], string][] = [
      [[], 'baton: no command given'],
      [['frobnicate'], 'baton: unknown command "frobnicate"'],
      [
        ['deploy', '2024'],
        'baton: no --agent given and the folder name "2024" has no letters to make one from: give one with --agent <id>',
      ],
      [['deploy', 'notes.txt', '--agent', 'a'], 'baton: notes.txt is neither a folder nor a .yaml, .yml or .json service config'],
      [
        ['deploy', '.', '--agent', 'a', '--environment', 'Prod!'],
        'baton: --environment "Prod!" is not an environment name (lowercase letters, digits, "-" or "_"; e.g. development, staging, production)',
      ],
      [
        ['deploy', '.', '--agent', 'a', '--env', 'production'],
        'baton: --env takes KEY=VALUE; the environment tier is --environment production',
      ],
      [
        ['deploy', '.', '--agent', 'a', '--env', 'A=1', '--strategy', 'canary:10,50'],
        'baton: --strategy canary:10,50: the last step must be 100, so the new revision ends up serving all traffic',
      ],
      [
        ['deploy', '.', '--agent', 'a', '--start-timeout', '300'],
        'baton: --start-timeout must be a number of seconds from 1 to 240 (Cloud Run\'s limit), not "300"',
      ],
      [['deploy', '.', '--agent', 'a', '--env-file', 'missing.env'], 'baton: --env-file missing.env is not a file'],
      [['logs'], 'baton: "logs" needs a deployment id, or --service <agent> for what its revisions write'],
      [['status', '--wait'], 'baton: option --wait does not apply to "status"'],
    ];
    for (const [args, message] of cases) {
      const t = io();
      expect(await run(args, t), args.join(' ')).toBe(4);
      expect(t.err().split('\n')[0]).toBe(message);
      expect(t.err()).toContain('Usage: baton <command>');
    }
    expect(requests).toHaveLength(0);
  });

  it('API errors exit 1 with the server message; status lists a table', async () => {
    routes.set('GET /deployments', (_req, res) =>
      sendJson(res, 200, { deployments: [job({ deployment_id: 'dep-1', status: 'completed', progress: 100 })], next_cursor: null }),
    );
    const t = io();
    expect(await run(['status', '--agent', 'my-agent'], t)).toBe(0);
    expect(t.out()).toBe(
      'ID     AGENT     KIND        STATUS     PROGRESS  CREATED\ndep-1  my-agent  deployment  completed  100%      2025-01-01T00:00:00.000Z\n',
    );
    expect(requests[0].query.get('agent_id')).toBe('my-agent');

    const t2 = io();
    expect(await run(['status', 'nope'], t2)).toBe(1);
    expect(t2.err()).toBe('baton: no route GET /deployments/nope [HTTP 404 not_found]\n');
  });
});

describe('a refreshed bearer token (getToken)', () => {
  it('asks for the token before every request, sends it as Authorization: Bearer, and wins over a static token', async () => {
    routes.set('GET /deployments/dep-1', (_r, res) => sendJson(res, 200, job()));
    routes.set('POST /services/my-agent/unpin', (_r, res) => sendJson(res, 200, { agent_id: 'my-agent', pinned: false, unpinned: null }));
    let n = 0;
    const client = new BatonClient({ baseUrl, token: 'static', getToken: async () => `fresh-${++n}` });
    await client.getStatus('dep-1');
    await client.unpin('my-agent');
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer fresh-1', 'Bearer fresh-2']);
  });

  it('falls back to the static token when getToken gives none, and sends no header with neither', async () => {
    routes.set('GET /deployments/dep-1', (_r, res) => sendJson(res, 200, job()));
    await new BatonClient({ baseUrl, token: 'static', getToken: async () => null }).getStatus('dep-1');
    await new BatonClient({ baseUrl, token: '', getToken: async () => undefined }).getStatus('dep-1');
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer static', undefined]);
  });

  it('a getToken that fails (signed out) fails the call and sends nothing', async () => {
    const client = new BatonClient({ baseUrl, getToken: () => Promise.reject(new Error('not signed in')) });
    await expect(client.getStatus('dep-1')).rejects.toThrow('not signed in');
    expect(requests).toEqual([]);
  });
});
