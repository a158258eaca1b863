import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonClient, type ServiceLogEntry } from '../../clients/typescript/src/index.js';
import { run } from '../../shared/cli/main.js';
import { serviceName } from '../../shared/domain/names.js';
import { waitFor } from '../contract/suites/util.js';
import { fixture, getText, type JobView, TestStack } from '../support/stack.js';

/**
 * Issue 7, point 5 on the local target: what a revision writes after it is ready is kept and read
 * by GET /services/{agent_id}/logs (one revision, the last n lines, followed as SSE) and by
 * `baton logs --service`, with the levels of a pino-style logger shown as WARNING/ERROR.
 */
describe('runtime logs on the local target', () => {
  let t: TestStack;
  let job: JobView;
  beforeAll(async () => {
    t = await TestStack.start();
    job = await t.waitFinal(await t.deploy('logger', 'pino-app'));
    expect(job.status).toBe('completed');
  });
  afterAll(async () => {
    await t.close();
  });

  const logsOf = async (query = '') => t.request('GET', `/services/logger/logs${query}`);

  it('keeps what the revision writes after it is ready, with the JSON loggers’ levels', async () => {
    await getText(`${job.service_url}work?n=1`);
    const entries = await waitFor('the lines of GET /work', async () => {
      const res = await logsOf();
      const list = (res.json.entries ?? []) as ServiceLogEntry[];
      return list.some((e) => e.message.startsWith('plain stderr after /work?n=1')) ? list : undefined;
    });
    const view = entries.map((e) => [e.severity, e.message, e.stream, e.revision]);
    expect(view).toContainEqual(['INFO', 'pino-app listening', 'stdout', job.revision]);
    expect(view).toContainEqual(['WARNING', 'work is slow', 'stdout', job.revision]);
    expect(view).toContainEqual(['ERROR', 'work failed', 'stdout', job.revision]);
    expect(view).toContainEqual(['WARNING', 'winston says careful', 'stdout', job.revision]);
    expect(view).toContainEqual(['DEFAULT', 'plain stderr after /work?n=1', 'stderr', job.revision]);
    const file = join(t.dir, 'logs', 'revisions', serviceName('logger'), `${job.revision}.log`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('reads one revision and the last n lines', async () => {
    const one = await logsOf(`?revision=${job.revision}&lines=2`);
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ agent_id: 'logger', revision: job.revision });
    expect(one.json.entries).toHaveLength(2);
  });

  it('refuses bad parameters with a 400 naming them, and an unknown agent with a 404', async () => {
    for (const [query, field] of [
      ['?lines=0', 'query.lines'],
      ['?lines=abc', 'query.lines'],
      ['?follow=maybe', 'query.follow'],
      ['?revision=Not_A_Name', 'query.revision'],
      ['?revision=someone-else-123', 'query.revision'],
      ['?tail=5', 'query.tail'],
    ] as const) {
      const res = await logsOf(query);
      expect(res.status, query).toBe(400);
      expect(res.json.error?.field, query).toBe(field);
    }
    const unknown = await t.request('GET', '/services/nobody-here/logs');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'not_found', field: 'agent_id' });
  });

  it('follows as Server-Sent Events: new lines arrive as they are written', async () => {
    const client = new BatonClient({ baseUrl: t.url });
    const seen: ServiceLogEntry[] = [];
    const stop = new AbortController();
    const following = client.followServiceLogs('logger', (e) => seen.push(e), { lines: 1, signal: stop.signal }).catch(() => 'stopped');
    await waitFor('the stream to start', () => seen.length >= 1);
    await getText(`${job.service_url}work?n=follow`);
    await waitFor('the followed line', () => seen.some((e) => e.message === 'plain stderr after /work?n=follow'));
    stop.abort();
    expect(await following).toBe('stopped');
    expect(seen.filter((e) => e.message === 'work failed').at(-1)?.severity).toBe('ERROR');
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
  });

  it('baton logs --service prints the lines with their levels, and -f follows until interrupted', async () => {
    let out = '';
    let interrupt = () => {};
    const io = {
      stdout: { write: (s: string) => (out += s), isTTY: false },
      stderr: { write: (_s: string) => true },
      env: { BATON_URL: t.url },
      cwd: fixture('.'),
      onInterrupt: (h: () => void) => {
        interrupt = h;
        return () => {};
      },
    };
    expect(await run(['logs', '--service', 'logger', '--lines', '50'], io)).toBe(0);
    expect(out).toMatch(new RegExp(`WARNING +\\[${job.revision}\\] work is slow`));
    expect(out).toMatch(/ERROR +\[\S+\] work failed/);
    out = '';
    const following = run(['logs', '--service', 'logger', '-f', '--lines', '1'], io);
    await waitFor('the first followed line', () => out.length > 0);
    await getText(`${job.service_url}work?n=cli`);
    await waitFor('the new line', () => out.includes('plain stderr after /work?n=cli'));
    interrupt();
    expect(await following).toBe(130);
    // A usage error is bad input: exit 4 (the CLI's exit codes).
    expect(await run(['logs', '--service', 'logger', 'extra'], io)).toBe(4);
    expect(await run(['logs', 'some-id', '--lines', '5'], io)).toBe(4);
  });
});
