import { EventEmitter } from 'node:events';
import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { REVISION_NAME, type RuntimeLogEntry, readLogLine } from '../../domain/runtime-log.js';
import type { FollowOptions, RuntimeLogScope, RuntimeLogs } from '../../ports/index.js';
import { codeOf, PRIVATE_DIR, PRIVATE_FILE } from './fs-util.js';

type Stream = 'stdout' | 'stderr';
/** One stored line: its number (increasing across every revision and restart), time, stream, text. */
interface Stored {
  n: number;
  t: string;
  s: Stream;
  m: string;
}

/** Longer lines are cut: one runaway line must not fill the whole budget of its revision. */
const MAX_LINE_CHARS = 16 * 1024;
/** A service-wide read looks at this many of its most recently written revisions. */
const MAX_REVISIONS_READ = 8;

/**
 * The local target's runtime logs: each revision's stdout and stderr in
 * `<dir>/<service>/<revision>.log`, JSON lines, rotated to `.log.1` past `maxBytes` (so at most
 * twice that per revision), files 0600 in folders 0700. Lines are batched and appended
 * synchronously a moment later; a read sees the unwritten batch too, and followers get each line
 * as it is appended. Kept when a revision is deleted, so a failed one can still be read; `remove`
 * is for the garbage collection of revisions no longer kept.
 */
export class RevisionLogFiles implements RuntimeLogs {
  private next = Date.now() * 1000;
  private readonly pending = new Map<string, { service: string; revision: string; lines: Stored[] }>();
  private readonly sizes = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly live = new EventEmitter();

  constructor(
    private readonly dir: string,
    private readonly opts: { maxBytes?: number; flushDelayMs?: number } = {},
  ) {
    this.live.setMaxListeners(0);
  }

  /** Keeps one line the revision wrote. Names not made by Baton are refused: they become paths. */
  append(service: string, revision: string, stream: Stream, line: string): void {
    if (!REVISION_NAME.test(service) || !REVISION_NAME.test(revision)) return;
    // Numbers follow the clock (in µs), so a restarted stack numbers after the lines it kept.
    const n = Math.max(this.next, Date.now() * 1000);
    this.next = n + 1;
    const stored: Stored = { n, t: new Date().toISOString(), s: stream, m: line.slice(0, MAX_LINE_CHARS) };
    const key = `${service}/${revision}`;
    let batch = this.pending.get(key);
    if (!batch) {
      batch = { service, revision, lines: [] };
      this.pending.set(key, batch);
    }
    batch.lines.push(stored);
    this.live.emit('entry', service, toEntry(revision, stored));
    this.timer ??= setTimeout(() => this.flush(), this.opts.flushDelayMs ?? 20).unref();
  }

