import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PubSubEventBus } from '../../shared/adapters/gcp/event-bus.js';
import type { BusMessage, EventBus } from '../../shared/ports/index.js';
import { describeWithEmulators, type Emulator, pubsubClient, startEmulator, uniqueProjectId } from '../support/emulators.js';
import { type BusHarness, eventBusContract, type Handler, type SubscriptionPolicy } from './suites/event-bus.suite.js';
import { waitFor } from './suites/util.js';

/**
 * PubSubEventBus against Google's Pub/Sub emulator, through a harness that plays the part of the
 * infrastructure: it creates the topics and one pull subscription per `subscribe` (with the
 * policy's retry policy), and a streaming-pull subscriber that calls the handler, acks when it
 * returns and nacks when it throws. Production uses Eventarc/push subscriptions declared in
 * Terraform; the handler/ack mapping here stands in for "2xx acknowledges, 500 retries".
 *
 * What this run proves: publish through the adapter (data bytes and attributes intact, the
 * message id it returns is the id subscribers see, one id per message), fan-out to every
 * subscription of a topic with independent redelivery, redelivery of a nacked message with the
 * same id and an increasing deliveryAttempt, and that a publish to a topic with no subscription
 * is accepted. duplicateDelivery is a real redelivery: the harness nacks each message once after
 * the handler succeeded, so Pub/Sub itself sends it again.
 *
 * What it does NOT prove:
 * - back-off: the emulator stores the retry policy but does not apply it as the service does (the
 *   first redelivery after a nack comes at once, later ones on a ~2 s tick whatever the policy).
 *   The back-off assertions hold here only because the client sends nacks in 100 ms batches;
 * - dead letters and attempt limits (capability deadLetter: false): Pub/Sub has a delivery limit
 *   only as part of a dead-letter policy (5 to 100 attempts; without one it retries until the
 *   message expires), and it republishes with its own CloudPubSubDeadLetterSource* attributes and
 *   no error text, so the contract's source_topic / delivery_attempts / last_error are the
 *   dead-letter function's mapping, not the broker's. This emulator (0.8.x) does dead-letter; the
 *   case below shows the attributes it sends. The policies themselves, and the IAM grants the
 *   Pub/Sub service agent needs for them, are declared in Terraform and proven nowhere offline;
 * - restart (capability restart: false): the broker never restarts under us; durability is
 *   Pub/Sub's storage;
 * - deliveryAttempt in production: Pub/Sub fills it in only on subscriptions with a dead-letter
 *   policy (0 otherwise); the emulator always does. The harness counts attempts itself when it is 0;
 * - push delivery, OIDC tokens, Eventarc's CloudEvent envelope, ordering, exactly-once, quotas.
 */

let emulator: Emulator;
const projectId = uniqueProjectId('baton-bus');

interface Shared {
  /** "subscription\nmessageId" of deliveries not yet acknowledged. */
  pending: Set<string>;
  /** Acknowledged deliveries (an ack can come before publish() has returned). */
  done: Set<string>;
  /** Subscriptions (full ids) by topic. */
  topicSubs: Map<string, Set<string>>;
  topics: Map<string, Promise<void>>;
  attempts: Map<string, number>;
  redelivered: Set<string>;
}

const key = (sub: string, id: string) => `${sub}\n${id}`;
const ALREADY_EXISTS = 6;
const isAlreadyExists = (err: unknown) => (err as { code?: unknown } | null)?.code === ALREADY_EXISTS;

const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

class PubSubHarness implements BusHarness {
  readonly bus: EventBus;
  readonly adapter: PubSubEventBus;
  private readonly subscribers: Subscription[] = [];
  private readonly setup: Promise<void>[] = [];
  private readonly runId = Math.random().toString(36).slice(2, 8);
  private readonly state: Shared = {
    pending: new Set(),
    done: new Set(),
    topicSubs: new Map(),
    topics: new Map(),
    attempts: new Map(),
    redelivered: new Set(),
  };
  private inFlight = 0;
  private closed = false;

