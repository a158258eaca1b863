import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTarGz, listSource, packTarGz } from '../../shared/adapters/local/archive.js';
import { PermanentError } from '../../shared/domain/errors.js';

const CAPS = { maxBytes: 1e8, maxFiles: 10_000 };
const dirs: string[] = [];
const temp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), `baton-links-${p}-`));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(root: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  for (const [rel, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    symlinkSync(target, join(root, rel));
  }
  return root;
}

/** Packs the whole folder as an artifact is packed (node_modules included), then unpacks it elsewhere. */
async function roundTrip(src: string): Promise<string> {
  const { entries } = await listSource(src, CAPS, { skip: new Set(['.git']) });
  const file = join(temp('out'), 'a.tar.gz');
  await packTarGz(src, entries, file);
  const dest = join(temp('dest'), 'app');
  await extractTarGz(file, dest, CAPS);
  return dest;
}

const permanent = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PermanentError);
  return (err as PermanentError).userMessage();
};

describe('links survive the artifact', () => {
  it('keeps node_modules/.bin links, a linked local package and a Next-style .next/node_modules link', async () => {
    const src = tree(
      temp('src'),
      {
        'package.json': '{"name":"app","scripts":{"start":"greet"}}',
        'tools/greeter/bin.js': '#!/usr/bin/env node\nconsole.log("hi")\n',
        'node_modules/dep/index.js': 'module.exports = 42;\n',
      },
      {
        'node_modules/greeter': '../tools/greeter',
        'node_modules/.bin/greet': '../greeter/bin.js',
        '.next/node_modules/dep-1a2b3c': '../../node_modules/dep',
      },
    );
    const dest = await roundTrip(src);
    expect(readlinkSync(join(dest, 'node_modules/.bin/greet'))).toBe('../greeter/bin.js');
    expect(readlinkSync(join(dest, 'node_modules/greeter'))).toBe('../tools/greeter');
    // Followed through two links, as a shell running `greet` would.
    expect(readFileSync(join(dest, 'node_modules/.bin/greet'), 'utf8')).toContain('console.log("hi")');
    expect(readFileSync(join(dest, '.next/node_modules/dep-1a2b3c/index.js'), 'utf8')).toBe('module.exports = 42;\n');
  });

  it('keeps empty folders', async () => {
    const src = tree(temp('src'), { 'package.json': '{}' });
    mkdirSync(join(src, 'uploads'));
    const dest = await roundTrip(src);
    expect(statSync(join(dest, 'uploads')).isDirectory()).toBe(true);
  });

  it.each([
    ['a link out of the folder', '../../outside'],
    ['an absolute link', '/etc/passwd'],
  ])('refuses %s when packing, naming it', async (_what, target) => {
    const src = tree(temp('src'), { 'package.json': '{}' }, { 'lib/shared': target });
    const message = await permanent(listSource(src, CAPS));
    expect(message).toContain('lib/shared');
    expect(message).toContain(target);
  });

  it('refuses a chain that normalises inside but resolves outside (d -> ., x -> d/..)', async () => {
    const src = tree(temp('src'), { 'package.json': '{}' }, { d: '.', x: 'd/..' });
    expect(await permanent(listSource(src, CAPS))).toContain('x points to d/..');
  });

  it('refuses an uploaded archive holding a link out of it, with a permanent error', async () => {
    const src = tree(temp('src'), { 'package.json': '{}' }, { escape: '../../../etc', d: '.', x: 'd/../..' });
    const file = join(temp('out'), 'up.tar.gz');
    execFileSync('tar', ['-czf', file, '-C', src, 'package.json', 'escape']);
    expect(await permanent(extractTarGz(file, join(temp('dest'), 'a'), CAPS))).toContain('escape points to ../../../etc');
    const chained = join(temp('out'), 'chain.tar.gz');
    execFileSync('tar', ['-czf', chained, '-C', src, 'package.json', 'd', 'x']);
    expect(await permanent(extractTarGz(chained, join(temp('dest'), 'b'), CAPS))).toContain('x points to d/../..');
  });

  it('packs a top-level folder whose name starts with @ (node-tar would read "@types/…" as an archive to merge)', async () => {
    const src = tree(temp('src'), {
      'package.json': '{}',
      '@types/global.d.ts': 'declare const x: number;\n',
      'src/@scope/util.js': 'module.exports = 1;\n',
    });
    const dest = await roundTrip(src);
    expect(readFileSync(join(dest, '@types/global.d.ts'), 'utf8')).toBe('declare const x: number;\n');
    expect(readFileSync(join(dest, 'src/@scope/util.js'), 'utf8')).toBe('module.exports = 1;\n');
  });

  it('packs names the system tar could read as options or commands (-C, --files-from, a newline) as names, with modes and links', async () => {
    const src = tree(
      temp('src'),
      { 'package.json': '{}', '-C': 'dash\n', '--files-from=x': 'long\n', 'two\nlines.js': 'nl\n', 'bin/run': '#!/bin/sh\n' },
      { 'node_modules/.bin/run': '../../bin/run' },
    );
    execFileSync('chmod', ['755', join(src, 'bin/run')]);
    const dest = await roundTrip(src);
    expect(readFileSync(join(dest, '-C'), 'utf8')).toBe('dash\n');
    expect(readFileSync(join(dest, '--files-from=x'), 'utf8')).toBe('long\n');
    expect(readFileSync(join(dest, 'two\nlines.js'), 'utf8')).toBe('nl\n');
    expect(readlinkSync(join(dest, 'node_modules/.bin/run'))).toBe('../../bin/run');
    expect(statSync(join(dest, 'bin/run')).mode & 0o111).not.toBe(0);
  });
});
