import { randomUUID } from 'node:crypto';
import type { Bucket, Storage } from '@google-cloud/storage';
import { logger } from '../../logger.js';
import type { BlobStore } from '../../ports/index.js';

/** Chunks of an append live next to their key under this marker; keys containing it are refused and never listed. */
const CHUNK_MARK = '.chunks/';

export interface GcsBlobStoreOptions {
  /** GCS refuses a composite object of more than 1,024 components: past this, an append rewrites the object whole. */
  maxComponents?: number;
  /** Objects of this size or more are uploaded resumably; smaller ones in one multipart request. */
  resumableThresholdBytes?: number;
  /**
   * Least time between two writes of one object by this instance (GCS allows about one update
   * per second per object name, then answers 429). Appends made meanwhile are batched into the
   * next write, in order.
   */
  minWriteIntervalMs?: number;
}

interface Known {
  generation: number;
  components: number;
}

/** One step of a key's queue: a batch of appends written as one, or a put or delete. */
interface Step {
  kind: 'append' | 'write';
  texts: string[];
  run?: () => Promise<void>;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface KeyQueue {
  steps: Step[];
  running?: Promise<void>;
}

/**
 * Cloud Storage objects in one bucket. Cloud Storage has no append: an append uploads its text
 * as a chunk object next to the key, composes [key, chunk] into the key with the key's
 * generation as a precondition (so a concurrent writer elsewhere is detected, re-read, and
 * retried, never overwritten), then deletes the chunk; the first append to a key creates it with
 * one upload (`ifGenerationMatch: 0`).
 *
 * Writes to one key (appends, puts, deletes) run one at a time in call order, from a queue per
 * key; appends made while the previous write is in flight (or waiting out `minWriteIntervalMs`,
 * as GCS takes about one write per second per object) join into one write. So order holds within
 * this process; across processes each append lands whole, exactly once, but in no defined order.
 * A crash between the chunk upload and its delete leaves a `<key>.chunks/…` object behind (the
 * bucket's lifecycle rule for the key's prefix removes it in time).
 */
export class GcsBlobStore implements BlobStore {
  readonly counters = { writes: 0, reads: 0, composes: 0 };
  private readonly bucket: Bucket;
  /** Writes to one key run in call order, one at a time. */
  private readonly queues = new Map<string, KeyQueue>();
  /** The generation and component count this instance last saw per key. */
  private readonly known = new Map<string, Known>();
  private readonly lastWrite = new Map<string, number>();
  private readonly instance = randomUUID().slice(0, 8);
  private seq = 0;
  private readonly maxComponents: number;
  private readonly resumableThreshold: number;
  private readonly minWriteIntervalMs: number;

  constructor(storage: Storage, bucketName: string, options: GcsBlobStoreOptions = {}) {
    this.bucket = storage.bucket(bucketName);
    this.maxComponents = options.maxComponents ?? 1024;
    this.resumableThreshold = options.resumableThresholdBytes ?? 8 * 1024 * 1024;
    this.minWriteIntervalMs = options.minWriteIntervalMs ?? 1000;
  }

  put(key: string, data: Buffer | string): Promise<void> {
    const bytes = Buffer.from(data);
    return this.enqueue(key, 'write', async () => {
      await this.upload(key, bytes);
    });
  }

  append(key: string, data: string): Promise<void> {
    return this.enqueue(key, 'append', undefined, data);
  }

  async get(key: string): Promise<Buffer | null> {
    checkKey(key);
    await this.idle(key);
    this.counters.reads++;
    try {
      const [data] = await this.bucket.file(key).download();
      return data;
    } catch (err) {
      if (codeOf(err) === 404) return null;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    checkKey(key);
    await this.idle(key);
    this.counters.reads++;
    const [exists] = await this.bucket.file(key).exists();
    return exists;
  }

  delete(key: string): Promise<void> {
    return this.enqueue(key, 'write', async () => {
      await this.bucket.file(key).delete({ ignoreNotFound: true });
      this.known.delete(key);
    });
  }

  async list(prefix: string): Promise<string[]> {
    this.counters.reads++;
    const [files] = await this.bucket.getFiles({ prefix, autoPaginate: true });
    return files
      .map((f) => f.name)
      .filter((n) => !n.includes(CHUNK_MARK))
      .sort();
  }

  /**
   * Queues a write to `key` behind the ones before it. Appends queued back to back join one step,
   * written as one (they are in order, and no other write comes between them).
   */
  private enqueue(key: string, kind: Step['kind'], run?: () => Promise<void>, text?: string): Promise<void> {
    try {
      checkKey(key);
    } catch (err) {
      // Reject rather than throw, so callers' .catch() sees an invalid key.
      return Promise.reject(err);
    }
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { steps: [] };
      this.queues.set(key, queue);
    }
    let step = kind === 'append' ? queue.steps.at(-1) : undefined;
    if (step?.kind !== 'append') {
      let resolve = () => {};
      let reject: (err: unknown) => void = () => {};
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      step = { kind, texts: [], run, promise, resolve, reject };
      queue.steps.push(step);
    }
    if (text !== undefined) step.texts.push(text);
    queue.running ??= this.pump(key, queue);
    return step.promise;
  }

  /** Resolves when no write to `key` is queued or running. */
  private async idle(key: string): Promise<void> {
    for (let queue = this.queues.get(key); queue?.running; queue = this.queues.get(key)) await queue.running;
  }

