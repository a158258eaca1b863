import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.js';
import { type BusHarness, eventBusContract } from './suites/event-bus.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

function localHarness(dir: string, options: { duplicateDelivery?: boolean }): BusHarness {
  const bus = new LocalEventBus(dir, options);
  return {
    bus,
    subscribe: (name, topic, handler, policy) => bus.subscribe(name, topic, handler, policy),
    idle: () => bus.idle(),
    restart: async () => {
      bus.stop();
      await bus.flush();
      return localHarness(dir, options);
    },
    resume: () => void bus.resume(),
    cleanup: async () => {
      bus.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

eventBusContract('LocalEventBus on a folder', async (options) => localHarness(temp.make('bus'), options));

describe('LocalEventBus: local specifics', () => {
  it('keeps nothing in the folder once every subscription acknowledged', async () => {
    const dir = temp.make('bus-ack');
    const bus = new LocalEventBus(dir);
    bus.subscribe('s', 't', async () => {}, { maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 10 });
    await bus.publish('t', Buffer.from('x'));
    await bus.idle();
    const again = new LocalEventBus(dir);
    let n = 0;
    again.subscribe('s', 't', async () => void n++, { maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 10 });
    expect(again.resume()).toBe(0);
    await again.idle();
    expect(n).toBe(0);
    expect(bus.counters).toMatchObject({ published: 1, delivered: 1, failed: 0, deadLettered: 0 });
    bus.stop();
    again.stop();
  });

  it('refuses to publish once stopped', async () => {
    const bus = new LocalEventBus(null);
    bus.stop();
    await expect(bus.publish('t', Buffer.from('x'))).rejects.toThrow(/stopped/);
  });
});
