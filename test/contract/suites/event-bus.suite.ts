import { afterEach, describe, expect, it } from 'vitest';
import type { BusMessage, EventBus } from '../../../shared/ports/index.js';
import { sleep, waitFor } from './util.js';

/**
 * The EventBus contract plus the subscription semantics the pipeline relies on (Pub/Sub push
 * subscriptions with retry policy and dead-lettering). Subscriptions are infrastructure, not part
 * of the port, so the suite drives them through a small harness: the local one wraps
 * LocalEventBus.subscribe; a gcp one creates emulator subscriptions pushing to a test endpoint.
 *
 * What the local adapter does NOT prove about the real service: local delivery is in-process and
 * ordered by timers, its back-off is exact and its dead-letter publish happens inside the bus;
 * Pub/Sub delivers from another process, may reorder, batches, applies back-off approximately and
 * dead-letters via a separate topic with its own attribute names (CloudPubSubDeadLetterSource*),
 * which a gcp dead-letter handler has to map onto source_topic / delivery_attempts / last_error.
 * Durability across a restart is a folder here and Pub/Sub's storage there; duplicate delivery is
 * forced here and merely possible there.
 */

export type Handler = (msg: BusMessage) => Promise<void>;

export interface SubscriptionPolicy {
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  deadLetterTopic?: string;
}

export interface BusHarness {
  bus: EventBus;
  /** Creates (or re-attaches to, after a restart) the named subscription on a topic. */
  subscribe(name: string, topic: string, handler: Handler, policy: SubscriptionPolicy): void;
  /** Resolves when no delivery is running or scheduled. */
  idle(): Promise<void>;
  /** Stops delivering (unacknowledged messages stay stored) and returns a harness over the same storage. */
  restart(): Promise<BusHarness>;
  /** Delivers what a previous run left unacknowledged; call after subscribing. */
  resume(): void;
  cleanup(): Promise<void>;
}

export type MakeBus = (options: { duplicateDelivery?: boolean }) => Promise<BusHarness>;

/**
 * What a harness's broker can show; a case it cannot is skipped (all true by default).
 * - deadLetter: a subscription stops after maxAttempts and, with a dead-letter topic, republishes
 *   the message there with source_topic / delivery_attempts / last_error.
 * - restart: the broker itself stops and starts again over the same storage (restart/resume).
 */
export interface BusCapabilities {
  deadLetter?: boolean;
  restart?: boolean;
}

const FAST: SubscriptionPolicy = { maxAttempts: 5, minBackoffMs: 20, maxBackoffMs: 200 };

function uniqueTopic(base: string): string {
  return `${base}-${Math.random().toString(36).slice(2, 8)}`;
}

