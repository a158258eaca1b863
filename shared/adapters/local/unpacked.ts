import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { list } from 'tar';
import type { Artifact } from '../../domain/job.js';
import { chownTree, extractTarGz, sha256File, walkTree } from './archive.js';
import type { FolderBlobStore } from './blob-store.js';
import { SYSTEM_PATH } from './revision-env.js';

const execFileAsync = promisify(execFile);

export type Prepared =
  | { dir: string; fingerprint: string; unpacked_ms: number; warning: string | null; claimed: boolean }
  | { refused: string; warning: string | null };

/**
 * A revision's own folder, made from its artifact before the start-up clock starts, and verified
 * before every start. It is writable (Cloud Run's container filesystem is: `nest start` compiles
 * into dist/, Next.js writes its cache), so it is the revision's alone, never shared.
 *
 * The folder is never run unverified: once made (after the artifact's sha256 is checked) Baton
 * records its fingerprint — every entry's path, kind, mode, size, link target, inode, mtime and
 * ctime — and checks it again at the next start. Any write, chmod, rename or utimes changes a
 * ctime, which no unprivileged process can set back, so a mismatch means the folder was touched
 * (by hand, or by the revision itself): it is made again from the artifact. Fingerprints are kept
 * by the caller (in Baton's own 0600 state), never inside the folder.
 *
 * A build's own folder, once packed, is parked under `root` by artifact digest when it matches
 * the archive exactly (adopt), and the first revision of that digest takes it instead of
 * unpacking: for a large node_modules, creating its files a second time is most of a
 * deployment's overhead over `npm ci && npm start`.
 */
export class UnpackedCopies {
  /** Parked build folders being checked (see adopt): a start of that digest waits for it. */
  private readonly adopting = new Map<string, Promise<string | null>>();
  /** The last change queued on each digest's parked folder (see serially). */
  private readonly queued = new Map<string, Promise<unknown>>();

  constructor(
    private readonly root: string,
    private readonly blobs: FolderBlobStore,
  ) {}

  /** Where a build's folder for `digest` is parked. */
  dirOf(digest: string): string {
    return join(this.root, digest.replace(/^sha256:/, ''));
  }

