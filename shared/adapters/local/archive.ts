import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, type Stats } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { extract, Pack } from 'tar';
import { PermanentError } from '../../domain/errors.js';
import { classifyFsError, codeOf } from './fs-util.js';
import { loadIgnoreRules } from './ignore-rules.js';

export interface Caps {
  maxBytes: number;
  maxFiles: number;
}

/** How many lstat calls a walk has in flight at once within one folder (libuv runs four at a time). */
const STAT_BATCH = 64;

/** Folders a source copy never takes: dependencies are installed by the build, and VCS data is not source. */
export const SKIPPED = new Set(['node_modules', '.git', '.baton']);

export interface Listing {
  /** Regular files and links, relative, '/'-separated: what the caps count. */
  files: string[];
  /** Every entry to pack, folders before what they hold. */
  entries: string[];
  bytes: number;
  /** How many entries an ignore file left out (null: no ignore file). */
  ignored: { file: string; count: number } | null;
}

export interface ListOptions {
  /** Names skipped at every depth (default: SKIPPED). */
  skip?: ReadonlySet<string>;
  /** Honour the source's .gcloudignore, else .dockerignore, else .gitignore. */
  ignoreFiles?: boolean;
}

/**
 * Lists a folder without following links, stopping as soon as a cap is passed, so a path like
 * "/" fails fast instead of starting a copy of the disk. Links are kept when they resolve inside
 * the folder and refused (a PermanentError naming them) when they lead out of it.
 */
export async function listSource(root: string, caps: Caps, options: ListOptions = {}): Promise<Listing> {
  const skip = options.skip ?? SKIPPED;
  const rules = options.ignoreFiles ? await loadIgnoreRules(root) : null;
  const files: string[] = [];
  const entries: string[] = [];
  let bytes = 0;
  let ignored = 0;
  const count = () => {
    if (files.length > caps.maxFiles) {
      throw new PermanentError(
        `The source has more than ${caps.maxFiles} files (node_modules and .git are skipped)`,
        'Deploy a smaller folder, or raise BATON_MAX_SOURCE_FILES',
      );
    }
    if (bytes > caps.maxBytes) {
      throw new PermanentError(
        `The source is larger than ${mib(caps.maxBytes)} (node_modules and .git are skipped)`,
        'Deploy a smaller folder, or raise BATON_MAX_SOURCE_BYTES',
      );
    }
  };
  const walk = async (dir: string): Promise<void> => {
    const list = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Sizes are read STAT_BATCH at a time (a node_modules has thousands of small files), caps checked after each batch.
    let sizes: Promise<number>[] = [];
    const settle = async () => {
      for (const size of await Promise.all(sizes)) bytes += size;
      sizes = [];
      count();
    };
    for (const e of list) {
      if (skip.has(e.name)) continue;
      const full = join(dir, e.name);
      const rel = relative(root, full).split(sep).join('/');
      if (rules?.ignores(rel, e.isDirectory())) {
        ignored++;
        continue;
      }
      if (e.isDirectory()) {
        await settle();
        entries.push(rel);
        await walk(full);
      } else if (e.isFile()) {
        sizes.push(lstat(full).then((i) => i.size));
        files.push(rel);
        entries.push(rel);
        if (sizes.length >= STAT_BATCH) await settle();
      } else if (e.isSymbolicLink()) {
        await refuseEscapingLink(root, rel);
        files.push(rel);
        entries.push(rel);
      }
    }
    await settle();
  };
  await walk(root);
  return { files, entries, bytes, ignored: rules ? { file: rules.file, count: ignored } : null };
}

/**
 * Packs the listed entries of `root` into a .tar.gz at `out`, each name taken as it is and folders
 * not recursed (the listing names everything). GNU tar does it when the system has one — for a
 * node_modules of thousands of small files about ten times faster than node-tar — reading the
 * names NUL-separated and verbatim (no name is an option or an archive to merge); otherwise, or if
 * it fails in any way, node-tar, whose errors name the entry. node-tar's `create` helper reads a
 * name starting with "@" as an archive to merge (a top-level `@types/`), so its stream is fed directly.
 */
