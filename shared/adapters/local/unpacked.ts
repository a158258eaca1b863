import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmod, mkdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { list } from 'tar';
import type { Artifact } from '../../domain/job.js';
import { extractTarGz, sha256File, walkTree } from './archive.js';
import type { FolderBlobStore } from './blob-store.js';
import { SYSTEM_PATH } from './revision-env.js';

const execFileAsync = promisify(execFile);

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
  /** Builds' folders being taken as copies (see adopt): a start of that digest waits for it. */
  private readonly adopting = new Map<string, Promise<string | null>>();

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

  private async prepareIn(artifact: Artifact, known: string | null): Promise<Prepared> {
    const adopted = await this.adopting.get(artifact.digest)?.catch(() => null);
    const recorded = adopted ?? known;
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
      await extract(file, tmp);
      const outside = await makeReadOnly(tmp);
      if (outside) {
        await removeCopy(tmp);
        return { refused: `its artifact ${artifact.ref} holds ${outside}, so the revision is not run`, warning };
      }
      await rename(tmp, dir);
    } catch (err) {
      await removeCopy(tmp);
      throw err;
    }
    return { dir, fingerprint: await fingerprint(dir), unpacked_ms: Math.round(performance.now() - began), warning };
  }

  /**
   * Takes the folder a build just packed as `artifact` for its copy, instead of unpacking the
   * artifact again later (for a large node_modules, creating its files a second time is most of
   * a deployment's overhead over `npm ci && npm start`). Only an exact match is taken: every entry
   * of the archive there with its kind, size, executable bit and link target; what the archive does
   * not hold (a skipped .git, an empty folder) is removed first. Anything else, or a copy already
   * there, leaves the folder where it is and returns null: the artifact is unpacked at the start.
   */
  adopt(artifact: Artifact, built: string): Promise<string | null> {
    if (this.inflight.has(artifact.digest) || this.adopting.has(artifact.digest)) return Promise.resolve(null);
    const work = this.adoptIn(artifact, built);
    this.adopting.set(artifact.digest, work);
    return work.finally(() => this.adopting.delete(artifact.digest));
  }

  private async adoptIn(artifact: Artifact, built: string): Promise<string | null> {
    const dir = this.dirOf(artifact.digest);
    if (await stat(dir).catch(() => null)) return null;
    const entries = await archiveEntries(this.blobs.pathOf(artifact.ref));
    if (!entries || !(await matchesArchive(built, entries))) return null;
    if (await makeReadOnly(built)) return null;
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    await rename(built, dir);
    return fingerprint(dir);
  }

  /** Removes the copy of `digest` (no revision uses it any more). */
  remove(digest: string): Promise<void> {
    return removeCopy(this.dirOf(digest));
  }
}

interface ArchiveEntry {
  kind: 'file' | 'dir' | 'link';
  size: number;
  exec: boolean;
  link: string;
}

/** The entries of a .tar.gz by path (folders implied by a path inside them included), or null for one it cannot compare. */
async function archiveEntries(file: string): Promise<Map<string, ArchiveEntry> | null> {
  const out = new Map<string, ArchiveEntry>();
  let comparable = true;
  await list({
    file,
    onReadEntry: (e) => {
      const path = e.path.replace(/^\.\//, '').replace(/\/+$/, '');
      const kind =
        e.type === 'File' || e.type === 'OldFile' ? 'file' : e.type === 'Directory' ? 'dir' : e.type === 'SymbolicLink' ? 'link' : null;
      if (!kind || path === '' || path.split('/').includes('..')) comparable = false;
      else out.set(path, { kind, size: kind === 'file' ? (e.size ?? 0) : 0, exec: ((e.mode ?? 0) & 0o111) !== 0, link: e.linkpath ?? '' });
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const up = parts.slice(0, i).join('/');
        if (!out.has(up)) out.set(up, { kind: 'dir', size: 0, exec: true, link: '' });
      }
    },
  });
  return comparable ? out : null;
}

/** Whether `dir`, once what the archive does not hold is removed from it, holds exactly `entries`. */
async function matchesArchive(dir: string, entries: Map<string, ArchiveEntry>): Promise<boolean> {
  let seen = 0;
  const removed: string[] = [];
  for (const { rel, full, info } of await walkTree(dir)) {
    if (removed.some((r) => rel.startsWith(`${r}/`))) continue;
    const want = entries.get(rel);
    if (!want) {
      await rm(full, { recursive: true, force: true });
      removed.push(rel);
      continue;
    }
    seen++;
    const kind = info.isDirectory() ? 'dir' : info.isFile() ? 'file' : info.isSymbolicLink() ? 'link' : null;
    if (kind !== want.kind) return false;
    if (kind === 'file' && (info.size !== want.size || ((info.mode & 0o111) !== 0) !== want.exec)) return false;
    if (kind === 'link' && (await readlink(full)) !== want.link) return false;
  }
  return seen === entries.size;
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
 * Unpacks an artifact Baton built. The system's tar, where there is one, does it several times
 * faster than node-tar for a node_modules of thousands of small files (GNU tar strips leading `/`,
 * refuses `..` and creates links last, so no entry is written through a link); makeReadOnly then
 * refuses what it must not hold. Without a working tar, node-tar does it.
 */
async function extract(file: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  try {
    await execFileAsync('tar', ['-xzf', file, '-C', dest, '--no-same-owner'], { env: { PATH: SYSTEM_PATH, LC_ALL: 'C' } });
    return;
  } catch {
    await rm(dest, { recursive: true, force: true });
  }
  await extractTarGz(file, dest, { maxBytes: Number.MAX_SAFE_INTEGER, maxFiles: Number.MAX_SAFE_INTEGER });
}

/**
 * Files lose their write bits and become readable by all (executables stay executable); folders
 * become 0755: only their owner, Baton's user, may change them, and removing a copy needs nothing
 * more than rm. A revision running as nobody can write nothing in the copy; one running as Baton's
 * own user could, and the fingerprint catches it. Returns what the copy must not hold (a link
 * whose target is outside it, a device or a pipe), or null.
 */
async function makeReadOnly(dir: string): Promise<string | null> {
  for (const { rel, full, info } of await walkTree(dir)) {
    if (info.isDirectory()) await chmod(full, 0o755);
    else if (info.isFile()) await chmod(full, (info.mode & 0o555) | 0o444);
    else if (info.isSymbolicLink()) {
      const target = await readlink(full);
      const to = resolve(dirname(full), target);
      if (to !== dir && !to.startsWith(`${dir}${sep}`)) return `a link out of it (${rel} -> ${target})`;
    } else return `an entry that is neither a file, a folder nor a link (${rel})`;
  }
  await chmod(dir, 0o755);
  return null;
}

function removeCopy(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