  /** Writes what is batched. Synchronous, so a stop can call it last. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batches = [...this.pending.values()];
    this.pending.clear();
    const max = this.opts.maxBytes ?? 1024 * 1024;
    for (const { service, revision, lines } of batches) {
      const folder = join(this.dir, service);
      mkdirSync(folder, { recursive: true, mode: PRIVATE_DIR });
      const file = join(folder, `${revision}.log`);
      let size = this.sizes.get(file) ?? sizeOf(file);
      let chunk = '';
      for (const l of lines) {
        const text = `${JSON.stringify(l)}\n`;
        if (size + chunk.length + text.length > max && size + chunk.length > 0) {
          if (chunk) appendFileSync(file, chunk, { mode: PRIVATE_FILE });
          renameSync(file, `${file}.1`);
          size = 0;
          chunk = '';
        }
        chunk += text;
      }
      if (chunk) appendFileSync(file, chunk, { mode: PRIVATE_FILE });
      this.sizes.set(file, size + Buffer.byteLength(chunk));
    }
  }

  async read(scope: RuntimeLogScope, lines: number): Promise<RuntimeLogEntry[]> {
    if (!REVISION_NAME.test(scope.service) || (scope.revision !== undefined && !REVISION_NAME.test(scope.revision))) return [];
    // The batch first: a line written out while the files are read is then found in one or the other.
    const unwritten = [...this.pending.values()].filter((b) => b.service === scope.service);
    const revisions = scope.revision ? [scope.revision] : await this.recentRevisions(scope.service, unwritten);
    const byNumber = new Map<number, RuntimeLogEntry>();
    for (const revision of revisions) {
      const base = join(this.dir, scope.service, `${revision}.log`);
      for (const file of [`${base}.1`, base]) {
        for (const s of parseLines(await readFile(file, 'utf8').catch(missingAsEmpty))) byNumber.set(s.n, toEntry(revision, s));
      }
    }
    for (const b of unwritten) {
      if (revisions.includes(b.revision)) for (const s of b.lines) byNumber.set(s.n, toEntry(b.revision, s));
    }
    return [...byNumber.entries()]
      .sort(([a], [b]) => a - b)
      .slice(-lines)
      .map(([, e]) => e);
  }

  follow(scope: RuntimeLogScope, after: RuntimeLogEntry | null, onEntry: (entry: RuntimeLogEntry) => void, opts: FollowOptions): void {
    let last = after ? Number(after.id) : Math.max(this.next, Date.now() * 1000) - 1;
    let caughtUp = false;
    const held: RuntimeLogEntry[] = [];
    const deliver = (e: RuntimeLogEntry) => {
      if (Number(e.id) <= last) return;
      last = Number(e.id);
      onEntry(e);
    };
    const listener = (service: string, e: RuntimeLogEntry) => {
      if (service !== scope.service || (scope.revision && e.revision !== scope.revision)) return;
      if (caughtUp) deliver(e);
      else held.push(e);
    };
    this.live.on('entry', listener);
    opts.signal.addEventListener('abort', () => this.live.off('entry', listener), { once: true });
    // What was written between `after` and subscribing, then what arrived meanwhile, in order.
    this.read(scope, 1000).then(
      (entries) => {
        // The read may have seen some held lines already (written out meanwhile), not others: merged by number.
        const merged = new Map([...entries, ...held.splice(0)].map((e) => [Number(e.id), e]));
        for (const [, e] of [...merged.entries()].sort(([a], [b]) => a - b)) deliver(e);
        caughtUp = true;
      },
      (err: unknown) => {
        this.live.off('entry', listener);
        opts.onError(err);
      },
    );
  }

  /** Deletes a revision's logs (for garbage collection of revisions no longer kept). */
  async remove(service: string, revision: string): Promise<void> {
    if (!REVISION_NAME.test(service) || !REVISION_NAME.test(revision)) return;
    this.pending.delete(`${service}/${revision}`);
    const base = join(this.dir, service, `${revision}.log`);
    this.sizes.delete(base);
    await Promise.all([rm(base, { force: true }), rm(`${base}.1`, { force: true })]);
  }

  private async recentRevisions(service: string, unwritten: { revision: string }[]): Promise<string[]> {
    const folder = join(this.dir, service);
    const names = await readdir(folder).catch(missingAsNone);
    const current = names.filter((n) => n.endsWith('.log'));
    const dated = await Promise.all(current.map(async (n) => ({ name: n.slice(0, -4), at: (await stat(join(folder, n))).mtimeMs })));
    const revisions = dated.sort((a, b) => b.at - a.at).map((d) => d.name);
    for (const b of unwritten) if (!revisions.includes(b.revision)) revisions.unshift(b.revision);
    return revisions.slice(0, MAX_REVISIONS_READ);
  }
}

function toEntry(revision: string, s: Stored): RuntimeLogEntry {
  return { id: String(s.n), time: s.t, revision, stream: s.s, ...readLogLine(s.m) };
}

function parseLines(text: string): Stored[] {
  const out: Stored[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const v = JSON.parse(line) as Partial<Stored>;
      if (typeof v.n === 'number' && typeof v.t === 'string' && typeof v.m === 'string' && (v.s === 'stdout' || v.s === 'stderr')) {
        out.push({ n: v.n, t: v.t, s: v.s, m: v.m });
      }
    } catch {
      // A line cut short by a crash mid-write: skipped.
    }
  }
  return out;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return 0;
    throw err;
  }
}

function missingAsEmpty(err: unknown): string {
  if (codeOf(err) === 'ENOENT') return '';
  throw err;
}

function missingAsNone(err: unknown): string[] {
  if (codeOf(err) === 'ENOENT') return [];
  throw err;
}
