import { appendFile, chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { BlobStore } from '../../ports/index.js';
import { classifyFsError, codeOf, PRIVATE_DIR, PRIVATE_FILE, permanentFsErrors, writeFileAtomic } from './fs-util.js';

/**
 * Cloud Storage as a folder: a key is a relative path under the root. Files are 0600 and folders
 * 0700 (logs, sources and artifacts are Baton's state); a file error no retry can heal is a
 * PermanentError naming the path.
 */
export class FolderBlobStore implements BlobStore {
  private readonly root: string;
  /** Appends to one key run in order, as a chain. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The file behind a key, for adapters of the same target that read it in place. */
  pathOf(key: string): string {
    if (key.length === 0 || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
    }
    const path = join(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
    return path;
  }

  async put(key: string, data: Buffer | string): Promise<void> {
    const path = this.pathOf(key);
    await permanentFsErrors(async () => writeFileAtomic(path, data));
  }

  /** Moves a finished file into the store under `key`: a rename, or a copy when it is on another file system. */
  async adopt(key: string, file: string): Promise<void> {
    const path = this.pathOf(key);
    await permanentFsErrors(async () => {
      await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR });
      await chmod(file, PRIVATE_FILE);
      try {
        await rename(file, path);
      } catch (err) {
        if (codeOf(err) !== 'EXDEV') throw err;
        // Builds may run under the OS temp dir (a tmpfs): copy beside the target, then rename, so no half file shows.
        const tmp = `${path}.${process.pid}.tmp`;
        await copyFile(file, tmp);
        await chmod(tmp, PRIVATE_FILE);
        await rename(tmp, path);
        await rm(file, { force: true });
      }
    });
  }

  /** Size and modification time of a key's file, or null when there is none. */
  async info(key: string): Promise<{ bytes: number; modified_ms: number } | null> {
    const s = await stat(this.pathOf(key)).catch(() => null);
    return s?.isFile() ? { bytes: s.size, modified_ms: s.mtimeMs } : null;
  }

  append(key: string, data: string): Promise<void> {
    let path: string;
    try {
      path = this.pathOf(key);
    } catch (err) {
      // Reject rather than throw, so callers' .catch() sees an invalid key.
      return Promise.reject(err);
    }
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      await permanentFsErrors(async () => {
        await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR });
        await appendFile(path, data, { mode: PRIVATE_FILE });
      });
    });
    const settled = next.catch(() => undefined);
    this.chains.set(key, settled);
    void settled.then(() => {
      if (this.chains.get(key) === settled) this.chains.delete(key);
    });
    return next;
  }

  async get(key: string): Promise<Buffer | null> {
    await this.chains.get(key);
    try {
      return await readFile(this.pathOf(key));
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return null;
      throw classifyFsError(err);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        // No folder is no blobs; an unreadable one is not.
        if (codeOf(err) === 'ENOENT') return;
        throw classifyFsError(err);
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (!e.name.endsWith('.tmp')) out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    await walk(this.root);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }
}
