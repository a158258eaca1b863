import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_TERMINAL_STATUSES, type BuildNotification, BuildNotificationSchema } from '../../../shared/domain/events.js';
import type { Builder, BuildSpec } from '../../../shared/ports/index.js';
import { isRunning, sleep, TempDirs, waitFor, writeFiles } from './util.js';

/**
 * The Builder contract (Cloud Build): `submit` returns at once and every state change arrives as
 * a notification on the `baton-builds` topic, which the build-events function correlates by tags
 * and substitutions.
 *
 * What the local adapter does NOT prove about the real service: LocalBuilder runs npm natively on
 * this machine and publishes its notifications itself, in order, through an in-process bus; Cloud
 * Build runs a cloudbuild.yaml in a container, may publish notifications late, twice or out of
 * order (consumers must tolerate that, this suite only checks the order the local builder gives),
 * reports image digests from Artifact Registry rather than a blob's sha256, and cancels through
 * its API with its own latency. The local build's PID check has no Cloud Build equivalent.
 */

export interface BuilderHarness {
  builder: Builder;
  /** Notifications received on the baton-builds topic, in arrival order, with their attributes. */
  notifications: { build: BuildNotification; attributes: Record<string, string> }[];
  /** Stores a source folder as a .tar.gz where the builder reads sources; returns its key. */
  uploadSource(dir: string): Promise<string>;
  /** The digest ("sha256:<hex>") of the stored artifact a result image names, computed from its bytes. */
  storedDigest(image: { name: string; digest: string }): Promise<string>;
  /** One file from inside the built artifact, or null. */
  artifactFile(image: { name: string; digest: string }, path: string): Promise<string | null>;
  /** The deployment's build log so far. */
  readLog(agentId: string, deploymentId: string): Promise<string>;
  cleanup(): Promise<void>;
}

const PKG = (scripts: Record<string, string>) =>
  JSON.stringify({ name: 'contract-build', version: '1.0.0', private: true, scripts: { start: 'node server.js', ...scripts } });
const SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));\n";

