import { rmSync } from 'node:fs';
import { afterEach } from 'vitest';
import { LocalTaskQueue } from '../../shared/adapters/local/task-queue.js';
import { type GiveUp, type QueueHarness, taskQueueContract } from './suites/task-queue.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

function localHarness(dir: string, onGiveUp: GiveUp): QueueHarness {
  const queue = new LocalTaskQueue(dir, onGiveUp);
  return {
    queue,
    register: (name, handler, policy) => queue.register(name, handler, policy),
    restart: async () => {
      queue.stop();
      await queue.flush();
      return localHarness(dir, onGiveUp);
    },
    resume: () => void queue.resume(),
    cleanup: async () => {
      queue.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

taskQueueContract('LocalTaskQueue on a folder', async ({ onGiveUp }) => localHarness(temp.make('tasks'), onGiveUp));
