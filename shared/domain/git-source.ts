import { z } from 'zod';

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
