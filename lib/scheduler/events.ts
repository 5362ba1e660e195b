/**
 * Structured events (dask's log_event / subscribe_topic): named topics, each
 * keeping its last N events as [time, msg] (time: wall-clock ms), with the
 * clients subscribed to it. Clients, tasks (through their worker's client)
 * and the scheduler itself log; subscribers get each event pushed as
 * `{ op: 'event', topic, time, msg }`; `get-events` reads what is kept.
 *
 * Well-known topics the scheduler logs on (each event also goes to 'all'):
 *   'workers'  { action: 'add-worker' | 'remove-worker' | 'worker-paused' | 'worker-running', worker }
 *   'tasks'    { action: 'task-erred', key, worker, exception }
 *
 * Wiring (the Scheduler actor): merge `handlers`, call `peerClosed(clientId)`
 * when a client leaves. The mailbox replies to calls; 'log-event' is a stream
 * message and gets no reply.
 */
import type { OpDict } from '../protocol/messages.js';
import type { ExtensionHandler, SchedulerExtension } from '../coordination/extension.js';

export const DEFAULT_EVENTS_PER_TOPIC = 1000;
/** Topics the scheduler logs its own events on. */
export const WORKERS_TOPIC = 'workers';
export const TASKS_TOPIC = 'tasks';
export const ALL_TOPIC = 'all';

export type EventEntry = [time: number, msg: unknown];

export interface EventsHost {
  now(): number;
  /** Push to a connected client (dropped silently when it is gone). */
  sendToClient(client: string, msg: OpDict): void;
  /** Plugins' logEvent hooks. */
  logged(topic: string, msg: unknown): void;
}

class Topic {
  readonly events: EventEntry[] = [];
  private head = 0;
  readonly subscribers = new Set<string>();
  /** Events ever published here. */
  count = 0;

  constructor(private readonly capacity: number) {}

  push(entry: EventEntry): void {
    if (this.events.length < this.capacity) this.events.push(entry);
    else {
      this.events[this.head] = entry;
      this.head = (this.head + 1) % this.capacity;
    }
    this.count++;
  }

  /** Oldest first. */
  list(): EventEntry[] {
    return this.head === 0 ? [...this.events] : [...this.events.slice(this.head), ...this.events.slice(0, this.head)];
  }
}

export interface EventsExtension extends SchedulerExtension {
  log(topic: string | readonly string[], msg: unknown): void;
  get(topic: string): EventEntry[];
  peerClosed(client: string): void;
}

export function createEventsExtension(host: EventsHost, options: { perTopic?: number } = {}): EventsExtension {
  const perTopic = options.perTopic ?? DEFAULT_EVENTS_PER_TOPIC;
  if (!(Number.isInteger(perTopic) && perTopic >= 1)) throw new RangeError(`events per topic must be a positive integer, got ${perTopic}`);
  const topics = new Map<string, Topic>();
  const topicOf = (name: string): Topic => {
    let topic = topics.get(name);
    if (topic === undefined) topics.set(name, (topic = new Topic(perTopic)));
    return topic;
  };

  function log(topic: string | readonly string[], msg: unknown): void {
    const time = host.now();
    for (const name of typeof topic === 'string' ? [topic] : topic) {
      const t = topicOf(name);
      t.push([time, msg]);
      for (const client of t.subscribers) host.sendToClient(client, { op: 'event', topic: name, time, msg });
      host.logged(name, msg);
    }
  }

  const handlers: Record<string, ExtensionHandler> = {
    'log-event'(msg) {
      log(topicNames(msg), msg.msg);
      return null;
    },
    'subscribe-topic'(msg) {
      topicOf(text(msg, 'topic')).subscribers.add(text(msg, 'client'));
      return null;
    },
    'unsubscribe-topic'(msg) {
      topics.get(text(msg, 'topic'))?.subscribers.delete(text(msg, 'client'));
      return null;
    },
    'get-events'(msg) {
      if (msg.topic === undefined || msg.topic === null) {
        const all: Record<string, EventEntry[]> = {};
        for (const [name, topic] of topics) if (topic.events.length > 0) all[name] = topic.list();
        return all;
      }
      return topics.get(text(msg, 'topic'))?.list() ?? [];
    },
  };

  return {
    handlers,
    log,
    get: (topic) => topics.get(topic)?.list() ?? [],
    peerClosed(client: string): void {
      for (const topic of topics.values()) topic.subscribers.delete(client);
    },
  };
}

function text(msg: OpDict, field: string): string {
  const value = msg[field];
  if (typeof value !== 'string' || value === '') throw new TypeError(`${msg.op}: '${field}' must be a non-empty string`);
  return value;
}

function topicNames(msg: OpDict): string[] {
  const topic = msg.topic;
  if (typeof topic === 'string' && topic !== '') return [topic];
  if (Array.isArray(topic) && topic.length > 0 && topic.every((t) => typeof t === 'string' && t !== '')) return topic as string[];
  throw new TypeError(`${msg.op}: 'topic' must be a non-empty string or a list of them`);
}
