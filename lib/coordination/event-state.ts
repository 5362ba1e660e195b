/**
 * Scheduler-side state of every Event, pure. An event is a flag; `wait` parks
 * until it is set and `set` wakes every waiter at once. An event that is
 * clear and has no waiters is forgotten (same answers as one never created).
 */
import { type Clock, type Decision, type Wake, WaiterQueue, deadlineFrom } from './waiters.js';

export interface EventWaitRequest {
  name: string;
  holder: string;
  /** undefined waits forever; 0 only looks. */
  timeoutMs?: number;
}

interface EventRecord {
  isSet: boolean;
  waiters: WaiterQueue<undefined>;
}

export class EventState {
  private readonly now: Clock;
  private readonly events = new Map<string, EventRecord>();
  private readonly waiterNames = new Map<number, string>();
  private nextWaiterId = 1;

  constructor(options: { now?: Clock } = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Names of the events remembered now. */
  names(): string[] {
    return [...this.events.keys()];
  }

  isSet(name: string): boolean {
    return this.events.get(name)?.isSet ?? false;
  }

  /** Sets the flag; every waiter gets `true`. */
  set(name: string): Array<Wake<boolean>> {
    const record = this.record(name);
    record.isSet = true;
    const wakes: Array<Wake<boolean>> = [];
    for (const waiter of record.waiters.drain()) {
      this.waiterNames.delete(waiter.id);
      wakes.push({ waiterId: waiter.id, holder: waiter.holder, result: true });
    }
    return wakes;
  }

  clear(name: string): void {
    const record = this.events.get(name);
    if (record === undefined) return;
    record.isSet = false;
    this.dropIfIdle(name, record);
  }

  wait(request: EventWaitRequest): Decision<boolean> {
    const now = this.now();
    const deadline = deadlineFrom(now, request.timeoutMs);
    if (this.isSet(request.name)) return { kind: 'done', result: true };
    if (deadline <= now) return { kind: 'done', result: false };
    const record = this.record(request.name);
    const waiterId = this.nextWaiterId++;
    record.waiters.push({ id: waiterId, holder: request.holder, deadline, payload: undefined });
    this.waiterNames.set(waiterId, request.name);
    return { kind: 'parked', waiterId, deadline };
  }

  /** The waiter's deadline passed: it gets `false`. undefined if it was already answered. */
  timeOut(waiterId: number): Wake<boolean> | undefined {
    const name = this.waiterNames.get(waiterId);
    if (name === undefined) return undefined;
    this.waiterNames.delete(waiterId);
    const record = this.events.get(name)!;
    const waiter = record.waiters.remove(waiterId)!;
    this.dropIfIdle(name, record);
    return { waiterId, holder: waiter.holder, result: false };
  }

  /** The holder is gone: its waiters are answered `false` (nobody will read it). */
  holderGone(holder: string): Array<Wake<boolean>> {
    const wakes: Array<Wake<boolean>> = [];
    for (const [name, record] of [...this.events]) {
      for (const waiter of record.waiters.removeHolder(holder)) {
        this.waiterNames.delete(waiter.id);
        wakes.push({ waiterId: waiter.id, holder, result: false });
      }
      this.dropIfIdle(name, record);
    }
    return wakes;
  }

  clearAll(): Array<Wake<boolean>> {
    const wakes: Array<Wake<boolean>> = [];
    for (const record of this.events.values()) {
      for (const waiter of record.waiters.drain()) wakes.push({ waiterId: waiter.id, holder: waiter.holder, result: false });
    }
    this.events.clear();
    this.waiterNames.clear();
    return wakes;
  }

  /** Events the scheduler remembers (set, or with waiters). */
  get size(): number {
    return this.events.size;
  }

  private record(name: string): EventRecord {
    let record = this.events.get(name);
    if (record === undefined) {
      record = { isSet: false, waiters: new WaiterQueue() };
      this.events.set(name, record);
    }
    return record;
  }

  private dropIfIdle(name: string, record: EventRecord): void {
    if (!record.isSet && record.waiters.size === 0) this.events.delete(name);
  }
}
