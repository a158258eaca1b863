import { z } from 'zod';
import { withoutCredentials } from './redact.js';

/**
 * What a git source may name, checked at the API before anything is queued: https:// (http:// only
 * to a loopback address, and only where the target allows it: the local one, for tests); no
 * file://, ext::, ssh or scp-like forms, nothing git could read as an option, no control
 * characters. A ref is a branch, a tag or a commit sha; `path` a subfolder (a monorepo's service).
 */
export const GitUrlSchema = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((url, ctx) => {
    const problem = gitUrlProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export function gitUrlProblem(url: string): string | null {
  if (url.startsWith('-')) return 'must not start with "-" (git would read it as an option)';
  if (/^ext::/i.test(url) || url.includes('::')) return 'transport helpers (ext::, fd:: …) are refused';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses.
  if (/[\s\0-\x1f\x7f]/.test(url)) return 'must not hold spaces or control characters';
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url);
  if (!m) return 'must be an https:// URL (scp-like user@host:path and local paths are refused)';
  const scheme = m[1].toLowerCase();
  // The host after any credentials (which may hold unescaped slashes), before the port or path.
  const rest = m[2].split('?')[0];
  const host = (rest.includes('@') ? rest.slice(rest.lastIndexOf('@') + 1) : rest).split('/')[0].replace(/:\d*$/, '');
  if (scheme === 'https') return host ? null : 'must name a host';
  if (scheme === 'http')
    return isLoopback(host) ? null : 'http:// is allowed only to a loopback address (tests on the local target); use https://';
  return `${scheme}:// is refused: use https://`;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export const GitRefSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(
    /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!\/)[A-Za-z0-9._/-]+$/,
    'must be a branch, tag or commit sha (letters, digits, . _ / -; not starting with "-", no "..")',
  );

export const GitPathSchema = z
  .string()
  .min(1)
  .max(512)
  .regex(/^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]+$/, 'must be a relative folder inside the repository (no "..")');

export const isCommitSha = (ref: string) => /^[0-9a-f]{40}$/i.test(ref);

/** A Secret Manager secret id: letters, digits, `_` and `-`, at most 255. */
export const SecretIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'must be a Secret Manager secret id');

/** A host name with an optional port, lowercase: `github.com`, `git.example.com:8443`. */
export const GitHostSchema = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$/,
    'must be a lowercase host name, with an optional :port',
  );

/**
 * Which hosts each token may be sent to, on the gcp target: {secret id → host}. A deployment's
 * `token_secret` must be one of these, for a URL on that secret's host: otherwise anyone allowed
 * to deploy could send a shared token to a server of their own (a git URL they control).
 */
export const GitTokenSecretsSchema = z.record(SecretIdSchema, GitHostSchema);
export type GitTokenSecrets = z.infer<typeof GitTokenSecretsSchema>;

/** The host (and a port other than the scheme's default) of a git URL, lowercase. */
export function gitHost(url: string): string {
  const u = new URL(url);
  return u.host.toLowerCase();
}

/**
 * What the gcp target refuses of a git source, beyond what the request schema refuses anywhere:
 * plain http:// (for tests on the local target only), credentials in the URL (they would be in
 * the Cloud Build request, which every reader of the project's builds sees: a token goes in Secret
 * Manager and is named by `token_secret`), and a `token_secret` that is not among those the builds
 * may read, or is for another host. Pure: the API calls it before anything is queued.
 */
export function cloudGitSourceProblem(
  source: { url: string; token_secret?: string },
  tokenSecrets: GitTokenSecrets,
): { field: string; message: string } | null {
  if (!/^https:\/\//i.test(source.url))
    return { field: 'source.url', message: 'must be an https:// URL on the gcp target (http:// is for tests on the local target)' };
  if (withoutCredentials(source.url) !== source.url)
    return {
      field: 'source.url',
      message:
        'must not hold credentials on the gcp target (they would be in the Cloud Build request): put the token in Secret Manager and name it in source.token_secret',
    };
  if (source.token_secret === undefined) return null;
  const host = tokenSecrets[source.token_secret];
  const known = Object.keys(tokenSecrets);
  if (host === undefined)
    return {
      field: 'source.token_secret',
      message: `${source.token_secret} is not among the secrets Baton's builds may read (${known.length ? known.join(', ') : 'none'}): add it to the Terraform variable git_token_secrets with its host, and apply`,
    };
  const urlHost = gitHost(source.url);
  if (urlHost !== host)
    return {
      field: 'source.token_secret',
      message: `${source.token_secret} is a token for ${host}, and source.url is on ${urlHost}: a token is sent to its own host only`,
    };
  return null;
}
