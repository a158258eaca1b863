import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceReader } from '../../domain/analysis/schema.js';
import { PermanentError, RequestError } from '../../domain/errors.js';
import { gitUrlProblem } from '../../domain/git-source.js';
import { withoutCredentials } from '../../domain/job.js';
import type { Source } from '../../domain/request.js';
import type { SourcePreparer } from '../../ports/index.js';
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from '../../sources/archive-reader.js';
import { ArchiveRefused } from '../../sources/archive-rules.js';
import { extractArchive } from '../../sources/extract.js';
import { shallowClone } from '../../sources/git-clone.js';
import { archiveSourceReader, folderReader } from '../../sources/reader.js';
import { type Caps, listSource, mib, packTarGz } from './archive.js';
import type { FolderBlobStore } from './blob-store.js';
import { PRIVATE_DIR, permanentFsErrors } from './fs-util.js';

const AGENT_RUNTIME = fileURLToPath(new URL('./agent-runtime', import.meta.url));

/**
 * Sources on the local target: a folder on this machine, a git repository (cloned with the
 * machine's git), an uploaded archive, or a bare config run on the bundled agent runtime. Each
 * becomes `sources/{agent}/{deployment}.tar.gz` in the blob store. The folder given is only read.
 */
/** The files a source folder must have one of at its root (what analysis starts from). */
const FOLDER_MARKERS = [
  'package.json',
  'go.mod',
  'requirements.txt',
  'pyproject.toml',
  'Pipfile',
  'main.py',
  'app.py',
  'manage.py',
  'Dockerfile',
];

export class LocalSourcePreparer implements SourcePreparer {
  constructor(
    private readonly blobs: FolderBlobStore,
    private readonly caps: Caps,
    private readonly workDir: string,
    private readonly maxRatio = DEFAULT_ARCHIVE_LIMITS.maxRatio,
    /** A named secret's value (local: BATON_LOCAL_SECRETS_FILE), for a private repository's token. */
    private readonly secret: (name: string) => string | null = () => null,
  ) {}

  /** The commit each scratch folder's clone checked out, read back by prepare. */
  private readonly commits = new Map<string, string>();

  async check(source: Source): Promise<void> {
    if (source.type !== 'directory') return;
    if (!isAbsolute(source.path)) throw new RequestError('invalid', 'must be an absolute path on the control plane machine', 'source.path');
    const info = await stat(source.path).catch(() => null);
    if (!info?.isDirectory())
      throw new RequestError('invalid', `${source.path} is not a folder on the control plane machine`, 'source.path');
    // A folder with none of the files analysis starts from is refused here; the rest is analysed in validating.
    const names = new Set(await readdir(source.path).catch(() => []));
    if (!FOLDER_MARKERS.some((m) => names.has(m)))
      throw new RequestError(
        'invalid',
        `${source.path} has none of ${FOLDER_MARKERS.join(', ')}: nothing the local builder can build (Node, Python or Go)`,
        'source.path',
      );
  }

  inspect(input: Parameters<SourcePreparer['inspect']>[0]): Promise<SourceReader | null> {
    return permanentFsErrors(async () => {
      const { source } = input;
      switch (source.type) {
        case 'image':
          return null;
        case 'directory':
          await this.check(source).catch((err: unknown) => {
            throw new PermanentError(err instanceof Error ? err.message : String(err));
          });
          return folderReader(source.path, this.caps);
        case 'config':
          return folderReader(AGENT_RUNTIME, this.caps);
        case 'archive':
          return archiveSourceReader(await readFile(this.blobs.pathOf(source.blob_key)), source.format, this.archiveLimits()).catch(
            (err: unknown) => {
              throw err instanceof ArchiveRefused ? new PermanentError(err.message, err.fix) : err;
            },
          );
        case 'git': {
          await mkdir(this.workDirFor(), { recursive: true, mode: PRIVATE_DIR });
          const scratch = await mkdtemp(join(this.workDirFor(), 'inspect-'));
          try {
            return await folderReader(await this.materialise(source, input.config, scratch, () => undefined), this.caps);
          } finally {
            await rm(scratch, { recursive: true, force: true });
          }
        }
      }
    });
  }