  private async pump(key: string, queue: KeyQueue): Promise<void> {
    try {
      for (let step = queue.steps[0]; step; step = queue.steps[0]) {
        if (step.kind === 'append') {
          // New appends keep joining this step while it waits for its turn to write.
          const wait = (this.lastWrite.get(key) ?? 0) + this.minWriteIntervalMs - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        queue.steps.shift();
        try {
          if (step.kind === 'append') await this.appendNow(key, step.texts.join(''));
          else await step.run?.();
          step.resolve();
        } catch (err) {
          step.reject(err);
        }
      }
    } finally {
      queue.running = undefined;
      if (this.queues.get(key) === queue) this.queues.delete(key);
    }
  }

  private async appendNow(key: string, text: string): Promise<void> {
    const data = Buffer.from(text, 'utf8');
    let known = this.known.get(key);
    if (!known) {
      // The first append this instance makes: create the key in one write if it is absent.
      if (await this.upload(key, data, 0)) return;
      known = await this.readKnown(key);
    }
    let chunk: string | undefined;
    let rewrite = false;
    try {
      for (let attempt = 1; ; attempt++) {
        if (attempt > 20)
          throw new Error(`gave up appending to gs://${this.bucket.name}/${key}: it kept changing underneath (20 attempts)`);
        if (!known) {
          // Deleted meanwhile: create it again.
          if (await this.upload(key, data, 0)) return;
          known = await this.readKnown(key);
          continue;
        }
        if (known.components + 1 > this.maxComponents || rewrite) {
          rewrite = false;
          if (await this.rewrite(key, known, data)) return;
          known = await this.readKnown(key);
          continue;
        }
        if (!chunk) {
          chunk = `${key}${CHUNK_MARK}${Date.now().toString(36)}-${this.instance}-${this.seq++}`;
          await this.upload(chunk, data, 0);
        }
        try {
          // The response is the composed object's resource; the returned File carries no metadata.
          const [, resource] = await this.bucket.combine(
            [this.bucket.file(key, { generation: known.generation }), this.bucket.file(chunk)],
            key,
            { ifGenerationMatch: known.generation },
          );
          this.counters.composes++;
          const composed = (resource ?? {}) as { generation?: unknown; componentCount?: unknown };
          this.remember(key, composed.generation, composed.componentCount, true);
          return;
        } catch (err) {
          const code = codeOf(err);
          // 412 or 404: another writer changed or deleted the key meanwhile.
          if (code === 412 || code === 404) {
            known = await this.readKnown(key);
            continue;
          }
          // Refused for its component count (a lower limit than configured, or composed further elsewhere).
          if (code === 400 && /component/i.test(messageOf(err))) {
            rewrite = true;
            known = await this.readKnown(key);
            continue;
          }
          throw err;
        }
      }
    } finally {
      if (chunk) {
        await this.bucket
          .file(chunk)
          .delete({ ignoreNotFound: true })
          .catch((err: unknown) => logger.warn(`could not delete the append chunk gs://${this.bucket.name}/${chunk}: ${messageOf(err)}`));
      }
    }
  }

  /** Reads the object whole and writes it back with `data` added: a plain object again, one component. */
  private async rewrite(key: string, known: Known, data: Buffer): Promise<boolean> {
    this.counters.reads++;
    let current: Buffer;
    try {
      [current] = await this.bucket.file(key, { generation: known.generation }).download();
    } catch (err) {
      if (codeOf(err) === 404) return false;
      throw err;
    }
    return this.upload(key, Buffer.concat([current, data]), known.generation);
  }

  /**
   * Uploads an object; with `ifGenerationMatch`, only if the object is at that generation (0: absent).
   * False when that precondition failed.
   */
  private async upload(name: string, data: Buffer, ifGenerationMatch?: number): Promise<boolean> {
    const file = this.bucket.file(name);
    this.counters.writes++;
    try {
      await file.save(data, {
        resumable: data.length >= this.resumableThreshold,
        validation: 'crc32c',
        ...(ifGenerationMatch === undefined ? {} : { preconditionOpts: { ifGenerationMatch } }),
      });
    } catch (err) {
      if (ifGenerationMatch !== undefined && codeOf(err) === 412) return false;
      throw err;
    }
    if (!name.includes(CHUNK_MARK)) this.remember(name, file.metadata.generation, file.metadata.componentCount, true);
    return true;
  }

  private async readKnown(key: string): Promise<Known | undefined> {
    this.counters.reads++;
    try {
      const [meta] = await this.bucket.file(key).getMetadata();
      return this.remember(key, meta.generation, meta.componentCount, false);
    } catch (err) {
      if (codeOf(err) !== 404) throw err;
      this.known.delete(key);
      return undefined;
    }
  }

  private remember(key: string, generation: unknown, componentCount: unknown, wrote: boolean): Known {
    const known = { generation: Number(generation), components: componentCount === undefined ? 1 : Number(componentCount) };
    if (!Number.isFinite(known.generation)) throw new Error(`Cloud Storage returned no generation for gs://${this.bucket.name}/${key}`);
    this.known.delete(key);
    this.known.set(key, known);
    if (wrote) {
      this.lastWrite.delete(key);
      this.lastWrite.set(key, Date.now());
    }
    // Bounded memory: forget the oldest keys.
    for (const map of [this.known, this.lastWrite] as Map<string, unknown>[]) {
      while (map.size > 10_000) map.delete(map.keys().next().value as string);
    }
    return known;
  }
}

/** The same keys as FolderBlobStore accepts, so both targets refuse the same ones; plus GCS's own limits. */
function checkKey(key: string): void {
  if (
    key.length === 0 ||
    key.startsWith('/') ||
    key.split('/').some((p) => p === '..' || p === '.' || p === '') ||
    key.includes(CHUNK_MARK) ||
    /[\r\n]/.test(key) ||
    Buffer.byteLength(key) > 1024
  ) {
    throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
  }
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
