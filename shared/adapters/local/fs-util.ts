import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PermanentError } from '../../domain/errors.js';

/**
 * Baton's state (job documents, runtime.json, blobs, sources, builds) is the owner's only: a
 * deployed revision or another user of the machine must not read it.
 */
export const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;

/** Write-then-rename, so a crash never leaves half a file behind; the file is 0600, new folders 0700. */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  writeThenRename(path, data, false);
}

/**
 * writeFileAtomic that is also on disk when it returns (the file synced before the rename, the
 * folder after it): for what an accepted request depends on, such as its private data.
 */
export function writeFileDurable(path: string, data: string | Buffer): void {
  writeThenRename(path, data, true);
}

function writeThenRename(path: string, data: string | Buffer, sync: boolean): void {
  mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', PRIVATE_FILE);
  try {
    writeFileSync(fd, data);
    if (sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // open's mode applies only when it creates the file: a leftover tmp keeps its old mode.
  chmodSync(tmp, PRIVATE_FILE);
  renameSync(tmp, path);
  if (!sync) return;
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * The .json files of a folder that may not exist yet (then none): the local adapters' saved
 * records. Any other error (permissions, not a folder) is thrown: read as "no files", it would
 * silently drop every saved record and let new ones overwrite them.
 */
export function jsonFilesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return [];
    throw new Error(
      `cannot list ${dir} (${codeOf(err) ?? 'error'}: ${err instanceof Error ? err.message : String(err)}): Baton keeps saved state there. Fix the folder (it must be a folder the user running Baton can read and write), then start again`,
    );
  }
}

export function codeOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * File errors that a retry cannot heal, with what to do. ENOSPC is here too: a full disk does not
 * empty itself, and retrying for the whole back-off (each retry writing bus and task records)
 * fills it further while blaming the control plane; the deployment fails at once saying so.
 * EMFILE, EBUSY, EAGAIN, EIO and the like stay transient.
 */
const DETERMINISTIC: Readonly<Record<string, [string, string]>> = {
  EACCES: ['permission denied', 'Give the user running Baton access to it, or point BATON_DATA_DIR at a folder it owns'],
  EPERM: ['operation not permitted', 'Give the user running Baton access to it, or point BATON_DATA_DIR at a folder it owns'],
  EEXIST: ['something is already there', 'Remove it (Baton owns everything under BATON_DATA_DIR), then deploy again'],
  EISDIR: ['a folder is where a file belongs', 'Remove the folder, then deploy again'],
  ENOTDIR: ['a file is where a folder belongs', 'Remove the file, then deploy again'],
  ENOTEMPTY: ['a folder to replace is not empty', 'Remove it, then deploy again'],
  ENAMETOOLONG: ['the path is too long for the file system', 'Use a shorter BATON_DATA_DIR'],
  ELOOP: ['too many symbolic links on the path', 'Replace the link with a folder'],
  EROFS: ['the file system is read-only', 'Point BATON_DATA_DIR at a writable one'],
  ENOSPC: ['the disk is full', 'Free space on it (old artifacts are under blobs/artifacts/), then deploy again'],
  EDQUOT: ['the disk quota is exhausted', 'Free space or raise the quota, then deploy again'],
  EFBIG: ['the file is larger than the file system allows', 'Deploy something smaller'],
};

/** A deterministic file error as a PermanentError naming the path and what to do; anything else as it was. */
export function classifyFsError(err: unknown): unknown {
  if (err instanceof PermanentError) return err;
  const code = codeOf(err);
  const known = code ? DETERMINISTIC[code] : undefined;
  if (!known) return err;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const where = e.path ? `${e.path}${e.dest ? ` → ${e.dest}` : ''}` : 'a file of the control plane';
  return new PermanentError(`Cannot ${e.syscall ?? 'use'} ${where}: ${known[0]} (${code})`, known[1]);
}

/** Runs `fn`, turning a deterministic file error into a PermanentError. */
export async function permanentFsErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyFsError(err);
  }
}
