import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../shared/cli/main.js';
import { getText } from '../support/stack.js';

/**
 * `npm run demo` as a user runs it: what it prints must work while it serves, what it prints when
 * it stops must not point at the stopped control plane, and it leaves nothing in the temp folder
 * (each run gets its own TMPDIR, which must be empty afterwards).
 */
const ROOT = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];

function demo(...args: string[]) {
  const tmp = mkdtempSync(join(tmpdir(), 'baton-demo-test-'));
  dirs.push(tmp);
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, PORT: '0', CI: '' };
  delete env.BATON_DATA_DIR;
  // As `npm run demo` starts it (node --import tsx: no relaying tsx process between a signal and the
  // demo, which would SIGKILL it when it is slow to acknowledge one), in a process group of its
  // own, so Ctrl-C can be sent as a terminal sends it: to the whole group.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: 'pipe',
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { tmp, child, exited, out: () => out };
}

/** What is left in a run's TMPDIR besides the caches of Node and tsx themselves, which are not the demo's. */
const leftovers = (tmp: string) => readdirSync(tmp).filter((n) => n !== 'node-compile-cache' && !/^tsx-\d+$/.test(n));

async function until(what: () => boolean, child: ChildProcess, ms = 45_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (child.exitCode !== null || Date.now() > end) throw new Error('the demo did not get there');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm run demo', () => {
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('with --serve keeps serving what its hint names until Ctrl-C, then removes its temp folders', async () => {
    const d = demo('--serve');
    try {
      await until(() => d.out().includes('Press Ctrl-C'), d.child);
      const url = /Try, while this runs: BATON_URL=(\S+) npm run baton -- status/.exec(d.out())?.[1] ?? '';
      const svcUrl = /curl (\S+)/.exec(d.out())?.[1] ?? '';
      let out = '';
      const code = await run(['status'], {
        stdout: { write: (s: string) => (out += s) },
        stderr: { write: (s: string) => (out += s) },
        env: { BATON_URL: url },
        cwd: ROOT,
      });
      expect(code, out).toBe(0);
      expect(out.match(/hello\s+deployment\s+completed/g)).toHaveLength(2);
      expect((await getText(svcUrl)).body).toContain('v2');
      expect(leftovers(d.tmp).length).toBeGreaterThan(0);
    } finally {
      if (d.child.pid !== undefined) process.kill(-d.child.pid, 'SIGINT');
    }
    expect(await d.exited).toBe(0);
    expect(leftovers(d.tmp)).toEqual([]);
  });

  it('with --once (as in CI) stops, prints a hint that does not need it, and removes its temp folders', async () => {
    const d = demo('--once');
    expect(await d.exited, d.out()).toBe(0);
    expect(d.out()).toContain('completed');
    expect(d.out()).toContain('To keep one running: npm start, then in another shell: npm run baton -- deploy examples/hello --wait');
    expect(d.out()).not.toContain('Try, while this runs');
    expect(leftovers(d.tmp)).toEqual([]);
  });
});
