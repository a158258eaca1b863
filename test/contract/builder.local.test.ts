import { readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTarGz, sha256File, walkTree } from '../../shared/adapters/local/archive.js';
import { CTIME_SLACK_MS, type Packed } from '../../shared/adapters/local/unpacked.js';
import type { Artifact } from '../../shared/domain/job.js';
import { localBuilder } from '../support/local-builder.js';
import { type BuilderHarness, builderContract } from './suites/builder.suite.js';
import { TempDirs, waitFor, writeFiles } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

const CAPS = { maxBytes: 50 * 1024 * 1024, maxFiles: 10_000 };

async function localHarness(keepBuilt?: (artifact: Artifact, dir: string, packed: Packed) => Promise<void>): Promise<BuilderHarness> {
  const root = temp.make('builder');
  const { blobs, logs, builder, notifications, upload, stop } = localBuilder(root, CAPS, { keepBuilt });
  let n = 0;
  return {
    builder,
    notifications,
    uploadSource: (dir) => upload(dir, `sources/contract/${++n}.tar.gz`),
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
      await stop();
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
