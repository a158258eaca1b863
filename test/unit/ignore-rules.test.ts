import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listSource } from '../../shared/adapters/local/archive.js';
import { compileIgnore } from '../../shared/adapters/local/ignore-rules.js';

describe('gitignore semantics', () => {
  const git = (text: string) => compileIgnore(text.split('\n'), 'git');
  it.each([
    // pattern, path, is a folder, ignored
    ['*.log', 'debug.log', false, true],
    ['*.log', 'logs/deep/debug.log', false, true],
    ['*.log', 'debug.log.txt', false, false],
    ['.next', '.next', true, true],
    ['.next', 'apps/web/.next', true, true],
    ['dist/', 'dist', true, true],
    ['dist/', 'dist', false, false],
    ['/build', 'build', true, true],
    ['/build', 'src/build', true, false],
    ['docs/*.md', 'docs/a.md', false, true],
    ['docs/*.md', 'docs/sub/a.md', false, false],
    ['docs/*.md', 'x/docs/a.md', false, false],
    ['**/cache', 'a/b/cache', true, true],
    ['**/cache', 'cache', true, true],
    ['a/**/z', 'a/z', false, true],
    ['a/**/z', 'a/b/c/z', false, true],
    ['out/**', 'out/x/y.js', false, true],
    ['file?.txt', 'file1.txt', false, true],
    ['file?.txt', 'file10.txt', false, false],
    ['[ab].js', 'a.js', false, true],
    ['[!ab].js', 'a.js', false, false],
    ['[!ab].js', 'c.js', false, true],
    ['\\#notes', '#notes', false, true],
    ['# a comment', '# a comment', false, false],
    ['.env*\n!.env.example', '.env.local', false, true],
    ['.env*\n!.env.example', '.env.example', false, false],
    ['*.js\n!keep.js\nkeep.js', 'keep.js', false, true],
    ['trailing   ', 'trailing', false, true],
  ] as const)('%j on %s (folder: %s) → ignored %s', (pattern, path, isDir, ignored) => {
    expect(git(pattern).ignores(path, isDir)).toBe(ignored);
  });

  it('.dockerignore patterns are anchored at the root', () => {
    const docker = compileIgnore(['node_modules', '*.md', '**/*.log', 'tmp/'], 'docker');
    expect(docker.ignores('README.md', false)).toBe(true);
    expect(docker.ignores('docs/README.md', false)).toBe(false);
    expect(docker.ignores('a/b/x.log', false)).toBe(true);
    expect(docker.ignores('tmp', true)).toBe(true);
  });
});

describe('which ignore file a source copy honours', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const source = (files: Record<string, string>) => {
    const root = mkdtempSync(join(tmpdir(), 'baton-ignore-'));
    dirs.push(root);
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), content);
    }
    return root;
  };
  const base = {
    'package.json': '{}',
    'server.js': '',
    '.next/cache/big.bin': 'x'.repeat(1000),
    'notes.md': '',
    'secret.env': '',
  };
  const CAPS = { maxBytes: 1e8, maxFiles: 1000 };

  it('.gcloudignore first, with #!include:.gitignore', async () => {
    const root = source({
      ...base,
      '.gcloudignore': '#!include:.gitignore\n*.md\n',
      '.dockerignore': 'server.js\n',
      '.gitignore': '.next/\n',
    });
    const { files, ignored } = await listSource(root, CAPS, { ignoreFiles: true });
    expect(files.sort()).toEqual(['.dockerignore', '.gcloudignore', '.gitignore', 'package.json', 'secret.env', 'server.js']);
    expect(ignored).toEqual({ file: '.gcloudignore', count: 2 });
  });

  it('.dockerignore when there is no .gcloudignore', async () => {
    const root = source({ ...base, '.dockerignore': 'secret.env\n.next\n', '.gitignore': 'server.js\n' });
    const { files } = await listSource(root, CAPS, { ignoreFiles: true });
    expect(files).toContain('server.js');
    expect(files).not.toContain('secret.env');
    expect(files.some((f) => f.startsWith('.next/'))).toBe(false);
  });

  it('.gitignore last; without any, everything but node_modules and .git', async () => {
    const ignoredByGit = await listSource(source({ ...base, '.gitignore': '.next\n*.env\n' }), CAPS, { ignoreFiles: true });
    expect(ignoredByGit.files.sort()).toEqual(['.gitignore', 'notes.md', 'package.json', 'server.js']);
    const plain = await listSource(source(base), CAPS, { ignoreFiles: true });
    expect(plain.files).toContain('.next/cache/big.bin');
    expect(plain.ignored).toBeNull();
  });
});
