import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { relocateVenvScripts } from '../../shared/adapters/local/toolchains.js';

/** Both shebang forms pip writes into a venv's bin/, rewritten to find the python beside the script; anything else left alone. */
describe('relocateVenvScripts', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('rewrites #!<venv>/bin/python and the unquoted long-path trampoline; keeps the body and the mode', async () => {
    const venv = join(mkdtempSync(join(tmpdir(), 'baton-venv-')), '.venv');
    dirs.push(venv);
    const bin = join(venv, 'bin');
    mkdirSync(bin, { recursive: true });
    const body = 'import sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n';
    const files: Record<string, string> = {
      pip: `#!${bin}/python3\n${body}`,
      gunicorn: `#!/bin/sh\n'''exec' ${bin}/python3.11 "$0" "$@"\n' '''\n${body}`,
      quoted: `#!/bin/sh\n'''exec' "${bin}/python" "$0" "$@"\n' '''\n${body}`,
      other: `#!/usr/bin/python3\n${body}`,
      activate: '# This file must be used with "source bin/activate"\n',
    };
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(bin, name), text);
      chmodSync(join(bin, name), 0o755);
    }
    expect(await relocateVenvScripts(venv)).toBe(3);
    const tramp = (py: string) => `#!/bin/sh\n'''exec' "$(dirname -- "$0")/${py}" "$0" "$@"\n' '''\n${body}`;
    expect(readFileSync(join(bin, 'pip'), 'utf8')).toBe(tramp('python3'));
    expect(readFileSync(join(bin, 'gunicorn'), 'utf8')).toBe(tramp('python3.11'));
    expect(readFileSync(join(bin, 'quoted'), 'utf8')).toBe(tramp('python'));
    expect(readFileSync(join(bin, 'other'), 'utf8')).toBe(files.other);
    expect(readFileSync(join(bin, 'activate'), 'utf8')).toBe(files.activate);
    expect(statSync(join(bin, 'gunicorn')).mode & 0o777).toBe(0o755);
  });
});
