import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, relative, resolve, sep } from 'node:path';
import { unzipSync } from 'fflate';
import { create, extract } from 'tar';
import { PermanentError } from '../../domain/errors.js';

export interface Caps {
  maxBytes: number;
  maxFiles: number;
}

/** Folders a source copy never takes: dependencies are installed by the build, and VCS data is not source. */
export const SKIPPED = new Set(['node_modules', '.git', '.baton']);

/**
 * Lists a source folder's files without following links, stopping as soon as a cap is passed,
 * so a path like "/" fails fast instead of starting a copy of the disk.
 */
export async function listSource(root: string, caps: Caps): Promise<{ files: string[]; bytes: number }> {
  const files: string[] = [];
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      if (SKIPPED.has(e.name)) continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        await walk(full);
      } else if (e.isFile()) {
        bytes += (await lstat(full)).size;
        files.push(relative(root, full).split(sep).join('/'));
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
      }
    }
  };
  await walk(root);
  return { files, bytes };
}

/** Packs the listed files of `root` into a .tar.gz at `out`. */
export async function packTarGz(root: string, files: string[], out: string): Promise<void> {
  await mkdir(dirname(out), { recursive: true, mode: 0o700 });
  await create({ gzip: { level: 1 }, cwd: root, file: out, portable: true }, files);
  await chmod(out, 0o600);
}

/** Extracts a .tar.gz into `dest`, refusing links out of it and anything over the caps. */
export async function extractTarGz(file: string, dest: string, caps: Caps): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  let bytes = 0;
  let count = 0;
  let over: string | null = null;
  await extract({
    file,
    cwd: dest,
    strict: true,
    filter: (_path, entry) => {
      const size = 'size' in entry && typeof entry.size === 'number' ? entry.size : 0;
      bytes += size;
      count++;
      if (bytes > caps.maxBytes) over ??= `more than ${mib(caps.maxBytes)} unpacked`;
      if (count > caps.maxFiles) over ??= `more than ${caps.maxFiles} entries`;
      const type = 'type' in entry ? entry.type : '';
      return over === null && (type === 'File' || type === 'Directory' || type === 'OldFile');
    },
  }).catch((err: unknown) => {
    throw new PermanentError(
      `The archive could not be unpacked: ${err instanceof Error ? err.message : String(err)}`,
      'Upload a valid .tar.gz or .zip',
    );
  });
  if (over) throw new PermanentError(`The archive holds ${over}`, 'Upload a smaller archive');
}

/** Extracts a .zip into `dest`, refusing entries that would land outside it. */
export async function extractZip(data: Buffer, dest: string, caps: Caps): Promise<void> {
  let entries: Record<string, Uint8Array>;
  let bytes = 0;
  let count = 0;
  try {
    entries = unzipSync(data, {
      filter: (f) => {
        bytes += f.originalSize;
        count++;
        if (bytes > caps.maxBytes || count > caps.maxFiles)
          throw new PermanentError(
            `The archive holds more than ${mib(caps.maxBytes)} or ${caps.maxFiles} files unpacked`,
            'Upload a smaller archive',
          );
        return !f.name.endsWith('/');
      },
    });
  } catch (err) {
    if (err instanceof PermanentError) throw err;
    throw new PermanentError(
      `The archive could not be unpacked: ${err instanceof Error ? err.message : String(err)}`,
      'Upload a valid .tar.gz or .zip',
    );
  }
  const root = resolve(dest);
  for (const [name, content] of Object.entries(entries)) {
    const target = resolve(root, normalize(name));
    if (!target.startsWith(root + sep))
      throw new PermanentError(
        `The archive entry ${JSON.stringify(name)} points outside the archive`,
        'Upload an archive with relative paths only',
      );
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
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

/** Every entry under `root` (links not followed), sorted, with its lstat: folders, files, links. */
async function walkTree(root: string): Promise<{ rel: string; full: string; info: Stats }[]> {
  const out: { rel: string; full: string; info: Stats }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const info = await lstat(full);
      out.push({ rel: relative(root, full).split(sep).join('/'), full, info });
      if (info.isDirectory()) await walk(full);
    }
  };
  await walk(root);
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
  for (const { full } of await walkTree(root)) await lchown(full, uid, gid);
}
