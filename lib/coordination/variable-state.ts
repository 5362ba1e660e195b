/**
 * Scheduler-side state of every Variable, pure. A variable holds one
 * CoordinationItem; `get` parks until the first `set`. A future key stays held
 * by the variable until the value is replaced or deleted.
 */
import type { CoordinationItem } from '../protocol/messages.js';
import { type KeyChanges, KeyCounts, noKeyChanges } from './key-holds.js';
import { type Clock, type Decision, type Wake, WaiterQueue, deadlineFrom } from './waiters.js';

export type VariableResult =
  | { kind: 'item'; item: CoordinationItem }
  | { kind: 'timeout' }
  /** The asking client is gone, or the scheduler is closing. */
  | { kind: 'cancelled' };

export interface VariableGetRequest {
  name: string;
  holder: string;
  timeoutMs?: number;
}

interface VariableRecord {
  item: CoordinationItem | undefined;
  waiters: WaiterQueue<undefined>;
  keys: KeyCounts;
}

export class VariableState {
  private readonly now: Clock;
  private readonly variables = new Map<string, VariableRecord>();
  private readonly waiterNames = new Map<number, string>();
  private nextWaiterId = 1;

  constructor(options: { now?: Clock } = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Variables the scheduler remembers (set, or with waiters). */
  get size(): number {
    return this.variables.size;
  }

  /** Names of the variables remembered now. */
  names(): string[] {
    return [...this.variables.keys()];
  }

  peek(name: string): CoordinationItem | undefined {
    return this.variables.get(name)?.item;
  }

  /** Replaces the value (releasing a previous future key) and answers every waiting `get`. */
  set(name: string, item: CoordinationItem): { wakes: Array<Wake<VariableResult>>; keys: KeyChanges } {
    const record = this.record(name);
    const keys = noKeyChanges();
    // Count the new key before dropping the old one: setting the same future again changes nothing.
    if (item.type === 'future') record.keys.add(item.key, keys);
    if (record.item?.type === 'future') record.keys.remove(record.item.key, keys);
    record.item = item;
    const wakes: Array<Wake<VariableResult>> = [];
    for (const waiter of record.waiters.drain()) {
      this.waiterNames.delete(waiter.id);
      wakes.push({ waiterId: waiter.id, holder: waiter.holder, result: { kind: 'item', item } });
    }
    return { wakes, keys };
  }

  get(request: VariableGetRequest): Decision<VariableResult> {
    const now = this.now();
    const deadline = deadlineFrom(now, request.timeoutMs);
    const item = this.variables.get(request.name)?.item;
    if (item !== undefined) return { kind: 'done', result: { kind: 'item', item } };
    if (deadline <= now) return { kind: 'done', result: { kind: 'timeout' } };
    const record = this.record(request.name);
    const waiterId = this.nextWaiterId++;
    record.waiters.push({ id: waiterId, holder: request.holder, deadline, payload: undefined });
    this.waiterNames.set(waiterId, request.name);
    return { kind: 'parked', waiterId, deadline };
  }

  /** Forgets the value (releasing its future key). Parked gets keep waiting for the next `set`. */
  delete(name: string): KeyChanges {
    const keys = noKeyChanges();
    const record = this.variables.get(name);
    if (record === undefined) return keys;
    record.keys.removeAll(keys);
    record.item = undefined;
    this.dropIfIdle(name, record);
    return keys;
  }

  timeOut(waiterId: number): Wake<VariableResult> | undefined {
    const name = this.waiterNames.get(waiterId);
    if (name === undefined) return undefined;
    this.waiterNames.delete(waiterId);
    const record = this.variables.get(name)!;
    const waiter = record.waiters.remove(waiterId)!;
    this.dropIfIdle(name, record);
    return { waiterId, holder: waiter.holder, result: { kind: 'timeout' } };
  }

  holderGone(holder: string): Array<Wake<VariableResult>> {
    const wakes: Array<Wake<VariableResult>> = [];
    for (const [name, record] of [...this.variables]) {
      for (const waiter of record.waiters.removeHolder(holder)) {
        this.waiterNames.delete(waiter.id);
        wakes.push({ waiterId: waiter.id, holder, result: { kind: 'cancelled' } });
      }
      this.dropIfIdle(name, record);
    }
    return wakes;
  }

  clearAll(): { wakes: Array<Wake<VariableResult>>; keys: KeyChanges } {
    const wakes: Array<Wake<VariableResult>> = [];
    const keys = noKeyChanges();
    for (const record of this.variables.values()) {
      for (const waiter of record.waiters.drain()) {
        wakes.push({ waiterId: waiter.id, holder: waiter.holder, result: { kind: 'cancelled' } });
      }
      record.keys.removeAll(keys);
    }
    this.variables.clear();
    this.waiterNames.clear();
    return { wakes, keys };
  }

  private record(name: string): VariableRecord {
    let record = this.variables.get(name);
    if (record === undefined) {
      record = { item: undefined, waiters: new WaiterQueue(), keys: new KeyCounts() };
      this.variables.set(name, record);
    }
    return record;
  }

  private dropIfIdle(name: string, record: VariableRecord): void {
    if (record.item === undefined && record.waiters.size === 0) this.variables.delete(name);
  }
}
