import type { Storage } from '@google-cloud/storage';

/**
 * Cloud Build's log of a build in a bucket of the project's (the build's `logsBucket`, streamed
 * while it runs with `logStreamingOption: STREAM_ON`): `log-<build id>.txt`, read by byte range.
 * Cloud Build rewrites the object as the log grows, each generation holding the one before it, so
 * an offset stays valid across generations. An object not written yet, or no byte past the
 * offset (GCS answers 416), reads as nothing.
 */
export class GcsBuildLogReader {
  readonly counters = { reads: 0 };

  constructor(
    private readonly storage: Storage,
    readonly bucket: string,
  ) {}

  objectName(buildId: string): string {
    return `log-${buildId}.txt`;
  }

  async read(buildId: string, offset: number, max: number): Promise<{ data: Buffer; more: boolean }> {
    this.counters.reads++;
    try {
      // One byte past `max` tells whether more is written already.
      const [data] = await this.storage
        .bucket(this.bucket)
        .file(this.objectName(buildId))
        .download({ start: offset, end: offset + max, validation: false });
      return data.length > max ? { data: data.subarray(0, max), more: true } : { data, more: false };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 404 || code === 416) return { data: Buffer.alloc(0), more: false };
      throw err;
    }
  }
}
