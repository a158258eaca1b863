import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes documents to disk behind the in-memory commit, so a commit never blocks the event loop
 * on the file system. One write per file is in flight at a time and the latest version wins;
 * `flush()` (called when the stack stops) waits until every committed version is on disk. A crash
 * of the process can lose the last few milliseconds of commits, never leave a torn file.
 */
export class DocWriter {
  private readonly latest = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private failures = 0;

  write(path: string, text: string): void {
    this.latest.set(path, text);
    if (!this.inFlight.has(path)) this.inFlight.set(path, this.drain(path));
  }

  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight.values()]);
  }

  private async drain(path: string): Promise<void> {
    try {
      let text = this.latest.get(path);
      while (text !== undefined) {
        this.latest.delete(path);
        try {
          // Job documents are Baton's state: the owner's only (0600 in a 0700 folder).
          await mkdir(dirname(path), { recursive: true, mode: 0o700 });
          const tmp = `${path}.${process.pid}.tmp`;
          await writeFile(tmp, text, { mode: 0o600 });
          await rename(tmp, path);
        } catch (err) {
          if (this.failures++ < 5) console.error(`baton: could not save ${path}: ${err instanceof Error ? err.message : String(err)}`);
        }
        text = this.latest.get(path);
      }
    } finally {
      this.inFlight.delete(path);
    }
  }
}
