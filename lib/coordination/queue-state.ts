/**
 * Scheduler-side state of every Queue, pure. Items are CoordinationItems
 * (opaque value Blobs or future keys); a future key counts as held by the
 * queue from the moment the item is in the queue until a getter takes it.
 *
 * Putters wait (first come, first served) while the queue is at `maxsize`;
 * getters wait in order while there are fewer items than they asked for.
 * `batch: true` takes whatever is there now and never waits.
 */
import type { CoordinationItem } from '../protocol/messages.js';
import { CoordinationError } from './errors.js';
import { type KeyChanges, KeyCounts, noKeyChanges } from './key-holds.js';
import { type Clock, type Decision, type Wake, WaiterQueue, deadlineFrom } from './waiters.js';

export type QueueResult =
  | { kind: 'put' }
  | { kind: 'items'; items: CoordinationItem[] }
  | { kind: 'timeout' }
  /** The asking client is gone, or the scheduler is closing. */
  | { kind: 'cancelled' };

export interface QueueOutcome {
  decision: Decision<QueueResult>;
  /** Other parked callers answered by this operation. */
  wakes: Array<Wake<QueueResult>>;
  keys: KeyChanges;
}

/** What one queue did outside a put/get: answers to parked callers and key holds. */
export interface QueueChange {
  name: string;
  wakes: Array<Wake<QueueResult>>;
  keys: KeyChanges;
}

export interface QueuePutRequest {
  name: string;
  /** Creates the queue on first use; must match an existing explicit maxsize. */
  maxsize?: number;
  holder: string;
  item: CoordinationItem;
  timeoutMs?: number;
}

export interface QueueGetRequest {
  name: string;
  maxsize?: number;
  holder: string;
  timeoutMs?: number;
  batch?: boolean | number;
}

interface QueueRecord {
  /** 0 = unbounded */
  maxsize: number;
  items: CoordinationItem[];
  /** index of the first live item in `items` (amortised O(1) shift) */
  head: number;
  putters: WaiterQueue<CoordinationItem>;
  getters: WaiterQueue<number>;
  keys: KeyCounts;
}

export class QueueState {
  private readonly now: Clock;
  private readonly queues = new Map<string, QueueRecord>();
  private readonly waiterNames = new Map<number, string>();
  private nextWaiterId = 1;

