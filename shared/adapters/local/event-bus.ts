import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Attributes, BusMessage, EventBus } from '../../ports/index.js';
import { jsonFilesIn, writeFileAtomic } from './fs-util.js';

export interface DeliveryPolicy {
  /** Deliveries before a message goes to the dead-letter topic (Pub/Sub's max_delivery_attempts). */
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  deadLetterTopic?: string;
}

type Handler = (msg: BusMessage) => Promise<void>;

interface Subscription {
  name: string;
  topic: string;
  handler: Handler;
  policy: DeliveryPolicy;
}

interface StoredMessage {
  id: string;
  topic: string;
  data: string;
  attributes: Attributes;
  publishTime: string;
  /** Subscriptions that have not acknowledged it yet. */
  pending: string[];
}

/**
 * Pub/Sub's delivery semantics on one machine: at least once, each subscription retried with
 * exponential back-off after a failure (a thrown error, as a push endpoint's 500), then
 * dead-lettered after `maxAttempts`. Unacknowledged messages are kept in the data folder and
 * delivered again after a restart. `duplicateDelivery` delivers every message twice, to prove
 * handlers idempotent.
 */
export class LocalEventBus implements EventBus {
  private readonly subs = new Map<string, Subscription[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  readonly counters = { published: 0, delivered: 0, failed: 0, deadLettered: 0 };

  constructor(
    private readonly dir: string | null,
    private readonly options: { duplicateDelivery?: boolean } = {},
  ) {}

  subscribe(name: string, topic: string, handler: Handler, policy: DeliveryPolicy): void {
    const list = this.subs.get(topic) ?? [];
    list.push({ name, topic, handler, policy });
    this.subs.set(topic, list);
  }

  async publish(topic: string, data: Buffer, attributes: Attributes = {}): Promise<string> {
    if (this.stopped) throw new Error('the event bus is stopped');
    const subs = this.subs.get(topic) ?? [];
    const msg: StoredMessage = {
      id: randomUUID(),
      topic,
      data: data.toString('base64'),
      attributes,
      publishTime: new Date().toISOString(),
      pending: subs.map((s) => s.name),
    };
    this.counters.published++;
    if (subs.length === 0) return msg.id;
    this.persist(msg);
    for (const sub of subs) this.dispatch(sub, msg);
    return msg.id;
  }

  /** Delivers the messages left unacknowledged by a previous run. Call after all subscriptions exist. */
  resume(): number {
    if (!this.dir) return 0;
    let n = 0;
    for (const f of jsonFilesIn(this.dir)) {
      let msg: StoredMessage;
      try {
        msg = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as StoredMessage;
      } catch {
        continue;
      }
      for (const sub of this.subs.get(msg.topic) ?? []) {
        if (msg.pending.includes(sub.name)) {
          this.dispatch(sub, msg);
          n++;
        }
      }
    }
    return n;
  }

  /** Resolves when no delivery is running or scheduled. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private dispatch(sub: Subscription, msg: StoredMessage): void {
    const copies = this.options.duplicateDelivery ? 2 : 1;
    for (let i = 0; i < copies; i++) this.schedule(sub, msg, 1, 0);
  }

  private schedule(sub: Subscription, msg: StoredMessage, attempt: number, delayMs: number): void {
    this.inFlight++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.deliver(sub, msg, attempt).finally(() => this.done());
    }, delayMs);
    this.timers.add(timer);
  }

  private async deliver(sub: Subscription, msg: StoredMessage, attempt: number): Promise<void> {
    if (this.stopped) return;
    this.counters.delivered++;
    try {
      await sub.handler({
        data: Buffer.from(msg.data, 'base64'),
        attributes: msg.attributes,
        messageId: msg.id,
        publishTime: msg.publishTime,
        deliveryAttempt: attempt,
      });
      this.ack(sub, msg);
    } catch (err) {
      this.counters.failed++;
      if (this.stopped) return;
      const { maxAttempts, minBackoffMs, maxBackoffMs, deadLetterTopic } = sub.policy;
      if (attempt >= maxAttempts) {
        this.counters.deadLettered++;
        this.ack(sub, msg);
        if (deadLetterTopic) {
          await this.publish(deadLetterTopic, Buffer.from(msg.data, 'base64'), {
            ...msg.attributes,
            source_topic: msg.topic,
            source_subscription: sub.name,
            delivery_attempts: String(attempt),
            last_error: err instanceof Error ? err.message.slice(0, 1000) : String(err).slice(0, 1000),
          });
        }
        return;
      }
      const backoff = Math.min(maxBackoffMs, minBackoffMs * 2 ** (attempt - 1));
      this.schedule(sub, msg, attempt + 1, backoff);
    }
  }

  private ack(sub: Subscription, msg: StoredMessage): void {
    msg.pending = msg.pending.filter((p) => p !== sub.name);
    if (!this.dir) return;
    if (msg.pending.length === 0) rmSync(join(this.dir, `${msg.id}.json`), { force: true });
    else this.persist(msg);
  }

  private persist(msg: StoredMessage): void {
    if (this.dir) writeFileAtomic(join(this.dir, `${msg.id}.json`), JSON.stringify(msg));
  }

  private done(): void {
    this.inFlight--;
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters.splice(0);
      for (const w of waiters) w();
    }
  }
}
