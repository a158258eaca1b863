import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { listeningPorts } from '../../shared/adapters/local/listening.js';
import { classifyFailure, failureRecord, HINTS, portListenedOn, REASON_CODES } from '../../shared/domain/failure.js';

describe('the failure record', () => {
  it.each([
    [
      'verifying',
      'Revision r did not start: the process exited with code 3 during start-up, before it listened on PORT=1',
      [],
      'crashed_at_startup',
    ],
    ['verifying', 'Revision r did not start: It listens on port 3000, not PORT=8080: …', [], 'ignores_port'],
    [
      'verifying',
      'Failed to start and then listen on the port defined by the PORT environment variable (PORT=8080) in time',
      [],
      'ignores_port',
    ],
    ['verifying', 'Health check of revision r failed 2 times at u: health endpoint answered HTTP 500', [], 'health_5xx'],
    ['verifying', 'Health check of revision r failed 2 times at u: dependencies reported unhealthy: db', [], 'dependency_down'],
    ['building', 'Build b failed: npm ci exited 1', [], 'build_failed'],
    [
      'verifying',
      'Revision r did not start: the process exited with code 1',
      ['npm error Missing script: "start"'],
      'missing_start_script',
    ],
    [
      'verifying',
      'Revision r did not start: the process was killed by SIGABRT',
      ['FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'],
      'out_of_memory',
    ],
    ['building', 'No progress in the building stage since 2026-01-01: the stage’s worker stopped', [], 'stage_timeout'],
    ['validating', 'Validation blocked: 2 checks', [], 'validation_failed'],
    ['testing', 'Performance test failed', [], 'test_failed'],
    ['verifying', 'Gave up after 5 attempts on baton-x: boom', [], 'retries_exhausted'],
  ] as const)('classifies a failure in %s: %s', (stage, message, output, code) => {
    expect(classifyFailure(stage, message, output)).toBe(code);
  });

  it('has a hint for every code', () => {
    for (const code of REASON_CODES) expect(HINTS[code].length).toBeGreaterThan(10);
  });

  it('keeps the last lines of output, bounded and redacted, and the probe’s body bounded', () => {
    const output = Array.from({ length: 50 }, (_, i) => `line ${i} API_KEY=sk-secret-${i}`);
    const rec = failureRecord(
      'verifying',
      'Health check failed: health endpoint answered HTTP 503 password=hunter2',
      {
        probe: { url: 'http://x/health', status: 503, body_excerpt: `token=abc ${'x'.repeat(1000)}`, latency_ms: 4 },
      },
      output,
    );
    expect(rec.revision_output).toHaveLength(20);
    expect(rec.revision_output[19]).toContain('line 49');
    expect(rec.revision_output.join('\n')).not.toContain('sk-secret');
    expect(rec.message).not.toContain('hunter2');
    expect(rec.probe?.body_excerpt.length).toBeLessThanOrEqual(300);
    expect(rec.probe?.body_excerpt).not.toContain('abc');
  });

  it('names the port a revision listened on: the local runtime’s words, or the revision’s own on Cloud Run', () => {
    expect(portListenedOn('It listens on port 3000, not PORT=8080', [])).toBe(3000);
    expect(portListenedOn('failed to listen on PORT=8080', ['Server listening on port 3000'])).toBe(3000);
    expect(portListenedOn('failed to listen on PORT=8080', ['listening on :8080'])).toBeUndefined();
  });
});

describe('listening sockets of a process group (/proc)', () => {
  it('finds the port a child of the group listens on, and nothing for a group that listens on none', async () => {
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        `exec ${process.execPath} -e "require('node:net').createServer().listen(0,'127.0.0.1',function(){console.log(this.address().port)})"`,
      ],
      { detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const port = await new Promise<number>((resolve) => child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      expect(listeningPorts(child.pid ?? -1)).toEqual([port]);
      expect(listeningPorts(2 ** 22 + 7)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