export async function packTarGz(root: string, entries: string[], out: string): Promise<void> {
  await mkdir(dirname(out), { recursive: true, mode: 0o700 });
  if (entries.length > 0 && (await packWithSystemTar(root, entries, out))) return;
  try {
    const pack = new Pack({ cwd: root, gzip: { level: 1 }, portable: true, noDirRecurse: true, strict: true });
    const stream = createWriteStream(out, { mode: 0o600 });
    const written = new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('close', () => resolve());
      pack.on('error', reject);
    });
    pack.pipe(stream);
    for (const entry of entries) pack.add(entry);
    pack.end();
    await written;
  } catch (err) {
    throw archiveError('packed', err, 'Check the files named above');
  }
  await chmod(out, 0o600);
}

/** True when GNU tar packed every entry with no warning (exit 0); false leaves nothing at `out`. */
async function packWithSystemTar(root: string, entries: string[], out: string): Promise<boolean> {
  const args = ['--create', '--file=-', '--directory', root, '--null', '--verbatim-files-from', '--no-recursion', '--files-from=-'];
  // As node-tar's portable mode: no owner names or ids of this machine in the artifact.
  args.push('--format=gnu', '--owner=0', '--group=0', '--numeric-owner');
  const tar = spawn('tar', args, { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' } });
  const exited = new Promise<number | null>((resolve) => {
    tar.once('error', () => resolve(null));
    tar.once('close', (code) => resolve(code));
  });
  try {
    tar.stdin.on('error', () => {});
    tar.stdin.end(`${entries.join('\0')}\0`);
    await pipeline(tar.stdout, createGzip({ level: 1 }), createWriteStream(out, { mode: 0o600 }));
    if ((await exited) === 0) return true;
  } catch {
    // No tar, or not GNU tar, or a stream error: node-tar packs it instead.
  }
  tar.kill('SIGKILL');
  await exited;
  await rm(out, { force: true });
  return false;
}

/**
 * Extracts a .tar.gz into `dest`, refusing anything over the caps and links that lead out of it.
 * Symbolic links are made after everything else, so node-tar never writes through one, and each
 * is then followed hop by hop to check it stays inside.
 */
export async function extractTarGz(file: string, dest: string, caps: Caps): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  let bytes = 0;
  let count = 0;
  let over: string | null = null;
  let refused: string | null = null;
  const links: { path: string; target: string }[] = [];
  await extract({
    file,
    cwd: dest,
    strict: true,
    filter: (path, entry) => {
      const size = 'size' in entry && typeof entry.size === 'number' ? entry.size : 0;
      bytes += size;
      count++;
      if (bytes > caps.maxBytes) over ??= `more than ${mib(caps.maxBytes)} unpacked`;
      if (count > caps.maxFiles) over ??= `more than ${caps.maxFiles} entries`;
      const type = 'type' in entry ? entry.type : '';
      if (type === 'SymbolicLink') {
        const target = 'linkpath' in entry && typeof entry.linkpath === 'string' ? entry.linkpath : '';
        const clean = path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
        if (clean === '' || clean.startsWith('/') || clean.split('/').includes('..'))
          refused ??= `${JSON.stringify(path)} is not a relative path`;
        else links.push({ path: clean, target });
        return false;
      }
      return over === null && (type === 'File' || type === 'Directory' || type === 'OldFile' || type === 'Link');
    },
  }).catch((err: unknown) => {
    throw archiveError('unpacked', err, 'Upload a valid .tar.gz or .zip');
  });
  if (over) throw new PermanentError(`The archive holds ${over}`, 'Upload a smaller archive');
  if (refused) throw new PermanentError(`The archive entry ${refused}`, 'Upload an archive with relative paths only');
  for (const link of links) {
    if (link.target === '' || isAbsolute(link.target)) throw escaping(link.path, link.target);
    await mkdir(dirname(join(dest, link.path)), { recursive: true, mode: 0o700 });
    await symlink(link.target, join(dest, link.path)).catch((err: unknown) => {
      throw archiveError('unpacked', err, 'Upload an archive where no link takes the place of a file or folder');
    });
  }
  for (const link of links) await refuseEscapingLink(dest, link.path);
}

function archiveError(what: string, err: unknown, fix: string): unknown {
  if (err instanceof PermanentError) return err;
  const classified = classifyFsError(err);
  if (classified instanceof PermanentError) return classified;
  const code = codeOf(err) ?? '';
  // node-tar's own codes (a bad header, a name it cannot store, an entry it refuses) say the same on every retry.
  if (code.startsWith('TAR_') || !code)
    return new PermanentError(`The archive could not be ${what}: ${err instanceof Error ? err.message : String(err)}`, fix);
  return err;
}

function escaping(rel: string, target: string): PermanentError {
  return new PermanentError(
    `The symbolic link ${rel} points to ${target}, outside the folder being deployed`,
    'Replace the link with a copy of what it points to, or make it point inside the folder (links out of a source or an artifact are refused)',
  );
}

/**
 * Follows the link at `rel` (under `root`) one path component at a time, as the kernel would,
 * through any further links, and refuses it when a step leaves `root` or it is absolute. A
 * lexical check is not enough: with `d -> .`, the target `d/..` normalises to the root but
 * resolves to its parent. A target that does not exist (yet) is checked as far as it goes.
 */
export async function refuseEscapingLink(root: string, rel: string): Promise<void> {
  const top = resolve(root);
  const first = await readlink(join(top, rel));
  if (isAbsolute(first)) throw escaping(rel, first);
  let cur = dirname(join(top, rel));
  let parts = first.split('/');
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (cur === top) throw escaping(rel, first);
      cur = dirname(cur);
      continue;
    }
    const next = join(cur, part);
    const info = await lstat(next).catch(() => null);
    if (info?.isSymbolicLink()) {
      if (++hops > 40) throw escaping(rel, first);
      const target = await readlink(next);
      if (isAbsolute(target)) throw escaping(rel, first);
      parts = [...target.split('/'), ...parts];
      continue;
    }
    cur = next;
  }
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

