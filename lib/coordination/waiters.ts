/**
 * Parked requests of the coordination primitives (an acquire, a wait, a get...)
 * as plain records. The pure state classes never sleep or set timers: an
 * operation that cannot finish now returns `parked` with a deadline, and a
 * later operation (or the deadline passing) returns the `Wake`s to deliver.
 * The scheduler extension turns those into promise resolutions and timers.
 */

/** Milliseconds since some epoch; tests inject a fake. */
export type Clock = () => number;

/** What an operation decided for the caller. */
export type Decision<R> =
  | { kind: 'done'; result: R }
  | { kind: 'parked'; waiterId: number; deadline: number };

/** A parked caller that now has its answer. */
export interface Wake<R> {
  waiterId: number;
  /** Who asked (client id): used to hand future keys over to the waiter. */
  holder: string;
  result: R;
}

export interface Waiter<P> {
  id: number;
  holder: string;
  /** Absolute time after which the waiter times out; Infinity for none. */
  deadline: number;
  payload: P;
}

/** Deadline from a timeout in milliseconds (undefined: wait forever). */
export function deadlineFrom(now: number, timeoutMs: number | undefined): number {
  if (timeoutMs === undefined) return Infinity;
  if (!(timeoutMs >= 0)) throw new TypeError(`invalid timeout: ${String(timeoutMs)}`);
  return now + timeoutMs;
}

/**
 * FIFO of waiters with O(1) removal by id (a Map keeps insertion order).
 */
export class WaiterQueue<P> {
  private readonly byId = new Map<number, Waiter<P>>();

  get size(): number {
    return this.byId.size;
  }

  push(waiter: Waiter<P>): void {
    this.byId.set(waiter.id, waiter);
  }

  first(): Waiter<P> | undefined {
    for (const waiter of this.byId.values()) return waiter;
    return undefined;
  }

  shift(): Waiter<P> | undefined {
    const waiter = this.first();
    if (waiter !== undefined) this.byId.delete(waiter.id);
    return waiter;
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  remove(id: number): Waiter<P> | undefined {
    const waiter = this.byId.get(id);
    if (waiter !== undefined) this.byId.delete(id);
    return waiter;
  }

  /** Removes and returns every waiter of `holder`, in order. */
  removeHolder(holder: string): Array<Waiter<P>> {
    const removed: Array<Waiter<P>> = [];
    for (const waiter of this.byId.values()) {
      if (waiter.holder === holder) removed.push(waiter);
    }
    for (const waiter of removed) this.byId.delete(waiter.id);
    return removed;
  }

  /** Removes and returns everyone. */
  drain(): Array<Waiter<P>> {
    const all = [...this.byId.values()];
    this.byId.clear();
    return all;
  }

  [Symbol.iterator](): IterableIterator<Waiter<P>> {
    return this.byId.values();
  }
}