  constructor(
    readonly pubsub: PubSub,
    private readonly options: { duplicateDelivery?: boolean },
  ) {
    this.adapter = new PubSubEventBus(pubsub);
    this.bus = {
      publish: async (topic, data, attributes) => {
        // Subscriptions get only what is published after they exist: wait for the ones being created.
        await Promise.all(this.setup);
        await this.ensureTopic(topic);
        const id = await this.adapter.publish(topic, data, attributes);
        for (const sub of this.state.topicSubs.get(topic) ?? []) {
          if (!this.state.done.has(key(sub, id))) this.state.pending.add(key(sub, id));
        }
        return id;
      },
    };
  }

  /** The subscription id behind a suite's subscription name. */
  subscriptionId(name: string): string {
    return `${name}-${this.runId}`;
  }

  subscribe(name: string, topic: string, handler: Handler, policy: SubscriptionPolicy): void {
    const id = this.subscriptionId(name);
    const subs = this.state.topicSubs.get(topic) ?? new Set<string>();
    subs.add(id);
    this.state.topicSubs.set(topic, subs);
    this.setup.push(
      (async () => {
        await this.ensureTopic(topic);
        if (policy.deadLetterTopic) await this.ensureTopic(policy.deadLetterTopic);
        try {
          await this.pubsub.topic(topic).createSubscription(id, {
            ackDeadlineSeconds: 10,
            // No back-off at all is Pub/Sub's default (redeliver at once): no retry policy.
            ...(policy.maxBackoffMs > 0
              ? { retryPolicy: { minimumBackoff: duration(policy.minBackoffMs), maximumBackoff: duration(policy.maxBackoffMs) } }
              : {}),
            ...(policy.deadLetterTopic
              ? {
                  deadLetterPolicy: {
                    deadLetterTopic: this.pubsub.topic(policy.deadLetterTopic).name,
                    maxDeliveryAttempts: policy.maxAttempts,
                  },
                }
              : {}),
          });
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
        const subscriber = this.pubsub.subscription(id, { flowControl: { maxMessages: 100 } });
        subscriber.on('message', (m: Message) => void this.deliver(id, m, handler, policy));
        subscriber.on('error', (err: Error) => console.warn(`subscription ${id}: ${err.message}`));
        this.subscribers.push(subscriber);
      })(),
    );
  }

  async idle(): Promise<void> {
    await Promise.all(this.setup);
    await waitFor('every delivery acknowledged', () => (this.state.pending.size === 0 && this.inFlight === 0) || undefined, 20_000);
  }

  async restart(): Promise<BusHarness> {
    throw new Error('the Pub/Sub emulator has no broker restart (capability restart: false)');
  }

  /** Pub/Sub redelivers unacknowledged messages by itself. */
  resume(): void {}

  async cleanup(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.setup);
    await Promise.all(this.subscribers.splice(0).map((s) => s.close()));
    await this.pubsub.close();
  }

  private ensureTopic(topic: string): Promise<void> {
    let p = this.state.topics.get(topic);
    if (!p) {
      p = this.pubsub
        .createTopic(topic)
        .then(() => undefined)
        .catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
      this.state.topics.set(topic, p);
    }
    return p;
  }

  private async deliver(sub: string, m: Message, handler: Handler, policy: SubscriptionPolicy): Promise<void> {
    if (this.closed) {
      m.nack();
      return;
    }
    const k = key(sub, m.id);
    const attempt = m.deliveryAttempt > 0 ? m.deliveryAttempt : (this.state.attempts.get(k) ?? 0) + 1;
    this.state.attempts.set(k, attempt);
    const msg: BusMessage = {
      data: Buffer.from(m.data),
      attributes: { ...m.attributes },
      messageId: m.id,
      publishTime: new Date(m.publishTime.getTime()).toISOString(),
      deliveryAttempt: attempt,
    };
    this.inFlight++;
    try {
      await handler(msg);
      if (this.options.duplicateDelivery && !this.state.redelivered.has(k)) {
        this.state.redelivered.add(k);
        m.nack();
      } else {
        m.ack();
        this.state.done.add(k);
        this.state.pending.delete(k);
      }
    } catch {
      m.nack();
      // The broker moves it to the dead-letter topic: nothing more is coming on this subscription.
      if (policy.deadLetterTopic && attempt >= policy.maxAttempts) this.state.pending.delete(k);
    } finally {
      this.inFlight--;
    }
  }
}

