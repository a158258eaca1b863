import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { jsonFilesIn } from './fs-util.js';

/** Files hold request data (env values, source URLs): readable by this user only. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** A journal segment this large is folded into the document files and a new one started. */
const SEGMENT_BYTES = 4 * 1024 * 1024;
/** Document files written at once while folding (the thread pool has four threads). */
const FOLD_PARALLEL = 4;
/** `jobs/0b1c…`, `services/agent-a`, `3f2e…`: a relative path of safe names, never `..`. */
const KEY = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)?$/;
const RecordSchema = z.object({ k: z.string().regex(KEY), d: z.unknown() });

interface Segment {
  seq: number;
  path: string;
  handle: FileHandle | null;
  bytes: number;
  /** The last version of each document this segment holds (null: deleted), folded in when it is sealed. */
  latest: Map<string, string | null>;
}

interface Pending {
  key: string;
  text: string | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The durable documents of a local adapter (jobs, bus messages, tasks). A change is appended to a
 * journal and fdatasync'd before its promise resolves; changes that arrive while a sync runs share
 * the next one (group commit), so concurrent commits cost one sync between them. Sealed journal
 * segments are folded into one JSON file per document (`{dir}/{key}.json`, written, synced, renamed)
 * and then removed; at start-up the files are read and the journal replayed over them. A torn
 * last line (the process died mid-write, before anyone was answered) is dropped; any other
 * unreadable journal line stops the start-up with the file named, and an unreadable document file
 * is moved aside (`.unreadable`) and reported, never overwritten.
 *
 * After a failed write or sync the journal refuses every further change: what is in memory may
 * then be ahead of the disk, and only a restart (replaying what is on disk) makes them agree.
 */
export class DocJournal {
  private readonly journalDir: string;
  private segment: Segment | null = null;
  private queue: Pending[] = [];
  private writing: Promise<void> | null = null;
  private compaction: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  /** What start-up replayed from the journal, until it is folded into the files. */
  private replayed: Map<string, string | null> | null = null;
  /** Syncs done and changes they carried: with group commit, syncs < changes under load. */
  readonly counters = { syncs: 0, changes: 0 };

  constructor(
    private readonly dir: string,
    private readonly options: { segmentBytes?: number } = {},
  ) {
    this.journalDir = join(dir, 'journal');
  }

  /**
   * Reads every document under `collections` (sub-folders of the data folder; '' for the folder
   * itself), replays the journal over them, folds it into the files, and returns key → document.
   * Call once, before the first change.
   */
  open(collections: readonly string[]): Map<string, unknown> {
    ensureDir(this.dir);
    ensureDir(this.journalDir);
    const docs = new Map<string, unknown>();
    for (const c of collections) {
      const folder = c ? join(this.dir, c) : this.dir;
      ensureDir(folder);
      for (const f of jsonFilesIn(folder)) {
        const key = c ? `${c}/${f.slice(0, -5)}` : f.slice(0, -5);
        const path = join(folder, f);
        try {
          docs.set(key, JSON.parse(readFileSync(path, 'utf8')));
        } catch (err) {
          this.quarantine(key, `it is not JSON (${messageOf(err)})`);
        }
      }
    }
    const segments = this.segmentFiles();
    const replayed = new Map<string, string | null>();
    this.replayed = replayed;
    for (const { seq, path } of segments) {
      const text = readFileSync(path, 'utf8');
      const lines = text.split('\n');
      for (const [n, line] of lines.entries()) {
        if (line === '') continue;
        const rec = parseRecord(line);
        if (rec) {
          replayed.set(rec.k, rec.d === null ? null : JSON.stringify(rec.d));
          if (rec.d === null) docs.delete(rec.k);
          else docs.set(rec.k, rec.d);
          continue;
        }
        // Only an unfinished last line can be torn (a segment left by a crash may be followed by a newer one).
        const tornTail = n === lines.length - 1;
        if (!tornTail) {
          throw new Error(
            `baton: the journal ${path} is unreadable at line ${n + 1}: it holds committed changes, so Baton will not start without them. Restore the file, or move the folder ${this.journalDir} aside to start from the document files alone`,
          );
        }
        console.warn(`baton: dropped the torn last change of ${path} (segment ${seq}): the process stopped while writing it`);
      }
    }
    const next = (segments.at(-1)?.seq ?? 0) + 1;
    this.segment = this.newSegment(next);
    // The replayed segments are folded in the background, before anything journaled from now on.
    if (segments.length > 0)
      this.foldLater(
        replayed,
        segments.map((seg) => seg.path),
        null,
      );
    return docs;
  }

