import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type LocalStack, startLocalStack } from '../../functions/local/stack.js';
import { loadConfig } from '../../shared/config.js';
import type { CanaryAnalysis } from '../../shared/domain/canary.js';
import type { Failure } from '../../shared/domain/failure.js';
import { FINAL_STATUSES } from '../../shared/domain/status.js';

export const FIXTURES = resolve(import.meta.dirname, '../fixtures/services');
export const fixture = (name: string) => join(FIXTURES, name);

export interface JobView {
  deployment_id: string;
  agent_id: string;
  status: string;
  stage: string | null;
  progress: number;
  current_step: string;
  logs: string[];
  error_message: string | null;
  failed_stage: string | null;
  service_url: string | null;
  revision: string | null;
  previous_revision: string | null;
  rollback_id: string | null;
  measurements: Record<string, number>;
  stage_timings: Record<string, { started_at: string; duration_ms: number | null }>;
  completed_at: string | null;
  failure: Failure | null;
  queue: { reason: string; since: string } | null;
  queue_position: number | null;
  superseded_by: string | null;
  test_results: { test_type: string; passed: boolean; message: string; metrics: Record<string, unknown> }[];
  canary_analyses: CanaryAnalysis[];
  approval: { state: string; deadline_at: string; decided_at: string | null; decided_by: string | null; reason: string | null } | null;
}

/** Fast timings for tests: quick polls and back-off, two health attempts. */
export const TEST_ENV = {
  PORT: '0',
  BATON_VERIFY_POLL_MS: '25',
  BATON_BUS_MIN_BACKOFF_MS: '20',
  BATON_BUS_MAX_BACKOFF_MS: '200',
  BATON_HEALTH_ATTEMPTS: '2',
};

export class TestStack {
  private constructor(
    readonly stack: LocalStack,
    readonly dir: string,
    private readonly ownsDir: boolean,
  ) {}

  static async start(env: Record<string, string> = {}, dir?: string): Promise<TestStack> {
    const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'baton-e2e-'));
    const stack = await startLocalStack(loadConfig({ ...TEST_ENV, BATON_DATA_DIR: dataDir, ...env }));
    return new TestStack(stack, dataDir, dir === undefined);
  }

  get url(): string {
    return this.stack.url;
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> & { error?: { code: string; message: string; field?: string } } }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** POST /deploy of a fixture folder; returns the deployment id. */
  async deploy(agentId: string, fixtureName: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await this.request('POST', '/deploy', {
      agent_id: agentId,
      source: { type: 'directory', path: fixture(fixtureName) },
      ...extra,
    });
    if (res.status !== 202) throw new Error(`deploy answered ${res.status}: ${JSON.stringify(res.json)}`);
    return String(res.json.deployment_id);
  }

  async job(id: string): Promise<JobView> {
    const res = await this.request('GET', `/deployments/${id}`);
    if (res.status !== 200) throw new Error(`GET /deployments/${id} answered ${res.status}`);
    return res.json as unknown as JobView;
  }

  /** Polls until the job reaches a final status. */
  async waitFinal(id: string, timeoutMs = 45_000): Promise<JobView> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const job = await this.job(id);
      if ((FINAL_STATUSES as readonly string[]).includes(job.status)) {
        await this.stack.bus.idle();
        return this.job(id);
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    throw new Error(`deployment ${id} did not finish within ${timeoutMs} ms: ${JSON.stringify(await this.job(id))}`);
  }

  async logs(id: string): Promise<string> {
    const res = await this.request('GET', `/deployments/${id}/logs`);
    return String(res.json.logs);
  }

  async stop(): Promise<void> {
    await this.stack.stop();
  }

  async close(): Promise<void> {
    await this.stack.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function getText(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}