describeWithEmulators('PubSubEventBus on the Pub/Sub emulator', () => {
  beforeAll(async () => {
    emulator = await startEmulator('pubsub', { projectId });
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  eventBusContract(
    'PubSubEventBus on the Pub/Sub emulator',
    async (options) => new PubSubHarness(pubsubClient(emulator, projectId), options),
    {
      deadLetter: false,
      restart: false,
    },
  );

  describe('PubSubEventBus: Pub/Sub specifics', () => {
    const harnesses: PubSubHarness[] = [];
    const open = () => {
      const h = new PubSubHarness(pubsubClient(emulator, projectId), {});
      harnesses.push(h);
      return h;
    };
    afterAll(async () => {
      for (const h of harnesses.splice(0)) await h.cleanup();
    });

    it('keeps one Topic object per name and counts what it published', async () => {
      const h = open();
      const got: BusMessage[] = [];
      h.subscribe('count-sub', 'counted', async (m) => void got.push(m), { maxAttempts: 5, minBackoffMs: 10, maxBackoffMs: 100 });
      await h.idle();
      const client = pubsubClient(emulator, projectId);
      let topicCalls = 0;
      const original = client.topic.bind(client);
      client.topic = ((...args: Parameters<PubSub['topic']>) => {
        topicCalls++;
        return original(...args);
      }) as PubSub['topic'];
      const bus = new PubSubEventBus(client);
      const ids = await Promise.all([0, 1, 2].map((i) => bus.publish('counted', Buffer.from(String(i)), { i: String(i) })));
      expect(new Set(ids).size).toBe(3);
      expect(bus.counters.published).toBe(3);
      expect(topicCalls).toBe(1);
      await waitFor('three deliveries', () => got.length >= 3);
      expect(got.map((m) => m.attributes.i).sort()).toEqual(['0', '1', '2']);
      await client.close();
    });

    it('a publish to a topic that does not exist fails (topics are Terraform’s)', async () => {
      const bus = new PubSubEventBus(pubsubClient(emulator, projectId));
      await expect(bus.publish(`missing-${Math.random().toString(36).slice(2, 8)}`, Buffer.from('x'))).rejects.toThrow(
        /NOT_FOUND|not found/i,
      );
      expect(bus.counters.published).toBe(0);
    });

    it('the emulator dead-letters after maxDeliveryAttempts with its own attributes (no error text, a new message id)', async () => {
      const h = open();
      const dead: BusMessage[] = [];
      let calls = 0;
      h.subscribe('emu-dlq-sub', 'emu-dead-letter', async (m) => void dead.push(m), { maxAttempts: 5, minBackoffMs: 0, maxBackoffMs: 0 });
      // 5 is the smallest maxDeliveryAttempts Pub/Sub accepts.
      const policy: SubscriptionPolicy = { maxAttempts: 5, minBackoffMs: 0, maxBackoffMs: 0, deadLetterTopic: 'emu-dead-letter' };
      h.subscribe(
        'emu-doomed-sub',
        'emu-doomed',
        async () => {
          calls++;
          throw new Error('poison');
        },
        policy,
      );
      const id = await h.bus.publish('emu-doomed', Buffer.from('{"poison":true}'), { deployment_id: 'd-dead' });
      await waitFor('the dead letter', () => dead.length >= 1, 20_000);
      expect(calls).toBe(5);
      expect(dead[0].data.toString()).toBe('{"poison":true}');
      expect(dead[0].messageId).not.toBe(id);
      expect(dead[0].attributes).toMatchObject({
        deployment_id: 'd-dead',
        CloudPubSubDeadLetterSourceDeliveryCount: '5',
        CloudPubSubDeadLetterSourceSubscription: h.subscriptionId('emu-doomed-sub'),
      });
      expect(dead[0].attributes.last_error).toBeUndefined();
    });
  });
}, ['pubsub']);
