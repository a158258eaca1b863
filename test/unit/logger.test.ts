import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerFunctions } from '../../functions/framework.js';
import { stageEvent } from '../../shared/domain/events.js';
import { configureLogging, log, traceFields, withLogContext } from '../../shared/logger.js';
import { harness } from '../support/fakes.js';

/** Every line the logger writes, parsed: each must be one JSON object. */
const lines: string[] = [];
const entries = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

beforeEach(() => {
  lines.length = 0;
  configureLogging({ format: 'json', write: (line) => lines.push(line) });
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('the structured logger', () => {
  it("writes one Cloud Logging JSON object per line: severity, message, time, the context's deployment, stage and trace", async () => {
    await withLogContext(
      { function: 'build', deployment_id: 'd1', ...traceFields({ traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` }, 'proj') },
      async () => {
        await Promise.resolve();
        log('WARNING', 'first line\nsecond line', { stage: 'building' });
      },
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect(entries()[0]).toEqual({
      severity: 'WARNING',
      message: 'first line\nsecond line',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      function: 'build',
      deployment_id: 'd1',
      stage: 'building',
      'logging.googleapis.com/trace': `projects/proj/traces/${TRACE_ID}`,
      'logging.googleapis.com/spanId': '00f067aa0ba902b7',
      'logging.googleapis.com/trace_sampled': true,
    });
  });

  it('redacts secrets in every message', () => {
    log('ERROR', 'clone of https://user:hunter2@git.example.com/r.git failed; api_key=abc123 Bearer eyJhbGciOi.x.y');
    const message = String(entries()[0].message);
    for (const secret of ['hunter2', 'abc123', 'eyJhbGciOi']) expect(message).not.toContain(secret);
  });

  it('reads the trace from traceparent, else X-Cloud-Trace-Context (decimal span to hex); none without a project or a valid header', () => {
    expect(traceFields({ 'x-cloud-trace-context': `${TRACE_ID}/1234567890123;o=1` }, 'p')).toEqual({
      trace: `projects/p/traces/${TRACE_ID}`,
      span_id: (1234567890123).toString(16).padStart(16, '0'),
      trace_sampled: true,
    });
    expect(traceFields({ 'x-cloud-trace-context': TRACE_ID }, 'p')).toEqual({ trace: `projects/p/traces/${TRACE_ID}` });
    expect(traceFields({ traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-00` }, 'p').trace_sampled).toBe(false);
    expect(traceFields({ traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }, 'p')).toEqual({});
    expect(traceFields({ traceparent: 'garbage', 'x-cloud-trace-context': 'nope/1' }, 'p')).toEqual({});
    expect(traceFields({ traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` }, undefined)).toEqual({});
  });

  it('stays readable text where a person reads it', () => {
    configureLogging({ format: 'text' });
    withLogContext({ function: 'api', deployment_id: 'd9' }, () => log('WARNING', 'slow'));
    configureLogging({ format: 'json' });
    expect(lines).toEqual(['baton api d9: WARNING slow']);
  });
});

describe('the functions log structured JSON', () => {
  const h = harness();
  const servers: Server[] = [];
  const urls = new Map<string, string>();
  const previousProject = process.env.BATON_GCP_PROJECT;

  beforeAll(async () => {
    process.env.BATON_GCP_PROJECT = 'baton-proj';
    registerFunctions(() => h.deps, { maxUploadBytes: 1024 * 1024, target: 'gcp' });
    for (const name of ['verify', 'validate']) {
      const server = getTestServer(name);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      urls.set(name, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    if (previousProject === undefined) delete process.env.BATON_GCP_PROJECT;
    else process.env.BATON_GCP_PROJECT = previousProject;
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it("a Cloud Tasks request's lines carry the function and the request's trace", async () => {
    const res = await fetch(urls.get('verify') ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cloud-trace-context': `${TRACE_ID}/1;o=1` },
      body: JSON.stringify({ type: 'not-a-poll' }),
    });
    expect(res.status).toBe(204);
    expect(entries()).toContainEqual(
      expect.objectContaining({
        severity: 'WARNING',
        function: 'verify',
        message: expect.stringContaining('ignoring a malformed task'),
        'logging.googleapis.com/trace': `projects/baton-proj/traces/${TRACE_ID}`,
      }),
    );
  });

  it("a stage's transient failure is logged with its deployment, stage and the CloudEvent's trace", async () => {
    await h.job('d2');
    // The stage commits, then its hand-off fails: a transient error, so the trigger must retry.
    h.bus.failNext = 1;
    const res = await fetch(urls.get('validate') ?? '', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': '1',
        'ce-specversion': '1.0',
        'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
        'ce-source': '//pubsub.googleapis.com/projects/p/topics/baton-deployment-requested',
        'ce-traceparent': `00-${TRACE_ID}-00f067aa0ba902b7-01`,
      },
      body: JSON.stringify({
        message: {
          data: Buffer.from(JSON.stringify(stageEvent('deployment.requested.v1', 'd2', 'now'))).toString('base64'),
          messageId: '1',
        },
      }),
    });
    expect(res.status).toBe(500);
    const all = entries();
    const retry = all.find((e) => String(e.message).startsWith('Transient error, will retry'));
    expect(retry).toMatchObject({
      severity: 'WARNING',
      deployment_id: 'd2',
      stage: 'validating',
      function: 'validate',
      'logging.googleapis.com/trace': `projects/baton-proj/traces/${TRACE_ID}`,
    });
    expect(all.find((e) => e.severity === 'ERROR')).toMatchObject({ function: 'validate', deployment_id: 'd2' });
  });
});
