export type Attributes = Record<string, string>;

/** Pub/Sub: publish only. Subscriptions are infrastructure (Terraform, or the local stack's wiring). */
export interface EventBus {
  /** Resolves with the message id once the message is durably accepted. */
  publish(topic: string, data: Buffer, attributes?: Attributes): Promise<string>;
}

/** A message as a subscriber receives it (the body of an Eventarc Pub/Sub CloudEvent). */
export interface BusMessage {
  data: Buffer;
  attributes: Attributes;
  messageId: string;
  publishTime: string;
  /** 1 on first delivery; Pub/Sub calls this deliveryAttempt. */
  deliveryAttempt: number;
}
