import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChildStack, processesIn, stackFixtures } from '../support/child-stack.js';
import { TestStack } from '../support/stack.js';

/**
 * The local stack's lifecycle: a signal to npm or to Baton stops the whole tree, one stack per
 * data folder, nothing touched before the port is bound, and nothing left by a stack that died.
 */
const { dirs, stacks, dataDir } = stackFixtures<ChildStack | TestStack>('baton-lifecycle-');

/** Alive and not a zombie (an orphan's zombie waits for whoever adopted it to reap it). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A stack with one completed deployment; returns it and the PIDs of its revision. */
async function serving(data: string, via: 'node' | 'npm') {
  const stack = await ChildStack.start(data, {}, via);
  stacks.push(stack);
  const id = await stack.deploy('life');
  const { job } = await stack.waitFinal(id, 60_000);
  expect(job.status, job.error_message ?? '').toBe('completed');
  const revision = processesIn(data);
  expect(revision.length).toBeGreaterThan(0);
  return { stack, job, revision };
}

describe('stopping the local stack', () => {
  it.each([
    ['npm', 'SIGTERM'],
    ['npm', 'SIGHUP'],
    ['baton', 'SIGINT'],
    ['baton', 'SIGHUP'],
  ] as const)(
    '%s receiving %s stops Baton and every revision',
    async (target, sig) => {
      const data = dataDir();
      const { stack, revision } = await serving(data, target === 'npm' ? 'npm' : 'node');
      const baton = stack.batonPid;
      expect(baton).toBeGreaterThan(0);
      if (target === 'npm') await stack.signal(sig);
      else process.kill(baton, sig);
      await until('Baton and its revisions to be gone', () => !alive(baton) && revision.every((p) => !alive(p)));
      expect(processesIn(data).filter(alive)).toEqual([]);
    },
    90_000,
  );
});

describe('one stack per data folder', () => {
  it('refuses a second stack on a data folder a live one holds, naming its PID; starts once it stopped', async () => {
    const first = await TestStack.start();
    stacks.push(first);
    dirs.push(first.dir);
    await expect(TestStack.start({}, first.dir)).rejects.toThrow(
      new RegExp(`${first.dir} is in use by another Baton stack \\(PID ${process.pid},.*Stop it first \\(kill ${process.pid}\\)`),
    );
    await first.stop();
    stacks.splice(0);
    const second = await TestStack.start({}, first.dir);
    stacks.push(second);
    expect(JSON.parse(readFileSync(join(first.dir, 'stack.lock'), 'utf8')).pid).toBe(process.pid);
  });

  it('takes over the lock of a stack that is no longer running', async () => {
    const data = dataDir();
    const dead = spawnSync('true').pid;
    writeFileSync(join(data, 'stack.lock'), JSON.stringify({ pid: dead, start: '1', since: '2026-01-01T00:00:00Z' }));
    const stack = await TestStack.start({}, data);
    stacks.push(stack);
    expect(JSON.parse(readFileSync(join(data, 'stack.lock'), 'utf8')).pid).toBe(process.pid);
  });
});

describe('a start that cannot bind its port', () => {
  it('fails with EADDRINUSE explained, and neither rewrites the saved state nor starts a revision', async () => {
    const first = await TestStack.start();
    dirs.push(first.dir);
    const id = await first.deploy('kept', 'healthy');
    expect((await first.waitFinal(id)).status).toBe('completed');
    await first.stop();
    const file = join(first.dir, 'runtime.json');
    const before = { text: readFileSync(file, 'utf8'), ino: statSync(file).ino, mtime: statSync(file).mtimeMs };
    const store = readdirSync(join(first.dir, 'store'), { recursive: true }).sort();
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (busy.address() as { port: number }).port;
      await expect(TestStack.start({ PORT: String(port) }, first.dir)).rejects.toThrow(
        new RegExp(`Port ${port} .* is in use by another program`),
      );
      expect({ text: readFileSync(file, 'utf8'), ino: statSync(file).ino, mtime: statSync(file).mtimeMs }).toEqual(before);
      expect(readdirSync(join(first.dir, 'store'), { recursive: true }).sort()).toEqual(store);
      expect(processesIn(first.dir)).toEqual([]);
      expect(existsSync(join(first.dir, 'stack.lock'))).toBe(false);
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });
});

describe('kill -9 of the control plane', () => {
  it('the next start stops the revisions the dead stack left, then runs each once and serves the same URL', async () => {
    const data = dataDir();
    const { stack, job, revision } = await serving(data, 'node');
    await stack.kill();
    stacks.splice(stacks.indexOf(stack), 1);
    // The premise: the revision outlived the killed stack.
    expect(revision.some(alive)).toBe(true);
    const again = await ChildStack.start(data);
    stacks.push(again);
    await until('the service URL to serve again', async () => (await fetch(job.service_url ?? '').catch(() => null))?.status === 200);
    expect(revision.filter(alive)).toEqual([]);
    expect(again.output.some((l) => /revision \S+ was still running \(PID \d+\) from a stack that did not stop cleanly/.test(l))).toBe(
      true,
    );
    // Never two processes of one revision: one process group runs from the data folder.
    const groups = new Set(
      processesIn(data)
        .filter(alive)
        .map((p) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[2]),
    );
    expect(groups.size).toBe(1);
  }, 90_000);
});
