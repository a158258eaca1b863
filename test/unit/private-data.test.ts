import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../shared/domain/errors.js';
import { buildTag } from '../../shared/domain/events.js';
import { REDACTED, splitPrivate } from '../../shared/domain/job.js';
import { DeploymentRequestSchema, type Source } from '../../shared/domain/request.js';
import { startBuild } from '../../shared/pipeline/build.js';
import { onBuildNotification } from '../../shared/pipeline/build-events.js';
import { deployRevision } from '../../shared/pipeline/deploy.js';
import { prepareSource } from '../../shared/pipeline/prepare-source.js';
import { acceptDeployment } from '../../shared/pipeline/requests.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { harness } from '../support/fakes.js';

/**
 * Env values and git credentials never reach the job document (which its owner's clients read
 * through firestore.rules): they go to the job's private document, and the stages that need them
 * read them back through JobStore.getPrivate.
 */
const GIT_URL = 'https://bot:ghp_s3cret@git.example.com/acme/shop.git';
const request = DeploymentRequestSchema.parse({
  agent_id: 'shop',
  source: { type: 'git', url: GIT_URL },
  env: { API_BASE: 'https://api.example.com', DB_URL: 'postgres://u:pw-9f2@db/x' },
  secrets: { STRIPE_KEY: 'stripe-key' },
});

describe('private data of a deployment', () => {
  it('the job document holds env names with redacted values and the git URL without credentials', async () => {
    const h = harness();
    const { deployment_id: id } = await acceptDeployment(h.deps, request, 'dev@example.com');
    const job = await h.jobs.get(id);
    const text = JSON.stringify(job);
    for (const secret of ['pw-9f2', 'api.example.com', 'ghp_s3cret']) expect(text).not.toContain(secret);
    expect(job?.request.env).toEqual({ API_BASE: REDACTED, DB_URL: REDACTED });
    expect(job?.request.source).toMatchObject({ type: 'git', url: 'https://git.example.com/acme/shop.git' });
    // Secret Manager references are names: they stay.
    expect(job?.request.secrets).toEqual({ STRIPE_KEY: 'stripe-key' });
    expect(job?.private_ref).toBe(id);
    expect(await h.jobs.getPrivate(id)).toEqual({ env: request.env, source_url: GIT_URL });
  });

  it('the stages still get them: the clone uses the credentialed URL, the revision the real env values', async () => {
    const h = harness();
    const seen: Source[] = [];
    const fake = h.sources;
    h.deps.sources = {
      check: () => fake.check(),
      inspect: () => fake.inspect(),
      prepare: (input) => {
        seen.push(input.source);
        return fake.prepare(input);
      },
    };
    const { deployment_id: id } = await acceptDeployment(h.deps, request);
    await validateDeployment(h.deps, id);
    await prepareSource(h.deps, id);
    expect(seen).toEqual([{ type: 'git', url: GIT_URL, ref: 'main' }]);
    await startBuild(h.deps, id);
    const buildId = (await h.jobs.get(id))?.build_id ?? '';
    await onBuildNotification(h.deps, {
      id: buildId,
      status: 'SUCCESS',
      tags: [buildTag(id)],
      substitutions: { _DEPLOYMENT_ID: id },
      results: { images: [{ name: 'art', digest: 'sha256:abc' }] },
    });
    await deployRevision(h.deps, id);
    expect(h.runtime.deployed[0]?.env).toMatchObject(request.env);
  });

  it('the private document goes when the job ends (here: failed in preparing), not before', async () => {
    const h = harness();
    const { deployment_id: id } = await acceptDeployment(h.deps, request);
    expect(await h.jobs.getPrivate(id)).not.toBeNull();
    h.sources.failures.push(new PermanentError('no such repository'));
    await validateDeployment(h.deps, id).catch(() => undefined);
    await prepareSource(h.deps, id).catch(() => undefined);
    const job = await h.jobs.get(id);
    expect(job?.status).toBe('failed');
    expect(job?.private_ref).toBeNull();
    expect(await h.jobs.getPrivate(id)).toBeNull();
  });

  it('an empty env value is not mistaken for a plain-text secret by validation', async () => {
    const h = harness();
    const req = DeploymentRequestSchema.parse({ agent_id: 'shop', environment: 'production', env: { API_TOKEN: '' } });
    const { deployment_id: id } = await acceptDeployment(h.deps, req);
    await validateDeployment(h.deps, id);
    expect((await h.jobs.get(id))?.status).toBe('validating');
  });

  it('a job whose private document is gone fails at deploy with what to do, never deploys redacted values', async () => {
    const h = harness();
    const { deployment_id: id } = await acceptDeployment(h.deps, { ...request, source: { type: 'config' } });
    await validateDeployment(h.deps, id);
    await prepareSource(h.deps, id);
    await startBuild(h.deps, id);
    const buildId = (await h.jobs.get(id))?.build_id ?? '';
    await onBuildNotification(h.deps, {
      id: buildId,
      status: 'SUCCESS',
      tags: [buildTag(id)],
      substitutions: { _DEPLOYMENT_ID: id },
      results: { images: [{ name: 'art', digest: 'sha256:abc' }] },
    });
    await h.jobs.update(id, (j) => ({ ...j, private_ref: 'gone' }));
    await deployRevision(h.deps, id);
    expect(h.runtime.deployed).toEqual([]);
    expect(await h.jobs.get(id)).toMatchObject({ status: 'failed', failed_stage: 'deploying' });
    expect((await h.jobs.get(id))?.error_message).toMatch(/private data .* is missing\. Deploy again/);
  });

  it('a request with nothing private stays as it is and has no private document', () => {
    const plain = DeploymentRequestSchema.parse({ agent_id: 'shop', source: { type: 'git', url: 'https://git.example.com/a.git' } });
    expect(splitPrivate(plain)).toEqual({ request: plain, private: null });
  });
});