  /**
   * `dir` holding exactly the verified `artifact`: kept when its fingerprint is `recorded`, else
   * the parked build folder (fingerprint `parked`) moved there, else the artifact unpacked there;
   * given to `owner` when there is one. Or why it is refused.
   */
  async prepare(
    artifact: Artifact,
    dir: string,
    recorded: string | null,
    parked: string | null,
    owner: { uid: number; gid: number } | null,
  ): Promise<Prepared> {
    const adopted = await this.adopting.get(artifact.digest)?.catch(() => null);
    const parkedFp = adopted ?? parked;
    const began = performance.now();
    let warning: string | null = null;
    if (await stat(dir).catch(() => null)) {
      if (recorded !== null && (await fingerprint(dir)) === recorded) {
        return { dir, fingerprint: recorded, unpacked_ms: 0, warning: null, claimed: false };
      }
      const why = recorded === null ? 'has no recorded fingerprint' : 'was modified since it was unpacked';
      warning = `baton: the folder ${dir} ${why}: it is not run; unpacking it again from the verified artifact`;
      await rm(dir, { recursive: true, force: true });
    }
    await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
    // A claimed folder's entries were just checked: only its top changed with the move.
    const moved = parkedFp !== null ? await this.claim(artifact.digest, parkedFp, dir) : null;
    const claimed = moved !== null;
    if (!claimed) {
      const file = this.blobs.pathOf(artifact.ref);
      const digest = `sha256:${await sha256File(file)}`;
      if (digest !== artifact.digest) {
        return {
          refused: `its artifact ${artifact.ref} does not match the digest recorded at build time (${artifact.digest}, found ${digest}): it was modified, so the revision is not run. Deploy again to build a fresh artifact`,
          warning,
        };
      }
      const tmp = `${dir}.${randomUUID()}.tmp`;
      try {
        await extract(file, tmp);
        const outside = await refusedEntry(tmp);
        if (outside) {
          await rm(tmp, { recursive: true, force: true });
          return { refused: `its artifact ${artifact.ref} holds ${outside}, so the revision is not run`, warning };
        }
        await rename(tmp, dir);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    }
    if (owner) await chownTree(dir, owner.uid, owner.gid);
    const fp = moved && !owner ? await withTop(dir, moved) : await fingerprint(dir);
    return { dir, fingerprint: fp, unpacked_ms: Math.round(performance.now() - began), warning, claimed };
  }

  /**
   * Moves the parked build folder of `digest` to `dir` if it is still as it was parked, and returns
   * the digest of its entries (see fingerprint), or null. Revisions of one digest starting at once
   * race for it: one takes it, the others (their check or rename failing as it moves) unpack the artifact.
   */
  private claim(digest: string, parked: string, dir: string): Promise<string | null> {
    return this.serially(digest, () => this.claimIn(digest, parked, dir));
  }

  private async claimIn(digest: string, parked: string, dir: string): Promise<string | null> {
    const from = this.dirOf(digest);
    try {
      const inside = await entriesDigest(from);
      if ((await withTop(from, inside)) !== parked) return null;
      await rename(from, dir);
      return inside;
    } catch {
      return null;
    }
  }

  /**
   * Parks the folder a build just packed as `artifact`, if it holds exactly the archive's entries
   * (with their kind, size, executable bit and link target) once what the archive does not hold
   * (a skipped .git, an empty folder) is removed. Returns its fingerprint, or null when it was not
   * taken (the artifact is then unpacked at the start). With `packed` (what the builder packed, and
   * since when nothing was changed) the archive is not read back: see matchesPacked.
   */
  adopt(artifact: Artifact, built: string, packed?: Packed): Promise<string | null> {
    if (this.adopting.has(artifact.digest)) return Promise.resolve(null);
    const work = this.serially(artifact.digest, () => this.adoptIn(artifact, built, packed));
    this.adopting.set(artifact.digest, work);
    return work.finally(() => this.adopting.delete(artifact.digest));
  }

  private async adoptIn(artifact: Artifact, built: string, packed?: Packed): Promise<string | null> {
    const dir = this.dirOf(artifact.digest);
    if (await stat(dir).catch(() => null)) await rm(dir, { recursive: true, force: true });
    let checked: Awaited<ReturnType<typeof matchesArchive>>;
    if (packed) checked = await matchesPacked(built, packed);
    else {
      const entries = await archiveEntries(this.blobs.pathOf(artifact.ref));
      checked = entries ? await matchesArchive(built, entries) : null;
    }
    if (!checked) return null;
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await rename(built, dir);
    // Removing what the archive does not hold changed the folders it was in: walk again then.
    return checked.removed ? fingerprint(dir) : withTop(dir, checked.inside);
  }

  /** Removes the parked folder of `digest` (no revision will take it). */
  remove(digest: string): Promise<void> {
    return this.serially(digest, () => rm(this.dirOf(digest), { recursive: true, force: true }));
  }

  /**
   * Runs `work` on the parked folder of `digest` after every change queued on it before. A claim
   * checks the folder and then moves it: a second build of that digest parking its own folder
   * (which removes the old one first) between the two would have it move a half-removed folder,
   * and the revision start without its package.json (seen in the crash test's burst of identical apps).
   */
  private serially<T>(digest: string, work: () => Promise<T>): Promise<T> {
    const before = this.queued.get(digest) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => undefined);
    this.queued.set(digest, settled);
    void settled.then(() => {
      if (this.queued.get(digest) === settled) this.queued.delete(digest);
    });
    return run;
  }
}

/** What a build packed: `entries` (the archive holds those and only those), listed after `since_ms`. */
export interface Packed {
  entries: readonly string[];
  since_ms: number;
}

/**
 * Kernel file times come from a clock that may be a few milliseconds behind Date.now(): a change
 * made after `since_ms` has a ctime above `since_ms - CTIME_SLACK_MS`.
 */
export const CTIME_SLACK_MS = 10;

/**
 * Whether `dir` still holds what was packed from it, in one walk and without reading the archive
 * back: every entry packed is there (a file, folder or link; no link out of it), nothing else once
 * what was not packed is removed, and no entry changed since the listing — a write, chmod, rename
 * or truncation sets an entry's ctime, so a ctime from before `since_ms` means the packer read it
 * as it is. An entry changed too recently refuses the folder (the artifact is unpacked instead).
 */
