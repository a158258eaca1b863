import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { extractTarGz, listSource, packTarGz, sha256File } from '../../shared/adapters/local/archive.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalBuilder } from '../../shared/adapters/local/builder.js';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.js';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import { TOPICS } from '../../shared/domain/topics.js';
import { DeploymentLogs } from '../../shared/pipeline/logs.js';
import { systemClock } from '../../shared/ports/clock.js';
import { type BuilderHarness, builderContract, parseBuildNotification } from './suites/builder.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

const CAPS = { maxBytes: 50 * 1024 * 1024, maxFiles: 10_000 };

async function localHarness(): Promise<BuilderHarness> {
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
  });
  const notifications: BuilderHarness['notifications'] = [];
  bus.subscribe(
    'contract-collector',
    TOPICS.cloudBuilds,
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

builderContract('LocalBuilder', localHarness);
