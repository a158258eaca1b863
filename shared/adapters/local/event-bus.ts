import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Attributes, BusMessage, EventBus } from '../../ports/index.js';
import { DocJournal, parsedDocs } from './doc-writer.js';

export interface DeliveryPolicy {
  /** Deliveries before a message goes to the dead-letter topic (Pub/Sub's max_delivery_attempts). */
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /**
   * A delivery whose handler has neither returned nor thrown by then counts as failed and the
   * message is delivered again (Pub/Sub's ack deadline; 600 s, its maximum, when absent).
   */
  ackDeadlineMs?: number;
  deadLetterTopic?: string;
}

export const DEFAULT_ACK_DEADLINE_MS = 600_000;

type Handler = (msg: BusMessage) => Promise<void>;

interface Subscription {
  name: string;
  topic: string;
  handler: Handler;
  policy: DeliveryPolicy;
}

const StoredMessageSchema = z.object({
  id: z.string().min(1),
  topic: z.string().min(1),
  data: z.string(),
  attributes: z.record(z.string(), z.string()),
  publishTime: z.string(),
  /** Subscriptions that have not acknowledged it yet. */
  pending: z.array(z.string()),
});
type StoredMessage = z.infer<typeof StoredMessageSchema>;

/**
 * Pub/Sub's delivery semantics on one machine: at least once, each subscription retried with
 * exponential back-off after a failure (a thrown error, as a push endpoint's 500, or no answer
 * within the ack deadline), then dead-lettered after `maxAttempts`. `publish` resolves once the
 * message is synced to the data folder (DocJournal); unacknowledged messages are delivered again
 * after a restart. `duplicateDelivery` delivers every message twice, to prove handlers idempotent.
 */
export class LocalEventBus implements EventBus {
  private readonly subs = new Map<string, Subscription[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private readonly journal: DocJournal | null;
  /** What a previous run left unacknowledged, until resume() delivers it. */
  private saved: StoredMessage[] = [];
  readonly counters = { published: 0, delivered: 0, failed: 0, deadLettered: 0 };

  constructor(
    dir: string | null,
    private readonly options: { duplicateDelivery?: boolean } = {},
  ) {
    this.journal = dir ? new DocJournal(dir) : null;
    if (!this.journal) return;
    this.saved = parsedDocs(this.journal, this.journal.open(['']), '', StoredMessageSchema);
    this.saved.sort((a, b) => a.publishTime.localeCompare(b.publishTime));
  }

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
    // As Pub/Sub, a topic without subscriptions keeps nothing.
    if (subs.length === 0) return msg.id;
    await this.journal?.put(msg.id, msg);
    for (const sub of subs) this.dispatch(sub, msg);
    return msg.id;
  }

  /** Delivers the messages left unacknowledged by a previous run. Call after all subscriptions exist. */
  resume(): number {
    let n = 0;
    for (const msg of this.saved.splice(0)) {
      for (const name of msg.pending) {
        const sub = this.subs.get(msg.topic)?.find((s) => s.name === name);
        if (sub) {
          this.dispatch(sub, msg);
          n++;
        } else {
          // Kept on disk for when the subscription exists again, as Pub/Sub keeps a subscription's backlog.
          console.warn(`baton: message ${msg.id} on ${msg.topic} waits for subscription ${name}, which this stack does not have`);
        }
      }
    }
    return n;
  }

  /** Resolves when every acknowledgement so far is on disk. */
  flush(): Promise<void> {
    return this.journal?.flush() ?? Promise.resolve();
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
    // A retry acknowledged meanwhile (a late answer to an earlier delivery): nothing to redeliver.
    if (this.stopped || (attempt > 1 && !msg.pending.includes(sub.name))) return;
    this.counters.delivered++;
    try {
      await this.answered(sub, msg, attempt);
      await this.ack(sub, msg);
    } catch (err) {
      this.counters.failed++;
      if (this.stopped) return;
      const { maxAttempts, minBackoffMs, maxBackoffMs, deadLetterTopic } = sub.policy;
      if (attempt >= maxAttempts) {
        this.counters.deadLettered++;
        // The dead letter is on disk before the original goes: a crash in between leaves both, never neither.
        if (deadLetterTopic) {
          await this.publish(deadLetterTopic, Buffer.from(msg.data, 'base64'), {
            ...msg.attributes,
            source_topic: msg.topic,
            source_subscription: sub.name,
            delivery_attempts: String(attempt),
            last_error: err instanceof Error ? err.message.slice(0, 1000) : String(err).slice(0, 1000),
          });
        }
        await this.ack(sub, msg);
        return;
      }
      const backoff = Math.min(maxBackoffMs, minBackoffMs * 2 ** (attempt - 1));
      this.schedule(sub, msg, attempt + 1, backoff);
    }
  }

  /**
   * Runs the handler; rejects when it throws or has not answered within the ack deadline. A
   * handler that answers after its deadline still acknowledges the message (as a late ack
   * reaches Pub/Sub), and the redelivery then finds nothing to do.
   */
  private answered(sub: Subscription, msg: StoredMessage, attempt: number): Promise<void> {
    const run = sub.handler({
      data: Buffer.from(msg.data, 'base64'),
      attributes: msg.attributes,
      messageId: msg.id,
      publishTime: msg.publishTime,
      deliveryAttempt: attempt,
    });
    const deadlineMs = sub.policy.ackDeadlineMs ?? DEFAULT_ACK_DEADLINE_MS;
    return new Promise<void>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        this.inFlight++;
        reject(new Error(`${sub.name} neither acknowledged nor failed message ${msg.id} within ${deadlineMs} ms`));
      }, deadlineMs);
      void run.then(
        () => {
          clearTimeout(timer);
          if (!late) return resolve();
          void this.ack(sub, msg).finally(() => this.done());
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (!late) return reject(err);
          this.done();
        },
      );
    });
  }

  private async ack(sub: Subscription, msg: StoredMessage): Promise<void> {
    if (!msg.pending.includes(sub.name)) return;
    msg.pending = msg.pending.filter((p) => p !== sub.name);
    if (!this.journal) return;
    // An acknowledgement lost in a crash only means one more delivery: report it, do not fail the handler.
    await (msg.pending.length === 0 ? this.journal.delete(msg.id) : this.journal.put(msg.id, msg)).catch((err: unknown) =>
      console.error(
        `baton: could not record the acknowledgement of message ${msg.id}: ${err instanceof Error ? err.message : String(err)}`,
      ),
    );
  }

  private done(): void {
    this.inFlight--;
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters.splice(0);
      for (const w of waiters) w();
    }
  }
}
