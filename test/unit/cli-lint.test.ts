import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, run } from '../../shared/cli/main.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function folder(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'baton-cli-lint-'));
  dirs.push(d);
  for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), v);
  return d;
}
function io(cwd: string): CliIo & { out: () => string } {
  let out = '';
  return { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => undefined }, env: {}, cwd, out: () => out };
}

describe('baton lint [dir]', () => {
  it('prints hadolint-shaped JSON and exits 1 on an error', async () => {
    const dir = folder({ Dockerfile: 'FROM node:22-slim\nUSER node\nCMD ["sh", "-c", "npm ci && node a.js"]\n' });
    const t = io(dir);
    expect(await run(['lint', '--format', 'json'], t)).toBe(1);
    const findings = JSON.parse(t.out()) as { code: string; level: string; line: number }[];
    expect(findings).toContainEqual(expect.objectContaining({ code: 'BTN004', level: 'error', line: 3 }));
  });

  it('SARIF, exit 0 with warnings only', async () => {
    const dir = folder({ Dockerfile: 'FROM node:22\nWORKDIR /app\nCMD ["node", "a.js"]\n' });
    const t = io('/');
    expect(await run(['lint', dir, '--format', 'sarif'], t)).toBe(0);
    const sarif = JSON.parse(t.out()) as { version: string; runs: { results: { ruleId: string }[] }[] };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].results.map((r) => r.ruleId)).toEqual(['BTN006']);
  });

  it('no Dockerfile: lints the one Baton would generate; an unsupported folder says what to add (exit 4, bad input)', async () => {
    const t = io('/');
    expect(await run(['lint', folder({ 'package.json': '{"scripts":{"start":"node a.js"}}' })], t)).toBe(0);
    expect(t.out()).toContain('Dockerfile (generated)');
    const u = io('/');
    expect(await run(['lint', folder({ 'notes.txt': '' })], u)).toBe(4);
    expect(u.out()).toMatch(/found notes\.txt.*Add a package\.json/);
  });

  it('a path that is no folder is bad input (4), not a failed lint (1) nor "rolled back" (2)', async () => {
    const dir = folder({ 'notes.txt': '' });
    let err = '';
    const t = { ...io('/'), stderr: { write: (s: string) => (err += s) } };
    expect(await run(['lint', join(dir, 'missing')], t)).toBe(4);
    expect(err).toContain('is not one');
    expect(await run(['lint', join(dir, 'notes.txt')], io('/'))).toBe(4);
  });
});