export function eventBusContract(name: string, makeBus: MakeBus, capabilities: BusCapabilities = {}): void {
  const itDeadLetter = capabilities.deadLetter === false ? it.skip : it;
  const itRestart = capabilities.restart === false ? it.skip : it;
  describe(`EventBus contract: ${name}`, () => {
    const harnesses: BusHarness[] = [];
    const open = async (options: { duplicateDelivery?: boolean } = {}) => {
      const h = await makeBus(options);
      harnesses.push(h);
      return h;
    };
    afterEach(async () => {
      for (const h of harnesses.splice(0).reverse()) await h.cleanup();
    });

    it('delivers a message with its data, attributes and id intact', async () => {
      const h = await open();
      const topic = uniqueTopic('intact');
      const got: BusMessage[] = [];
      h.subscribe('intact-sub', topic, async (m) => void got.push(m), FAST);
      const data = Buffer.from([0, 1, 2, 254, 255, ...Buffer.from('héllo {"json":true}')]);
      const before = Date.now();
      const id = await h.bus.publish(topic, data, { deployment_id: 'd-1', event_type: 'deployment.requested.v1', spaced: 'a b' });
      expect(id).toEqual(expect.any(String));
      expect(id.length).toBeGreaterThan(0);
      await waitFor('the delivery', () => got.length >= 1);
      await h.idle();
      expect(got).toHaveLength(1);
      const [m] = got;
      expect(Buffer.compare(m.data, data)).toBe(0);
      expect(m.attributes).toEqual({ deployment_id: 'd-1', event_type: 'deployment.requested.v1', spaced: 'a b' });
      expect(m.messageId).toBe(id);
      expect(m.deliveryAttempt).toBe(1);
      expect(Date.parse(m.publishTime)).toBeGreaterThanOrEqual(before - 1000);
    });

    it('gives each published message its own id', async () => {
      const h = await open();
      const topic = uniqueTopic('ids');
      const got: BusMessage[] = [];
      h.subscribe('ids-sub', topic, async (m) => void got.push(m), FAST);
      const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => h.bus.publish(topic, Buffer.from(String(i)))));
      expect(new Set(ids).size).toBe(10);
      await waitFor('10 deliveries', () => got.length >= 10);
      await h.idle();
      expect(got.map((m) => m.messageId).sort()).toEqual([...ids].sort());
      for (const m of got) expect(m.messageId).toBe(ids[Number(m.data.toString())]);
    });

    it('retries a handler that throws, with back-off and an increasing deliveryAttempt', async () => {
      const h = await open();
      const topic = uniqueTopic('retry');
      const attempts: { attempt: number; at: number; id: string }[] = [];
      const policy: SubscriptionPolicy = { maxAttempts: 5, minBackoffMs: 60, maxBackoffMs: 1000 };
      h.subscribe(
        'retry-sub',
        topic,
        async (m) => {
          attempts.push({ attempt: m.deliveryAttempt, at: Date.now(), id: m.messageId });
          if (attempts.length < 3) throw new Error(`transient failure ${attempts.length}`);
        },
        policy,
      );
      const id = await h.bus.publish(topic, Buffer.from('retry me'), { k: 'v' });
      await waitFor('three attempts', () => attempts.length >= 3);
      await h.idle();
      await sleep(150);
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
      expect(attempts.every((a) => a.id === id)).toBe(true);
      // Back-off: at least the minimum before the first retry, and it does not shrink (minus timer jitter).
      const gap1 = attempts[1].at - attempts[0].at;
      const gap2 = attempts[2].at - attempts[1].at;
      expect(gap1).toBeGreaterThanOrEqual(policy.minBackoffMs - 5);
      expect(gap2).toBeGreaterThanOrEqual(policy.minBackoffMs - 5);
      expect(gap2).toBeGreaterThanOrEqual(gap1 - 10);
    });

    itDeadLetter('dead-letters after maxAttempts with source_topic, delivery_attempts and last_error', async () => {
      const h = await open();
      const topic = uniqueTopic('doomed');
      const dlq = uniqueTopic('dead-letter');
      const dead: BusMessage[] = [];
      let calls = 0;
      h.subscribe('dlq-sub', dlq, async (m) => void dead.push(m), FAST);
      h.subscribe(
        'doomed-sub',
        topic,
        async () => {
          calls++;
          throw new Error(`poison message ${calls}`);
        },
        { maxAttempts: 3, minBackoffMs: 10, maxBackoffMs: 40, deadLetterTopic: dlq },
      );
      const data = Buffer.from('{"poison":true}');
      await h.bus.publish(topic, data, { deployment_id: 'd-dead' });
      await waitFor('the dead letter', () => dead.length >= 1);
      await h.idle();
      await sleep(100);
      expect(calls).toBe(3);
      expect(dead).toHaveLength(1);
      expect(Buffer.compare(dead[0].data, data)).toBe(0);
      expect(dead[0].attributes).toMatchObject({ deployment_id: 'd-dead', source_topic: topic, delivery_attempts: '3' });
      expect(dead[0].attributes.last_error).toContain('poison message 3');
    });

    itDeadLetter('a message that keeps failing with no dead-letter topic stops after maxAttempts', async () => {
      const h = await open();
      const topic = uniqueTopic('no-dlq');
      let calls = 0;
      h.subscribe(
        'no-dlq-sub',
        topic,
        async () => {
          calls++;
          throw new Error('always');
        },
        { maxAttempts: 2, minBackoffMs: 10, maxBackoffMs: 20 },
      );
      await h.bus.publish(topic, Buffer.from('x'));
      await waitFor('two attempts', () => calls >= 2);
      await h.idle();
      await sleep(100);
      expect(calls).toBe(2);
    });

    it('duplicateDelivery delivers every message twice with the same messageId', async () => {
      const h = await open({ duplicateDelivery: true });
      const topic = uniqueTopic('dup');
      const got: BusMessage[] = [];
      h.subscribe('dup-sub', topic, async (m) => void got.push(m), FAST);
      const ids = [
        await h.bus.publish(topic, Buffer.from('a')),
        await h.bus.publish(topic, Buffer.from('b')),
        await h.bus.publish(topic, Buffer.from('c')),
      ];
      await waitFor('six deliveries', () => got.length >= 6);
      await h.idle();
      await sleep(50);
      expect(got).toHaveLength(6);
      for (const id of ids) {
        const copies = got.filter((m) => m.messageId === id);
        expect(copies).toHaveLength(2);
        expect(copies[0].data.toString()).toBe(copies[1].data.toString());
      }
    });

    it('fans out to every subscription of a topic, each with its own retries', async () => {
      const h = await open();
      const topic = uniqueTopic('fan');
      const a: BusMessage[] = [];
      const b: BusMessage[] = [];
      h.subscribe(
        'fan-a',
        topic,
        async (m) => {
          a.push(m);
          if (a.length === 1) throw new Error('a fails once');
        },
        FAST,
      );
      h.subscribe('fan-b', topic, async (m) => void b.push(m), FAST);
      const id = await h.bus.publish(topic, Buffer.from('to both'), { x: '1' });
      await waitFor('both subscriptions', () => a.length >= 2 && b.length >= 1);
      await h.idle();
      await sleep(50);
      expect(a.map((m) => [m.messageId, m.deliveryAttempt])).toEqual([
        [id, 1],
        [id, 2],
      ]);
      expect(b.map((m) => [m.messageId, m.deliveryAttempt, m.data.toString(), m.attributes.x])).toEqual([[id, 1, 'to both', '1']]);
    });

    it('a topic with no subscription accepts a publish and delivers nothing elsewhere', async () => {
      const h = await open();
      const other: BusMessage[] = [];
      h.subscribe('other-sub', uniqueTopic('other'), async (m) => void other.push(m), FAST);
      expect(await h.bus.publish(uniqueTopic('nobody'), Buffer.from('lost'))).toEqual(expect.any(String));
      await h.idle();
      await sleep(50);
      expect(other).toEqual([]);
    });

    itRestart('delivers unacknowledged messages after a restart, and acknowledged ones never again', async () => {
      const first = await open();
      const topic = uniqueTopic('durable');
      let firstCalls = 0;
      // Fails once, then waits a long back-off: the message is unacknowledged when the bus restarts.
      first.subscribe(
        'durable-sub',
        topic,
        async () => {
          firstCalls++;
          throw new Error('down');
        },
        { maxAttempts: 5, minBackoffMs: 60_000, maxBackoffMs: 60_000 },
      );
      const acked: BusMessage[] = [];
      first.subscribe('durable-ok', topic, async (m) => void acked.push(m), FAST);
      const id = await first.bus.publish(topic, Buffer.from('survive'), { a: 'b' });
      await waitFor('the failed first attempt', () => firstCalls >= 1 && acked.length >= 1);

      const second = await first.restart();
      harnesses.push(second);
      const got: BusMessage[] = [];
      const okAgain: BusMessage[] = [];
      second.subscribe('durable-sub', topic, async (m) => void got.push(m), FAST);
      second.subscribe('durable-ok', topic, async (m) => void okAgain.push(m), FAST);
      second.resume();
      await waitFor('the redelivery', () => got.length >= 1);
      await second.idle();
      await sleep(50);
      expect(firstCalls).toBe(1);
      expect(got).toHaveLength(1);
      expect(got[0].messageId).toBe(id);
      expect(got[0].data.toString()).toBe('survive');
      expect(got[0].attributes).toEqual({ a: 'b' });
      // The subscription that acknowledged before the restart does not get it again.
      expect(okAgain).toEqual([]);

      const third = await second.restart();
      harnesses.push(third);
      const late: BusMessage[] = [];
      third.subscribe('durable-sub', topic, async (m) => void late.push(m), FAST);
      third.subscribe('durable-ok', topic, async (m) => void late.push(m), FAST);
      third.resume();
      await third.idle();
      await sleep(100);
      expect(late).toEqual([]);
    });
  });
}