export function mib(bytes: number): string {
  return `${Math.round((bytes / 1048576) * 10) / 10} MiB`;
}

/**
 * Every entry under `root` (links not followed), sorted, with its lstat: folders, files, links.
 * The entries of a folder are read STAT_BATCH at a time and its sub-folders walked one after the
 * other: a revision's node_modules is walked several times per deployment, and one lstat at a
 * time made each walk cost hundreds of milliseconds.
 */
export async function walkTree(root: string): Promise<{ rel: string; full: string; info: Stats }[]> {
  const out: { rel: string; full: string; info: Stats }[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    const infos: Stats[] = [];
    for (let i = 0; i < names.length; i += STAT_BATCH) {
      infos.push(...(await Promise.all(names.slice(i, i + STAT_BATCH).map((n) => lstat(join(dir, n))))));
    }
    for (const [i, name] of names.entries()) {
      const full = join(dir, name);
      out.push({ rel: `${prefix}${name}`, full, info: infos[i] });
      if (infos[i].isDirectory()) await walk(full, `${prefix}${name}/`);
    }
  };
  await walk(root, '');
  return out;
}

/**
 * A digest of a folder's whole tree: every path, its kind, and each file's content and
 * executable bit, or each link's target. Equal digests mean the same files, whatever their times.
 */
export async function treeDigest(root: string): Promise<string> {
  const hash = createHash('sha256');
  for (const { rel, full, info } of await walkTree(root)) {
    if (info.isDirectory()) hash.update(`D ${rel}\n`);
    else if (info.isSymbolicLink()) hash.update(`L ${rel} ${await readlink(full)}\n`);
    else if (info.isFile()) {
      const content = createHash('sha256')
        .update(await readFile(full))
        .digest('hex');
      hash.update(`F ${rel} ${info.mode & 0o111 ? 'x' : '-'} ${content}\n`);
    } else hash.update(`O ${rel}\n`);
  }
  return hash.digest('hex');
}

/** Gives a whole tree to `uid`:`gid` (links themselves, not their targets). */
export async function chownTree(root: string, uid: number, gid: number): Promise<void> {
  await lchown(root, uid, gid);
  const all = await walkTree(root);
  for (let i = 0; i < all.length; i += STAT_BATCH) await Promise.all(all.slice(i, i + STAT_BATCH).map((e) => lchown(e.full, uid, gid)));
}
