/**
 * The client's side of structured events: one handler per subscribed topic,
 * called with (time, msg) for each event the scheduler pushes. A handler that
 * throws (or rejects) is logged and keeps its subscription; subscribing a
 * topic again replaces its handler.
 */
import type { Logger } from 'pino';
import { encodeValue } from '../protocol/values.js';

/**
 * A handler for `client.subscribeTopic(topic, handler)`: called with each event's time and message.
 */
export type TopicHandler = (time: number, msg: unknown) => unknown;

export class TopicHandlers {
  private readonly handlers = new Map<string, TopicHandler>();

  constructor(private readonly log: Logger) {}

  /** True when `topic` had no handler before (the scheduler must be told to subscribe). */
  set(topic: string, handler: TopicHandler): boolean {
    if (typeof handler !== 'function') throw new TypeError('subscribeTopic: handler must be a function (time, msg) => void');
    const fresh = !this.handlers.has(topic);
    if (!fresh) this.log.info({ topic }, 'replacing the handler of a subscribed topic');
    this.handlers.set(topic, handler);
    return fresh;
  }

  delete(topic: string): boolean {
    return this.handlers.delete(topic);
  }

  has(topic: string): boolean {
    return this.handlers.has(topic);
  }

  /** The subscribed topics (sent again to a scheduler that was restarted). */
  names(): string[] {
    return [...this.handlers.keys()];
  }

  deliver(topic: string, time: number, msg: unknown): void {
    const handler = this.handlers.get(topic);
    if (handler === undefined) return;
    try {
      const result = handler(time, msg);
      if (typeof (result as Promise<unknown> | undefined)?.then === 'function') {
        (result as Promise<unknown>).then(undefined, (error: unknown) => this.log.error({ err: error, topic }, 'event handler failed'));
      }
    } catch (error) {
      this.log.error({ err: error, topic }, 'event handler failed');
    }
  }
}

/** Topics are non-empty strings; an event's message must survive the wire (msgpack), checked before sending. */
export function checkEvent(topic: unknown, msg: unknown): void {
  const topics = Array.isArray(topic) ? topic : [topic];
  if (topics.length === 0 || !topics.every((t) => typeof t === 'string' && t !== '')) {
    throw new TypeError(`logEvent: topic must be a non-empty string or a list of them, got ${JSON.stringify(topic)}`);
  }
  if (typeof msg === 'function' || typeof msg === 'symbol') throw new TypeError(`logEvent: a ${typeof msg} cannot be sent as an event`);
  try {
    encodeValue(msg);
  } catch (error) {
    throw new TypeError(`logEvent: the message cannot be serialized: ${(error as Error).message}`, { cause: error });
  }
}

export function checkTopic(topic: unknown, method: string): string {
  if (typeof topic !== 'string' || topic === '') throw new TypeError(`${method}: topic must be a non-empty string, got ${JSON.stringify(topic)}`);
  return topic;
}
