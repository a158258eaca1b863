import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Caps, listSource, packTarGz } from '../../shared/adapters/local/archive.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalBuilder } from '../../shared/adapters/local/builder.js';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.js';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import type { BuildNotification } from '../../shared/domain/events.js';
import { TOPICS } from '../../shared/domain/topics.js';
import { DeploymentLogs } from '../../shared/pipeline/logs.js';
import { systemClock } from '../../shared/ports/clock.js';
import { parseBuildNotification } from '../contract/suites/builder.suite.js';

type BuilderOptions = ConstructorParameters<typeof LocalBuilder>[0];

/**
 * A LocalBuilder on in-memory stores under `root`, with every notification it publishes collected
 * and a way to hand it a source folder as the source preparer would (packed into the blob store).
 */
export function localBuilder(root: string, caps: Caps, options: Partial<Omit<BuilderOptions, 'blobs' | 'bus' | 'logs'>> = {}) {
  const blobs = new FolderBlobStore(join(root, 'blobs'));
  const bus = new LocalEventBus(null);
  const logs = new DeploymentLogs(blobs, new LocalJobStore(null), systemClock, 50);
  const builder = new LocalBuilder({
    blobs,
    bus,
    logs,
    workDir: join(root, 'work'),
    cacheDir: join(root, 'cache'),
    caps,
    timeoutMs: 60_000,
    stateDir: null,
    ...options,
  });
  const notifications: { build: BuildNotification; attributes: Record<string, string> }[] = [];
  bus.subscribe(
    'collector',
    TOPICS.builds,
    async (m) => void notifications.push({ build: parseBuildNotification(m.data), attributes: m.attributes }),
    { maxAttempts: 1, minBackoffMs: 10, maxBackoffMs: 10 },
  );
  let n = 0;
  return {
    blobs,
    bus,
    logs,
    builder,
    notifications,
    /** The notification that ended build `id` (one of `statuses`), if it has come. */
    ended: (id: string, statuses: readonly string[]) =>
      notifications.find((x) => x.build.id === id && statuses.includes(x.build.status))?.build,
    /** Packs `src` as a source archive under `key` in the blob store. */
    async upload(src: string, key: string): Promise<string> {
      const { files } = await listSource(src, caps);
      const out = join(root, `source-${n++}.tar.gz`);
      await packTarGz(src, files, out);
      await blobs.put(key, await readFile(out));
      await rm(out);
      return key;
    },
    async stop(): Promise<void> {
      await builder.stop();
      await bus.idle();
      bus.stop();
    },
  };
}