  constructor(options: { now?: Clock } = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Names of the queues remembered now. */
  names(): string[] {
    return [...this.queues.keys()];
  }

  /** What a restart must bring back of one queue: its bound and items, oldest first (undefined: nothing to keep). */
  snapshot(name: string): { maxsize: number; items: CoordinationItem[] } | undefined {
    const record = this.queues.get(name);
    if (record === undefined) return undefined;
    const items = record.items.slice(record.head);
    if (items.length === 0 && record.maxsize === 0) return undefined;
    return { maxsize: record.maxsize, items };
  }

  /** Items read back after a restart (appended after any already there); returns the future keys now held. */
  restore(name: string, maxsize: number, items: readonly CoordinationItem[]): KeyChanges {
    const record = this.record(name, maxsize === 0 ? undefined : maxsize);
    const keys = noKeyChanges();
    for (const item of items) {
      record.items.push(item);
      if (item.type === 'future') record.keys.add(item.key, keys);
    }
    return keys;
  }

  create(name: string, maxsize?: number): void {
    this.record(name, maxsize);
  }

  qsize(name: string): number {
    const record = this.queues.get(name);
    return record === undefined ? 0 : record.items.length - record.head;
  }

  /** Queues the scheduler remembers. */
  get size(): number {
    return this.queues.size;
  }

  put(request: QueuePutRequest): QueueOutcome {
    const record = this.record(request.name, request.maxsize);
    return this.enter(request.name, record, request.timeoutMs, (id, deadline) =>
      record.putters.push({ id, holder: request.holder, deadline, payload: request.item }),
    );
  }

  get(request: QueueGetRequest): QueueOutcome {
    const record = this.record(request.name, request.maxsize);
    const batch = request.batch ?? false;
    if (batch === true) {
      const keys = noKeyChanges();
      const items = this.take(record, this.qsize(request.name), keys);
      const wakes = this.pump(record, keys);
      this.dropIfIdle(request.name, record);
      return { decision: { kind: 'done', result: { kind: 'items', items } }, wakes, keys };
    }
    const count = batch === false ? 1 : batch;
    if (!(Number.isInteger(count) && count >= 0)) throw new TypeError(`batch must be true, false or a count >= 0, got ${String(batch)}`);
    if (record.maxsize > 0 && count > record.maxsize) {
      throw new CoordinationError(`Cannot get a batch of ${count} from queue ${JSON.stringify(request.name)} with maxsize ${record.maxsize}`);
    }
    return this.enter(request.name, record, request.timeoutMs, (id, deadline) =>
      record.getters.push({ id, holder: request.holder, deadline, payload: count }),
    );
  }

  /**
   * The waiter's deadline passed: it is answered `timeout` (first in `wakes`).
   * A big batch getter leaving the head of the line may let others be served.
   * undefined if the waiter was already answered.
   */
  timeOut(waiterId: number): QueueChange | undefined {
    const name = this.waiterNames.get(waiterId);
    if (name === undefined) return undefined;
    this.waiterNames.delete(waiterId);
    const record = this.queues.get(name)!;
    const waiter = record.putters.remove(waiterId) ?? record.getters.remove(waiterId)!;
    const keys = noKeyChanges();
    const wakes: Array<Wake<QueueResult>> = [{ waiterId, holder: waiter.holder, result: { kind: 'timeout' } }];
    wakes.push(...this.pump(record, keys));
    this.dropIfIdle(name, record);
    return { name, wakes, keys };
  }

  /** The holder is gone: its parked puts and gets are dropped (answered `cancelled`). */
  holderGone(holder: string): QueueChange[] {
    const changes: QueueChange[] = [];
    for (const [name, record] of [...this.queues]) {
      const gone = [...record.putters.removeHolder(holder), ...record.getters.removeHolder(holder)];
      if (gone.length === 0) continue;
      const wakes: Array<Wake<QueueResult>> = [];
      const keys = noKeyChanges();
      for (const waiter of gone) {
        this.waiterNames.delete(waiter.id);
        wakes.push({ waiterId: waiter.id, holder, result: { kind: 'cancelled' } });
      }
      wakes.push(...this.pump(record, keys));
      this.dropIfIdle(name, record);
      changes.push({ name, wakes, keys });
    }
    return changes;
  }

  /** Forgets everything: waiters are cancelled, every held key released. */
  clearAll(): { wakes: Array<Wake<QueueResult>>; keys: KeyChanges } {
    const wakes: Array<Wake<QueueResult>> = [];
    const keys = noKeyChanges();
    for (const record of this.queues.values()) {
      for (const waiter of [...record.putters.drain(), ...record.getters.drain()]) {
        wakes.push({ waiterId: waiter.id, holder: waiter.holder, result: { kind: 'cancelled' } });
      }
      record.keys.removeAll(keys);
    }
    this.queues.clear();
    this.waiterNames.clear();
    return { wakes, keys };
  }

  /** Parks the caller, lets the queue make progress, and reports whether the caller got its answer. */
  private enter(
    name: string,
    record: QueueRecord,
    timeoutMs: number | undefined,
    park: (id: number, deadline: number) => void,
  ): QueueOutcome {
    const now = this.now();
    const deadline = deadlineFrom(now, timeoutMs);
    const id = this.nextWaiterId++;
    park(id, deadline);
    this.waiterNames.set(id, name);
    const keys = noKeyChanges();
    const allWakes = this.pump(record, keys);
    const mine = allWakes.findIndex((wake) => wake.waiterId === id);
    let decision: Decision<QueueResult>;
    let wakes = allWakes;
    if (mine >= 0) {
      decision = { kind: 'done', result: allWakes[mine]!.result };
      wakes = allWakes.filter((_, index) => index !== mine);
    } else if (deadline <= now) {
      this.waiterNames.delete(id);
      record.putters.remove(id);
      record.getters.remove(id);
      decision = { kind: 'done', result: { kind: 'timeout' } };
    } else {
      decision = { kind: 'parked', waiterId: id, deadline };
    }
    this.dropIfIdle(name, record);
    return { decision, wakes, keys };
  }

  /** Admits waiting putters while there is room and serves waiting getters while there are items. */
  private pump(record: QueueRecord, keys: KeyChanges): Array<Wake<QueueResult>> {
    const wakes: Array<Wake<QueueResult>> = [];
    for (;;) {
      let progressed = false;
      for (;;) {
        const putter = record.putters.first();
        if (putter === undefined) break;
        if (record.maxsize > 0 && record.items.length - record.head >= record.maxsize) break;
        record.putters.shift();
        this.waiterNames.delete(putter.id);
        record.items.push(putter.payload);
        if (putter.payload.type === 'future') record.keys.add(putter.payload.key, keys);
        wakes.push({ waiterId: putter.id, holder: putter.holder, result: { kind: 'put' } });
        progressed = true;
      }
      for (;;) {
        const getter = record.getters.first();
        if (getter === undefined) break;
        if (record.items.length - record.head < getter.payload) break;
        record.getters.shift();
        this.waiterNames.delete(getter.id);
        const items = this.take(record, getter.payload, keys);
        wakes.push({ waiterId: getter.id, holder: getter.holder, result: { kind: 'items', items } });
        progressed = true;
      }
      if (!progressed) return wakes;
    }
  }

  private take(record: QueueRecord, count: number, keys: KeyChanges): CoordinationItem[] {
    const items = record.items.slice(record.head, record.head + count);
    record.head += count;
    if (record.head === record.items.length) {
      record.items = [];
      record.head = 0;
    } else if (record.head > 1024 && record.head * 2 > record.items.length) {
      record.items = record.items.slice(record.head);
      record.head = 0;
    }
    for (const item of items) {
      if (item.type === 'future') record.keys.remove(item.key, keys);
    }
    return items;
  }

  private record(name: string, maxsize: number | undefined): QueueRecord {
    if (maxsize !== undefined && !(Number.isInteger(maxsize) && maxsize >= 0)) {
      throw new TypeError(`maxsize must be an integer >= 0, got ${String(maxsize)}`);
    }
    const existing = this.queues.get(name);
    if (existing !== undefined) {
      if (maxsize !== undefined && maxsize !== existing.maxsize) {
        throw new CoordinationError(
          `Inconsistent maxsize for queue ${JSON.stringify(name)}: created with ${existing.maxsize}, now ${maxsize}`,
        );
      }
      return existing;
    }
    const record: QueueRecord = {
      maxsize: maxsize ?? 0,
      items: [],
      head: 0,
      putters: new WaiterQueue(),
      getters: new WaiterQueue(),
      keys: new KeyCounts(),
    };
    this.queues.set(name, record);
    return record;
  }

  /** An empty, unbounded queue nobody waits on is the same as no queue: forget it. */
  private dropIfIdle(name: string, record: QueueRecord): void {
    if (record.maxsize === 0 && record.items.length === record.head && record.putters.size === 0 && record.getters.size === 0) {
      this.queues.delete(name);
    }
  }
}
