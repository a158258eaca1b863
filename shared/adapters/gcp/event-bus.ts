import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { Attributes, EventBus } from '../../ports/index.js';

type TopicOptions = Parameters<PubSub['topic']>[1];

/**
 * The EventBus on Pub/Sub: publish only. Topics and subscriptions (push subscriptions or
 * Eventarc triggers with their retry and dead-letter policies) are Terraform's; a publish to a
 * topic that does not exist fails with NOT_FOUND. One Topic object per name is kept, so its
 * publisher (batching, connection) is reused across calls. `publish` resolves with the message
 * id once Pub/Sub has accepted the message (the client batches for at most 10 ms by default).
 *
 * `counters.published` counts accepted messages, for cost measurement.
 *
 * Tested on Google's Pub/Sub emulator (test/contract/event-bus.gcp.test.ts), which does NOT prove
 * the subscriptions' retry back-off (the emulator applies it loosely), the push/Eventarc delivery
 * with OIDC tokens, the dead-letter IAM grants, quotas (10 MB messages, 100 attributes) or IAM.
 */
export class PubSubEventBus implements EventBus {
  readonly counters = { published: 0 };
  private readonly topics = new Map<string, Topic>();

  constructor(
    private readonly pubsub: PubSub,
    private readonly topicOptions?: TopicOptions,
  ) {}

  async publish(topic: string, data: Buffer, attributes: Attributes = {}): Promise<string> {
    const id = await this.topic(topic).publishMessage({ data, attributes });
    this.counters.published++;
    return id;
  }

  /** Sends whatever the publishers still batch (nothing, once every publish has resolved). */
  async flush(): Promise<void> {
    await Promise.all([...this.topics.values()].map((t) => t.flush()));
  }

  private topic(name: string): Topic {
    let t = this.topics.get(name);
    if (!t) {
      t = this.pubsub.topic(name, this.topicOptions);
      this.topics.set(name, t);
    }
    return t;
  }
}