  /** Moves an unreadable document file aside and says so; the adapter then goes on without it. */
  quarantine(key: string, why: string): void {
    const path = this.docPath(key);
    const aside = `${path}.unreadable`;
    try {
      const journaled = this.replayed?.get(key);
      if (typeof journaled === 'string') {
        // Its latest version is only in the journal, which folding would write over the file and then remove.
        this.replayed?.delete(key);
        writeFileSync(aside, journaled, { mode: FILE_MODE });
        rmSync(path, { force: true });
      } else {
        renameSync(path, aside);
      }
    } catch (err) {
      console.error(`baton: could not move ${path} aside: ${messageOf(err)}`);
    }
    console.error(`baton: ${path} is unreadable: ${why}. Moved to ${aside}; Baton goes on without it and will not overwrite it`);
  }

  /** Resolves once the document is on disk (journaled and synced). */
  put(key: string, doc: unknown): Promise<void> {
    return this.append(key, JSON.stringify(doc));
  }

  delete(key: string): Promise<void> {
    return this.append(key, null);
  }

  /**
   * Several documents in one batch, so one sync between them (a single put that finds the
   * journal idle starts its sync alone, and whatever follows waits for the next).
   */
  putMany(docs: readonly (readonly [key: string, doc: unknown])[]): Promise<void> {
    if (docs.length === 0) return Promise.resolve();
    const bad = docs.find(([key]) => !KEY.test(key));
    if (bad) return Promise.reject(new Error(`invalid document key ${JSON.stringify(bad[0])}`));
    if (this.failure) return Promise.reject(this.failure);
    if (!this.segment) return Promise.reject(new Error('the journal is not open'));
    const all = docs.map(
      ([key, doc]) =>
        new Promise<void>((resolve, reject) => {
          this.queue.push({ key, text: JSON.stringify(doc), resolve, reject });
        }),
    );
    this.kick();
    return Promise.all(all).then(() => undefined);
  }

  /** Resolves when every change made so far is synced and folded into the files (the stack calls it when it stops). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing.catch(() => {});
    // Folding the open segment too leaves nothing to replay: a clean stop starts again at once.
    if (this.segment && this.segment.bytes > 0 && !this.failure) this.seal(this.segment);
    await this.compaction;
  }

  private append(key: string, text: string | null): Promise<void> {
    if (!KEY.test(key)) return Promise.reject(new Error(`invalid document key ${JSON.stringify(key)}`));
    if (this.failure) return Promise.reject(this.failure);
    if (!this.segment) return Promise.reject(new Error('the journal is not open'));
    return new Promise((resolve, reject) => {
      this.queue.push({ key, text, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.writing || this.queue.length === 0) return;
    // A change queued while the last batch was being answered starts the next batch.
    this.writing = this.drain().finally(() => {
      this.writing = null;
      this.kick();
    });
  }

  /** One write and one sync per batch: whatever queued up during the previous sync goes in the next. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      const seg = this.segment as Segment;
      try {
        if (this.failure) throw this.failure;
        const buf = Buffer.from(batch.map((p) => `{"k":${JSON.stringify(p.key)},"d":${p.text ?? 'null'}}\n`).join(''));
        seg.handle ??= await open(seg.path, 'a', FILE_MODE);
        let off = 0;
        while (off < buf.length) off += (await seg.handle.write(buf, off)).bytesWritten;
        await seg.handle.datasync();
        this.counters.syncs++;
        this.counters.changes += batch.length;
        seg.bytes += buf.length;
        for (const p of batch) seg.latest.set(p.key, p.text);
      } catch (err) {
        this.failure ??= new Error(`the data folder ${this.dir} could not be written (${messageOf(err)}); restart Baton once it can`);
        console.error(`baton: ${this.failure.message}`);
        for (const p of [...batch, ...this.queue.splice(0)]) p.reject(this.failure);
        return;
      }
      for (const p of batch) p.resolve();
      if (seg.bytes >= (this.options.segmentBytes ?? SEGMENT_BYTES)) this.seal(seg);
    }
  }

  /** Starts a new segment and folds the sealed one into the files in the background. */
  private seal(seg: Segment): void {
    this.segment = this.newSegment(seg.seq + 1);
    this.foldLater(seg.latest, [seg.path], seg.handle);
  }

