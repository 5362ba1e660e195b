/**
 * Releasing a key when the garbage collector reclaims its last Future.
 *
 * Each Future is registered with a FinalizationRegistry, holding its record.
 * Registering with an unregister token (to cancel the watch on an explicit
 * `release()`) makes V8 keep a table of every token and mark through it: at
 * a million held futures, a full mark of the client's heap took ~3× as long
 * with tokens as without (and 34 bytes more per future). So no token: the
 * watch stays after an explicit release, and its callback must then be told
 * apart from a sibling's (another Future of the same key, still counted):
 *
 * - a record whose count reached zero is dead: later callbacks are ignored;
 * - a release that leaves siblings counted keeps a WeakRef to the released
 *   Future (rare: a key held by several Futures); a callback that finds one
 *   of those emptied is that Future's own, and drops nothing.
 *
 * V8 runs the callbacks of every Future collected in one cycle in one task: a
 * map of a million dropped without release() made that one block of seconds
 * (each drop tells the scheduler, in-process in the same turn). So a callback
 * only queues its record; the drops run a turn-budgeted piece at a time
 * (lib/comm/turn-budget.ts), in the order collected.
 */
import { nextTurn, turnOver } from '../comm/turn-budget.js';
import type { FutureState } from './future-state.js';

/** Records queued per chunk of the collected queue. */
const CHUNK = 4096;
/** The thread's turn clock is read after every this many drops. */
const CHECK_EVERY = 64;

export class FutureReclaim {
  private readonly registry: FinalizationRegistry<FutureState>;
  /** Futures released explicitly while other references to their record remained. */
  private readonly releasedAlive = new Map<FutureState, WeakRef<object>[]>();
  /** Records of collected Futures not handled yet, in chunks (one array of a million would be copied as it grew). */
  private collectedQueue: FutureState[][] = [];
  private collectedHead = 0;
  private draining = false;

  constructor(
    /** Drops one reference to the state's key (the session's bookkeeping). */
    private readonly drop: (state: FutureState) => void,
  ) {
    this.registry = new FinalizationRegistry((state) => this.collected(state));
  }

  /** A new Future of `state` (already counted in state.refs). */
  track(future: object, state: FutureState): void {
    this.registry.register(future, state);
  }

  /** `future` was released explicitly (and its reference already dropped). */
  released(future: object, state: FutureState): void {
    if (state.refs <= 0) {
      this.releasedAlive.delete(state);
      return;
    }
    const list = this.releasedAlive.get(state);
    if (list === undefined) this.releasedAlive.set(state, [new WeakRef(future)]);
    else list.push(new WeakRef(future));
  }

  /** Collected Futures whose drop has not run yet (for tests). */
  get pendingCollected(): number {
    let n = -this.collectedHead;
    for (const chunk of this.collectedQueue) n += chunk.length;
    return n;
  }

  /** Entries kept for released Futures (for tests). */
  get pendingReleased(): number {
    let n = 0;
    for (const list of this.releasedAlive.values()) n += list.length;
    return n;
  }

  private collected(state: FutureState): void {
    const queue = this.collectedQueue;
    const last = queue[queue.length - 1];
    if (last === undefined || last.length === CHUNK) queue.push([state]);
    else last.push(state);
    if (!this.draining) {
      this.draining = true;
      nextTurn(this.drain);
    }
  }

  /** Handles queued records until this thread's turn is spent, then carries on at a later turn. */
  private readonly drain = (): void => {
    const queue = this.collectedQueue;
    let handled = 0;
    while (queue.length > 0) {
      const chunk = queue[0]!;
      const state = chunk[this.collectedHead]!;
      chunk[this.collectedHead] = undefined as unknown as FutureState;
      if (++this.collectedHead === chunk.length) {
        queue.shift();
        this.collectedHead = 0;
      }
      this.settleCollected(state);
      if (++handled % CHECK_EVERY === 0 && queue.length > 0 && turnOver()) {
        nextTurn(this.drain);
        return;
      }
    }
    this.draining = false;
  };

  private settleCollected(state: FutureState): void {
    if (state.refs <= 0) {
      // Dead record: the callback of a Future released explicitly before.
      this.releasedAlive.delete(state);
      return;
    }
    const list = this.releasedAlive.get(state);
    if (list !== undefined) {
      const gone = list.findIndex((ref) => ref.deref() === undefined);
      if (gone >= 0) {
        // A released Future's own callback: its reference was dropped by release().
        list.splice(gone, 1);
        if (list.length === 0) this.releasedAlive.delete(state);
        return;
      }
    }
    this.drop(state);
    if (state.refs <= 0) this.releasedAlive.delete(state);
  }
}
