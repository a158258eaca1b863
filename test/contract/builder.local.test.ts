import { readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTarGz, listSource, packTarGz, sha256File, walkTree } from '../../shared/adapters/local/archive.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalBuilder } from '../../shared/adapters/local/builder.js';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.js';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import { CTIME_SLACK_MS, type Packed } from '../../shared/adapters/local/unpacked.js';
import type { Artifact } from '../../shared/domain/job.js';
import { TOPICS } from '../../shared/domain/topics.js';
import { DeploymentLogs } from '../../shared/pipeline/logs.js';
import { systemClock } from '../../shared/ports/clock.js';
import { type BuilderHarness, builderContract, parseBuildNotification } from './suites/builder.suite.js';
import { TempDirs, waitFor, writeFiles } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

const CAPS = { maxBytes: 50 * 1024 * 1024, maxFiles: 10_000 };

async function localHarness(keepBuilt?: (artifact: Artifact, dir: string, packed: Packed) => Promise<void>): Promise<BuilderHarness> {
  const root = temp.make('builder');
  const blobs = new FolderBlobStore(join(root, 'blobs'));
  const bus = new LocalEventBus(null);
  const logs = new DeploymentLogs(blobs, new LocalJobStore(null), systemClock, 50);
  const builder = new LocalBuilder({
    blobs,
    bus,
    logs,
    workDir: join(root, 'work'),
    cacheDir: join(root, 'cache'),
    caps: CAPS,
    timeoutMs: 60_000,
    stateDir: null,
    keepBuilt,
  });
  const notifications: BuilderHarness['notifications'] = [];
  bus.subscribe(
    'contract-collector',
    TOPICS.builds,
    async (m) => void notifications.push({ build: parseBuildNotification(m.data), attributes: m.attributes }),
    { maxAttempts: 1, minBackoffMs: 10, maxBackoffMs: 10 },
  );
  let n = 0;
  return {
    builder,
    notifications,
    async uploadSource(dir) {
      const { files } = await listSource(dir, CAPS);
      const out = join(root, `source-${n++}.tar.gz`);
      await packTarGz(dir, files, out);
      const key = `sources/contract/${n}.tar.gz`;
      await blobs.put(key, await readFile(out));
      await rm(out);
      return key;
    },
    async storedDigest(image) {
      return `sha256:${await sha256File(blobs.pathOf(image.name))}`;
    },
    async artifactFile(image, path) {
      const dest = join(root, `unpacked-${n++}`);
      await extractTarGz(blobs.pathOf(image.name), dest, CAPS);
      return readFile(join(dest, path), 'utf8').catch(() => null);
    },
    async readLog(agentId, deploymentId) {
      return (await logs.read(agentId, deploymentId)) ?? '';
    },
    async cleanup() {
      await builder.stop();
      await bus.idle();
      bus.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

builderContract('LocalBuilder', () => localHarness());

describe('LocalBuilder: what it hands the runtime', () => {
  it('offers the folder it packed, with the artifact, before it reports SUCCESS; no prune without devDependencies', async () => {
    const offered: { artifact: Artifact; files: string[]; before: number; packed: Packed; newest_ctime: number }[] = [];
    let h: BuilderHarness | null = null;
    h = await localHarness(async (artifact, dir, packed) => {
      offered.push({
        artifact,
        files: readdirSync(dir).sort(),
        before: h?.notifications.filter((n) => n.build.status === 'SUCCESS').length ?? -1,
        packed,
        newest_ctime: Math.max(...(await walkTree(dir)).map((e) => e.info.ctimeMs)),
      });
    });
    try {
      const src = writeFiles(temp.make('src'), {
        // A dependency, so there is a node_modules that a prune would walk.
        'package.json': JSON.stringify({
          name: 'offered',
          version: '1.0.0',
          scripts: { start: 'node server.js' },
          dependencies: { dep: 'file:dep' },
        }),
        'dep/package.json': JSON.stringify({ name: 'dep', version: '1.0.0' }),
        'server.js': '// nothing\n',
      });
      const { build_id } = await h.builder.submit({
        deployment_id: 'd-offer',
        agent_id: 'offer',
        source_key: await h.uploadSource(src),
        tags: [],
        substitutions: {},
      });
      const done = await waitFor(
        'SUCCESS',
        () => h?.notifications.find((n) => n.build.id === build_id && n.build.status === 'SUCCESS'),
        30_000,
      );
      const image = done.build.results?.images?.[0];
      expect(offered).toEqual([
        {
          artifact: { ref: image?.name, digest: image?.digest },
          files: expect.arrayContaining(['package.json', 'server.js']),
          before: 0,
          packed: {
            entries: expect.arrayContaining(['package.json', 'server.js', 'node_modules/dep']),
            since_ms: expect.any(Number),
          },
          newest_ctime: expect.any(Number),
        },
      ]);
      // Listed once the build's own writes were older than the slack: the runtime can adopt the folder.
      expect(offered[0].newest_ctime).toBeLessThan(offered[0].packed.since_ms - CTIME_SLACK_MS);
      expect(await h.readLog('offer', 'd-offer')).not.toContain('prune');
    } finally {
      await h.cleanup();
    }
  });
});