  prepare(input: Parameters<SourcePreparer['prepare']>[0]): Promise<{ source_key: string; summary: string; commit_sha?: string }> {
    return permanentFsErrors(() => this.prepareIn(input));
  }

  private async prepareIn(
    input: Parameters<SourcePreparer['prepare']>[0],
  ): Promise<{ source_key: string; summary: string; commit_sha?: string }> {
    const { source } = input;
    await mkdir(this.workDirFor(), { recursive: true, mode: PRIVATE_DIR });
    const scratch = await mkdtemp(join(this.workDirFor(), 'src-'));
    try {
      const root = await this.materialise(source, input.config, scratch, input.log);
      // What the folder says not to upload stays out, as gcloud does (a built .next, local env files…).
      const ignoreFiles = source.type === 'directory' || source.type === 'git';
      const { files, entries, bytes, ignored } = await listSource(root, this.caps, { ignoreFiles });
      const key = `sources/${input.agent_id}/${input.deployment_id}.tar.gz`;
      await packTarGz(root, entries, this.blobs.pathOf(key));
      const left = ignored && ignored.count > 0 ? ` (${ignored.count} left out by its ${ignored.file})` : '';
      const commit_sha = this.commits.get(scratch);
      return {
        source_key: key,
        summary: `${files.length} files, ${mib(bytes)} from ${describe(source)}${left}`,
        ...(commit_sha ? { commit_sha } : {}),
      };
    } finally {
      this.commits.delete(scratch);
      await rm(scratch, { recursive: true, force: true });
    }
  }

  private async materialise(source: Source, config: Record<string, unknown>, scratch: string, log: (l: string) => void): Promise<string> {
    switch (source.type) {
      case 'directory':
        await this.check(source).catch((err: unknown) => {
          throw new PermanentError(err instanceof Error ? err.message : String(err));
        });
        return source.path;
      case 'git': {
        const problem = gitUrlProblem(source.url);
        if (problem) throw new PermanentError(`source.url ${problem}`);
        let token: string | null = null;
        if (source.token_secret) {
          token = this.secret(source.token_secret);
          if (token === null)
            throw new PermanentError(
              `The secret ${source.token_secret} is not among the local secrets`,
              'Add it to the file BATON_LOCAL_SECRETS_FILE names ({"name": "value"}) and restart Baton',
            );
        }
        log(
          `Fetching ${withoutCredentials(source.url)} at ${source.ref}${source.path ? ` (folder ${source.path})` : ''}, shallow${token ? `, with the token in ${source.token_secret}` : ''}`,
        );
        const { root, commit } = await shallowClone({
          url: source.url,
          ref: source.ref,
          dest: join(scratch, 'repo'),
          token,
          timeoutMs: 120_000,
          path: source.path,
        });
        log(`Commit ${commit}`);
        this.commits.set(scratch, commit);
        return root;
      }
      case 'archive': {
        const dest = join(scratch, 'archive');
        const data = await readFile(this.blobs.pathOf(source.blob_key));
        await extractArchive(data, source.format, dest, this.archiveLimits()).catch((err: unknown) => {
          throw err instanceof ArchiveRefused ? new PermanentError(err.message, err.fix) : err;
        });
        return dest;
      }
      case 'config': {
        const dest = join(scratch, 'agent');
        await cp(AGENT_RUNTIME, dest, { recursive: true });
        await writeFile(join(dest, 'agent-config.json'), JSON.stringify(config));
        return dest;
      }
      case 'image':
        throw new PermanentError('The local target cannot run a prebuilt image', 'Deploy a directory, an archive or a git repository');
    }
  }

  private archiveLimits(): ArchiveLimits {
    return { maxEntries: this.caps.maxFiles, maxBytes: this.caps.maxBytes, maxRatio: this.maxRatio };
  }

  private workDirFor(): string {
    return this.workDir || tmpdir();
  }
}

function describe(source: Source): string {
  switch (source.type) {
    case 'directory':
      return source.path;
    case 'git':
      return `${withoutCredentials(source.url)}#${source.ref}`;
    case 'archive':
      return `an uploaded .${source.format}`;
    case 'config':
      return 'the agent config on the bundled runtime';
    case 'image':
      return source.image;
  }
}
