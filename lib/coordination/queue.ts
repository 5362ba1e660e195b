/**
 * Cluster-wide FIFO queue of small values and Futures, mediated by the
 * scheduler. A Future put in the queue stays alive until someone gets it and
 * comes back as a Future of the getting client; other values travel encoded.
 */
import type { CoordinationItem, QueueGetMsg, QueuePutMsg } from '../protocol/messages.js';
import { fromItem, toItem } from './coordination-client.js';
import { PrimitiveHandle, type PrimitiveOptions, type TimeoutOption, type WaitReply, timeoutMs } from './primitive-handle.js';

/**
 * Options of `new Queue(name, ...)`.
 */
export interface QueueOptions extends PrimitiveOptions {
  /** Most items held at once; 0 (default) is unbounded. Putting into a full queue waits. */
  maxsize?: number;
}

export interface QueueGetOptions extends TimeoutOption {
  /** true: every item there now (possibly none, never waits); n: exactly n items (waits for them) */
  batch?: boolean | number;
}

/**
 * A cluster-wide first-in, first-out queue held by the scheduler; its items
 * may be Futures, which stay alive while queued.
 *
 * @example
 * ```ts
 * const jobs = new Queue<string>('jobs', { maxsize: 100 });
 * await jobs.put('first');
 * console.log(await jobs.get({ timeout: '1s' }));   // 'first'
 * ```
 */
export class Queue<T = unknown> extends PrimitiveHandle {
  readonly maxsize: number | undefined;

  constructor(name?: string, options: QueueOptions = {}) {
    super('queue', name, options);
    if (options.maxsize !== undefined && !(Number.isInteger(options.maxsize) && options.maxsize >= 0)) {
      throw new TypeError(`maxsize must be an integer >= 0, got ${options.maxsize}`);
    }
    this.maxsize = options.maxsize;
  }

  /** Rejects with TimeoutError if the queue stayed full for `timeout`. */
  async put(value: T, options: TimeoutOption = {}): Promise<void> {
    const msg: QueuePutMsg = { op: 'queue_put', name: this.name, holder: this.client.id, item: toItem(this.client, value) };
    this.addCommon(msg, options);
    this.unwrap(await this.call<WaitReply<object>>(msg), `put on queue ${JSON.stringify(this.name)}`, msg.timeout);
  }

  /** One item; rejects with TimeoutError if none came within `timeout`. */
  get(options?: TimeoutOption & { batch?: false }): Promise<T>;
  /** A list of items (see QueueGetOptions.batch). */
  get(options: TimeoutOption & { batch: true | number }): Promise<T[]>;
  async get(options: QueueGetOptions = {}): Promise<T | T[]> {
    const msg: QueueGetMsg = { op: 'queue_get', name: this.name, holder: this.client.id };
    this.addCommon(msg, options);
    const batch = options.batch ?? false;
    if (batch !== false) msg.batch = batch;
    const reply = this.unwrap(
      await this.call<WaitReply<{ items: CoordinationItem[] }>>(msg),
      `get on queue ${JSON.stringify(this.name)}`,
      msg.timeout,
    );
    const values = reply.items.map((item) => fromItem(this.client, item) as T);
    return batch === false ? values[0]! : values;
  }

  /** Items in the queue now. */
  async qsize(): Promise<number> {
    return this.call<number>({ op: 'queue_qsize', name: this.name });
  }

  private addCommon(msg: QueuePutMsg | QueueGetMsg, options: TimeoutOption): void {
    if (this.maxsize !== undefined) msg.maxsize = this.maxsize;
    const timeout = timeoutMs(options);
    if (timeout !== undefined) msg.timeout = timeout;
  }
}
