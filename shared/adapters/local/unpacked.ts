import { createHash, randomUUID } from 'node:crypto';
import { chmod, mkdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact } from '../../domain/job.js';
import { extractTarGz, sha256File, walkTree } from './archive.js';
import type { FolderBlobStore } from './blob-store.js';

export type Prepared =
  | { dir: string; fingerprint: string; unpacked_ms: number; warning: string | null }
  | { refused: string; warning: string | null };

/**
 * One extracted, read-only copy of each artifact, shared by every revision of that digest and
 * reused across starts, so a start unpacks nothing when the artifact has not changed.
 *
 * A copy is never run unverified: at extraction (after the artifact's sha256 is checked) Baton
 * records its fingerprint — every entry's path, kind, mode, size, link target, inode, mtime and
 * ctime — and checks it again before every start. Any write, chmod, rename or utimes changes the
 * ctime, which no unprivileged process can set back, so a mismatch means the copy was touched: it
 * is unpacked again from the artifact. The fingerprints are kept by the caller (in Baton's own
 * 0600 state), never inside the copy.
 */
export class UnpackedCopies {
  private readonly inflight = new Map<string, Promise<Prepared>>();

  constructor(
    private readonly root: string,
    private readonly blobs: FolderBlobStore,
  ) {}

  dirOf(digest: string): string {
    return join(this.root, digest.replace(/^sha256:/, ''));
  }

  /** The verified copy of `artifact` (unpacked when missing or changed), or why it is refused. */
  prepare(artifact: Artifact, recorded: string | null): Promise<Prepared> {
    const running = this.inflight.get(artifact.digest);
    if (running) return running;
    const work = this.prepareIn(artifact, recorded).finally(() => this.inflight.delete(artifact.digest));
    this.inflight.set(artifact.digest, work);
    return work;
  }

  private async prepareIn(artifact: Artifact, recorded: string | null): Promise<Prepared> {
    const began = performance.now();
    const dir = this.dirOf(artifact.digest);
    let warning: string | null = null;
    if (await stat(dir).catch(() => null)) {
      if (recorded !== null && (await fingerprint(dir)) === recorded) {
        return { dir, fingerprint: recorded, unpacked_ms: 0, warning: null };
      }
      const why = recorded === null ? 'has no recorded fingerprint' : 'was modified since it was unpacked';
      warning = `baton: the unpacked copy of ${artifact.digest} (${dir}) ${why}: it is not run; unpacking it again from the verified artifact`;
      await removeCopy(dir);
    }
    const file = this.blobs.pathOf(artifact.ref);
    const digest = `sha256:${await sha256File(file)}`;
    if (digest !== artifact.digest) {
      return {
        refused: `its artifact ${artifact.ref} does not match the digest recorded at build time (${artifact.digest}, found ${digest}): it was modified, so the revision is not run. Deploy again to build a fresh artifact`,
        warning,
      };
    }
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    const tmp = `${dir}.${randomUUID()}.tmp`;
    try {
      await extractTarGz(file, tmp, { maxBytes: Number.MAX_SAFE_INTEGER, maxFiles: Number.MAX_SAFE_INTEGER });
      await makeReadOnly(tmp);
      await rename(tmp, dir);
    } catch (err) {
      await removeCopy(tmp);
      throw err;
    }
    return { dir, fingerprint: await fingerprint(dir), unpacked_ms: Math.round(performance.now() - began), warning };
  }

  /** Removes the copy of `digest` (no revision uses it any more). */
  remove(digest: string): Promise<void> {
    return removeCopy(this.dirOf(digest));
  }
}

/** Every entry's path, kind, mode, size, link target, inode, mtime and ctime, hashed. */
export async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const top = await stat(dir);
  hash.update(`. ${top.mode} ${top.ino} ${top.mtimeMs} ${top.ctimeMs}\n`);
  for (const { rel, full, info } of await walkTree(dir)) {
    const link = info.isSymbolicLink() ? await readlink(full) : '';
    hash.update(`${rel}\0${info.mode} ${info.size} ${info.ino} ${info.mtimeMs} ${info.ctimeMs} ${link}\n`);
  }
  return hash.digest('hex');
}

/**
 * Files lose their write bits and become readable by all (executables stay executable); folders
 * become 0755: only their owner, Baton's user, may change them, and removing a copy needs nothing
 * more than rm. A revision running as nobody can write nothing in the copy; one running as Baton's
 * own user could, and the fingerprint catches it.
 */
async function makeReadOnly(dir: string): Promise<void> {
  for (const { full, info } of await walkTree(dir)) {
    if (info.isDirectory()) await chmod(full, 0o755);
    else if (info.isFile()) await chmod(full, (info.mode & 0o555) | 0o444);
  }
  await chmod(dir, 0o755);
}

function removeCopy(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