/** Every file under `dir` with a hash of its content: to prove nothing was written there. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const isTerminal = (s: string) => (BUILD_TERMINAL_STATUSES as readonly string[]).includes(s);

export function builderContract(name: string, makeHarness: () => Promise<BuilderHarness>): void {
  describe(`Builder contract: ${name}`, () => {
    const temp = new TempDirs();
    let h: BuilderHarness | null = null;
    const open = async () => {
      h = await makeHarness();
      return h;
    };
    afterEach(async () => {
      await h?.cleanup();
      h = null;
      temp.removeAll();
    });

    const specFor = (sourceKey: string, id: string): BuildSpec => ({
      deployment_id: id,
      agent_id: 'agent-build',
      source_key: sourceKey,
      tags: [`baton-${id}`, 'agent-build'],
      substitutions: { _DEPLOYMENT_ID: id, _AGENT_ID: 'agent-build' },
    });

    const notesOf = (harness: BuilderHarness, buildId: string) => harness.notifications.filter((n) => n.build.id === buildId);
    const finished = (harness: BuilderHarness, buildId: string, timeoutMs = 30_000) =>
      waitFor(`build ${buildId} to finish`, () => notesOf(harness, buildId).find((n) => isTerminal(n.build.status)), timeoutMs);

    it('builds a source: QUEUED, WORKING, SUCCESS with the artifact digest, tags and substitutions echoed', async () => {
      const harness = await open();
      const src = writeFiles(temp.make('build-src'), {
        'package.json': PKG({
          build:
            "node -e \"require('fs').mkdirSync('dist',{recursive:true});require('fs').writeFileSync('dist/built.txt','made by build');console.log('build step ran')\"",
        }),
        'server.js': SERVER,
      });
      const before = snapshot(src);
      const sourceKey = await harness.uploadSource(src);
      const spec = specFor(sourceKey, 'dep-ok');
      const { build_id, log_url } = await harness.builder.submit(spec);
      expect(build_id).toEqual(expect.any(String));
      expect(log_url.length).toBeGreaterThan(0);

      await finished(harness, build_id);
      const notes = notesOf(harness, build_id);
      expect(notes.map((n) => n.build.status)).toEqual(['QUEUED', 'WORKING', 'SUCCESS']);
      for (const n of notes) {
        expect(n.build.tags).toEqual(spec.tags);
        expect(n.build.substitutions).toEqual(spec.substitutions);
        expect(n.attributes).toMatchObject({ buildId: build_id, status: n.build.status });
      }
      const success = notes[2].build;
      expect(success.finishTime).toEqual(expect.any(String));
      expect(notes[0].build.finishTime).toBeUndefined();
      const image = success.results?.images[0];
      expect(image?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      if (!image) throw new Error('no image in the SUCCESS notification');
      expect(await harness.storedDigest(image)).toBe(image.digest);
      expect(await harness.artifactFile(image, 'dist/built.txt')).toBe('made by build');
      expect(await harness.artifactFile(image, 'server.js')).toBe(SERVER);
      await waitFor('the build output in the log', async () =>
        (await harness.readLog(spec.agent_id, spec.deployment_id)).includes('build step ran'),
      );

      // The source folder is untouched: no build output, no lock file, no node_modules.
      expect(snapshot(src)).toEqual(before);
      // Cancelling a finished build publishes nothing more.
      await harness.builder.cancel(build_id);
      await sleep(100);
      expect(notesOf(harness, build_id)).toHaveLength(3);
    });

    it('a failing build script: QUEUED, WORKING, FAILURE with the script output in failureInfo.detail', async () => {
      const harness = await open();
      const src = writeFiles(temp.make('fail-src'), {
        'package.json': PKG({
          build:
            "node -e \"console.log('compiling 3 files');console.error('error TS2322: Type string is not assignable');process.exit(2)\"",
        }),
        'server.js': SERVER,
      });
      const before = snapshot(src);
      const { build_id } = await harness.builder.submit(specFor(await harness.uploadSource(src), 'dep-fail'));
      const final = await finished(harness, build_id);
      expect(notesOf(harness, build_id).map((n) => n.build.status)).toEqual(['QUEUED', 'WORKING', 'FAILURE']);
      expect(final.build.failureInfo?.detail).toContain('error TS2322: Type string is not assignable');
      expect(final.build.results?.images ?? []).toEqual([]);
      expect(final.build.tags).toEqual(['baton-dep-fail', 'agent-build']);
      expect(snapshot(src)).toEqual(before);
    });

    it('a source that is not a Node service fails the build', async () => {
      const harness = await open();
      const src = writeFiles(temp.make('empty-src'), { 'README.md': '# nothing to build\n' });
      const { build_id } = await harness.builder.submit(specFor(await harness.uploadSource(src), 'dep-empty'));
      const final = await finished(harness, build_id);
      expect(final.build.status).toBe('FAILURE');
      expect(final.build.failureInfo?.detail).toEqual(expect.any(String));
    });

    it('cancel during a slow build: CANCELLED, promptly, and the build process is gone', async () => {
      const harness = await open();
      const src = writeFiles(temp.make('slow-src'), {
        'package.json': PKG({ build: 'node -e "console.log(\'slow build pid=\' + process.pid);setTimeout(() => {}, 30000)"' }),
        'server.js': SERVER,
      });
      const spec = specFor(await harness.uploadSource(src), 'dep-slow');
      const { build_id } = await harness.builder.submit(spec);
      const log = await waitFor(
        'the slow build step to start',
        async () => {
          const text = await harness.readLog(spec.agent_id, spec.deployment_id);
          return /slow build pid=\d+/.test(text) ? text : undefined;
        },
        20_000,
      );
      const pid = Number(/slow build pid=(\d+)/.exec(log)?.[1]);
      expect(isRunning(pid)).toBe(true);
      const cancelledAt = Date.now();
      await harness.builder.cancel(build_id);
      const final = await finished(harness, build_id, 15_000);
      expect(final.build.status).toBe('CANCELLED');
      expect(Date.now() - cancelledAt).toBeLessThan(15_000);
      expect(notesOf(harness, build_id).map((n) => n.build.status)).toEqual(['QUEUED', 'WORKING', 'CANCELLED']);
      await waitFor('the build process to be gone', () => !isRunning(pid), 5000);
    });

    it('cancel of an unknown build changes nothing', async () => {
      const harness = await open();
      await harness.builder.cancel('no-such-build');
      expect(harness.notifications).toEqual([]);
    });
  });
}

/** Parses one build notification's body; throws when it is not a build resource. */
export function parseBuildNotification(data: Buffer): BuildNotification {
  return BuildNotificationSchema.parse(JSON.parse(data.toString('utf8')));
}