  /** Folds in order: a later segment's version of a document always lands after an earlier one's. */
  private foldLater(latest: Map<string, string | null>, segmentPaths: string[], handle: FileHandle | null): void {
    this.compaction = this.compaction.then(() =>
      this.fold(latest, segmentPaths, handle).catch((err: unknown) => {
        // The segment stays and is replayed at the next start: nothing is lost, the journal is only longer.
        console.error(`baton: could not fold ${segmentPaths.join(', ')} into the document files: ${messageOf(err)}`);
      }),
    );
  }

  /** Each document written to a temp file, synced and renamed over the old one; the folders synced; then the segments removed. */
  private async fold(latest: Map<string, string | null>, segmentPaths: string[], handle: FileHandle | null): Promise<void> {
    await handle?.close();
    const entries = [...latest];
    const dirs = new Set(entries.map(([key]) => dirname(this.docPath(key))));
    for (let i = 0; i < entries.length; i += FOLD_PARALLEL) {
      await Promise.all(entries.slice(i, i + FOLD_PARALLEL).map(([key, text]) => writeDoc(this.docPath(key), text)));
    }
    for (const d of dirs) {
      await mkdir(d, { recursive: true, mode: DIR_MODE });
      const fh = await open(d, 'r');
      await fh.sync().finally(() => fh.close());
    }
    for (const path of segmentPaths) await rm(path, { force: true });
    if (latest === this.replayed) this.replayed = null;
  }

  private newSegment(seq: number): Segment {
    return { seq, path: join(this.journalDir, `${String(seq).padStart(12, '0')}.log`), handle: null, bytes: 0, latest: new Map() };
  }

  private segmentFiles(): { seq: number; path: string }[] {
    return readdirSync(this.journalDir)
      .filter((f) => /^\d+\.log$/.test(f))
      .map((f) => ({ seq: Number(f.slice(0, -4)), path: join(this.journalDir, f) }))
      .sort((a, b) => a.seq - b.seq);
  }

  private docPath(key: string): string {
    return join(this.dir, `${key}.json`);
  }
}

function parseRecord(line: string): z.infer<typeof RecordSchema> | null {
  try {
    const rec = RecordSchema.safeParse(JSON.parse(line));
    return rec.success ? rec.data : null;
  } catch {
    return null;
  }
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
}

async function writeDoc(path: string, text: string | null): Promise<void> {
  if (text === null) {
    await rm(path, { force: true });
    return;
  }
  await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true });
  const fh = await open(tmp, 'w', FILE_MODE);
  try {
    await fh.writeFile(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** The documents `open` returned whose key starts with `prefix`, parsed with `schema`; the others are quarantined. */
export function parsedDocs<T>(journal: DocJournal, docs: Map<string, unknown>, prefix: string, schema: z.ZodType<T>): T[] {
  const out: T[] = [];
  for (const [key, raw] of docs) {
    if (!key.startsWith(prefix)) continue;
    const doc = schema.safeParse(raw);
    if (doc.success) out.push(doc.data);
    else
      journal.quarantine(
        key,
        `it does not match its schema (${doc.error.issues[0]?.path.join('.') || 'document'}: ${doc.error.issues[0]?.message ?? 'invalid'})`,
      );
  }
  return out;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