async function matchesPacked(dir: string, packed: Packed): Promise<{ inside: string; removed: boolean } | null> {
  const names = new Set(packed.entries);
  const removed: string[] = [];
  const kept: Awaited<ReturnType<typeof walkTree>> = [];
  for (const e of await walkTree(dir)) {
    const { rel, full, info } = e;
    if (removed.some((r) => rel.startsWith(`${r}/`))) continue;
    if (!names.has(rel)) {
      await rm(full, { recursive: true, force: true });
      removed.push(rel);
      continue;
    }
    if (info.ctimeMs >= packed.since_ms - CTIME_SLACK_MS) return null;
    if (info.isSymbolicLink()) {
      if (escapes(dir, full, await readlink(full))) return null;
    } else if (!info.isDirectory() && !info.isFile()) return null;
    kept.push(e);
  }
  if (kept.length !== names.size) return null;
  return { inside: await digestOf(kept), removed: removed.length > 0 };
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

/**
 * Whether `dir`, once what the archive does not hold is removed from it, holds exactly `entries`
 * and nothing a revision's folder must not (see refusedEntry); in one walk, which also gives the
 * digest of its entries for its fingerprint. Null when it does not match.
 */
async function matchesArchive(dir: string, entries: Map<string, ArchiveEntry>): Promise<{ inside: string; removed: boolean } | null> {
  let seen = 0;
  const removed: string[] = [];
  const walked = await walkTree(dir);
  const kept: typeof walked = [];
  for (const e of walked) {
    const { rel, full, info } = e;
    if (removed.some((r) => rel.startsWith(`${r}/`))) continue;
    const want = entries.get(rel);
    if (!want) {
      await rm(full, { recursive: true, force: true });
      removed.push(rel);
      continue;
    }
    seen++;
    kept.push(e);
    const kind = info.isDirectory() ? 'dir' : info.isFile() ? 'file' : info.isSymbolicLink() ? 'link' : null;
    if (kind !== want.kind) return null;
    if (kind === 'file' && (info.size !== want.size || ((info.mode & 0o111) !== 0) !== want.exec)) return null;
    if (kind === 'link') {
      const target = await readlink(full);
      if (target !== want.link || escapes(dir, full, target)) return null;
    }
  }
  if (seen !== entries.size) return null;
  return { inside: await digestOf(kept), removed: removed.length > 0 };
}

/**
 * Every entry's path, kind, mode, size, link target, inode, mtime and ctime, hashed: the folder's
 * own line (which a move changes) over the digest of everything inside it (which a move does
 * not), so a folder just walked and then moved is fingerprinted without walking it again.
 */
export async function fingerprint(dir: string): Promise<string> {
  return withTop(dir, await entriesDigest(dir));
}

/** The fingerprint of `dir` whose entries have the digest `inside` (entriesDigest). */
async function withTop(dir: string, inside: string): Promise<string> {
  const top = await stat(dir);
  return createHash('sha256').update(`. ${top.mode} ${top.ino} ${top.mtimeMs} ${top.ctimeMs}\n${inside}`).digest('hex');
}

async function entriesDigest(dir: string): Promise<string> {
  return digestOf(await walkTree(dir));
}

async function digestOf(walked: Awaited<ReturnType<typeof walkTree>>): Promise<string> {
  const hash = createHash('sha256');
  for (const { rel, full, info } of walked) {
    const link = info.isSymbolicLink() ? await readlink(full) : '';
    hash.update(`${rel}\0${info.mode} ${info.size} ${info.ino} ${info.mtimeMs} ${info.ctimeMs} ${link}\n`);
  }
  return hash.digest('hex');
}

/**
 * Unpacks an artifact Baton built. The system's tar, where there is one, does it several times
 * faster than node-tar for a node_modules of thousands of small files (GNU tar strips leading `/`,
 * refuses `..` and creates links last, so no entry is written through a link); refusedEntry then
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

/** What a revision's folder must not hold (a link whose target is outside it, a device or a pipe), or null. */
async function refusedEntry(dir: string): Promise<string | null> {
  for (const { rel, full, info } of await walkTree(dir)) {
    if (info.isSymbolicLink()) {
      const target = await readlink(full);
      if (escapes(dir, full, target)) return `a link out of it (${rel} -> ${target})`;
    } else if (!info.isDirectory() && !info.isFile()) return `an entry that is neither a file, a folder nor a link (${rel})`;
  }
  return null;
}

/** Whether the link at `full`, inside `dir`, points out of it. */
function escapes(dir: string, full: string, target: string): boolean {
  const to = resolve(dirname(full), target);
  return to !== dir && !to.startsWith(`${dir}${sep}`);
}
