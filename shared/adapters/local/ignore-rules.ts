import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What a source folder says not to upload, as `gcloud run deploy --source` reads it: its
 * `.gcloudignore`, else its `.dockerignore`, else its `.gitignore` (only the one at the root).
 * gitignore syntax for .gcloudignore and .gitignore (with gcloud's `#!include:FILE`); for
 * .dockerignore every pattern is anchored at the root, as Docker matches them.
 *
 * Not modelled: nested .gitignore files; Docker's re-inclusion of a file inside an excluded folder
 * (a folder left out here is never entered, as git does).
 */
export interface IgnoreRules {
  file: string;
  ignores(rel: string, isDir: boolean): boolean;
}

interface Rule {
  negate: boolean;
  dirOnly: boolean;
  regex: RegExp;
}

export const IGNORE_FILES = ['.gcloudignore', '.dockerignore', '.gitignore'] as const;

export async function loadIgnoreRules(root: string): Promise<IgnoreRules | null> {
  for (const file of IGNORE_FILES) {
    const text = await readFile(join(root, file), 'utf8').catch(() => null);
    if (text === null) continue;
    const lines = file === '.gcloudignore' ? await withIncludes(root, text) : text.split(/\r?\n/);
    return compileIgnore(lines, file === '.dockerignore' ? 'docker' : 'git', file);
  }
  return null;
}

async function withIncludes(root: string, text: string): Promise<string[]> {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const include = /^#!include:(.+)$/.exec(line.trim());
    if (!include) {
      out.push(line);
      continue;
    }
    const name = include[1].trim();
    // Only files of the source itself: an include may not reach above it.
    if (name.startsWith('/') || name.split('/').includes('..')) continue;
    const included = await readFile(join(root, name), 'utf8').catch(() => '');
    out.push(...included.split(/\r?\n/));
  }
  return out;
}

/** Compiles ignore-file lines; the last rule that matches a path decides, a `!` rule re-includes. */
export function compileIgnore(lines: string[], flavour: 'git' | 'docker', file = '.gitignore'): IgnoreRules {
  const rules = lines.map((l) => parseLine(l, flavour)).filter((r): r is Rule => r !== null);
  return {
    file,
    ignores(rel, isDir) {
      let ignored = false;
      for (const r of rules) {
        if (r.dirOnly && !isDir) continue;
        if (r.regex.test(rel)) ignored = !r.negate;
      }
      return ignored;
    },
  };
}

function parseLine(raw: string, flavour: 'git' | 'docker'): Rule | null {
  // Trailing spaces are dropped unless escaped with a backslash.
  let line = raw.replace(/(?<!\\)\s+$/, '');
  if (flavour === 'docker') line = line.trim();
  if (line === '' || line.startsWith('#')) return null;
  let negate = false;
  if (line.startsWith('!')) {
    negate = true;
    line = line.slice(1);
  } else if (line.startsWith('\\!') || line.startsWith('\\#')) line = line.slice(1);
  let dirOnly = false;
  if (line.endsWith('/')) {
    dirOnly = flavour === 'git';
    line = line.replace(/\/+$/, '');
  }
  if (flavour === 'docker') line = line.replace(/^(\.\/)+/, '');
  // A slash at the start or in the middle anchors the pattern at the root; otherwise it matches at any depth.
  const anchored = flavour === 'docker' || line.includes('/');
  line = line.replace(/^\/+/, '');
  if (line === '') return null;
  const body = globToRegex(line);
  return { negate, dirOnly, regex: new RegExp(`^${anchored ? '' : '(?:.*/)?'}${body}$`) };
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const before = i === 0 || glob[i - 1] === '/';
        const after = i + 2 === glob.length || glob[i + 2] === '/';
        if (before && after) {
          if (i + 2 === glob.length) {
            // "a/**": everything inside a; a leading "**" alone: everything.
            out += '.*';
          } else {
            // "**/": zero or more folders.
            out += '(?:.*/)?';
            i++;
          }
          i++;
          continue;
        }
      }
      out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) out += '\\[';
      else {
        let set = glob.slice(i + 1, close);
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        out += `[${set.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[i + 1]);
      i++;
    } else out += escapeRegex(c);
  }
  return out;
}

const escapeRegex = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
