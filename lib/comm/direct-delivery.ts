/**
 * Handing message batches between two comm ends that live in the same thread
 * without a MessagePort: no structured clone, no event-loop wake-up. The
 * receiver gets the sender's objects themselves, so both sides treat a message
 * as immutable once written (the rule large binaries followed already).
 *
 * A batch is delivered from a microtask (the sender's flush), which keeps a
 * request -> reply chain between actors of one thread inside one turn of the
 * event loop. So that such chains can never starve timers and I/O, at most
 * `MAX_DIRECT_PER_TURN` batches go that way per turn, and none once the
 * thread's turn budget is spent (turn-budget.ts); later ones wait for a later
 * turn. Order per receiver is kept: once a receiver has a deferred batch,
 * everything after it is deferred too.
 */
import { nextTurn, turnOver } from './turn-budget.js';

/** Batches delivered from microtasks per event-loop turn before deferring to setImmediate. */
export const MAX_DIRECT_PER_TURN = 2000;

export interface DirectReceiver {
  /** Takes one batch (an array of messages) in order. */
  receiveBatch(batch: unknown[]): void;
}

let deliveredThisTurn = 0;
let turnResetScheduled = false;
/** Batches waiting for a later turn, per receiver (so that everything after a deferred batch waits too). */
const deferred = new Map<DirectReceiver, number>();

function resetTurn(): void {
  deliveredThisTurn = 0;
  turnResetScheduled = false;
}

/**
 * Delivers `batch` to `receiver` now, or at a later turn (turn-budget.ts's
 * `nextTurn`, in order) when this turn has delivered enough batches or used
 * the thread's budget.
 */
export function deliverDirect(receiver: DirectReceiver, batch: unknown[]): void {
  const waiting = deferred.get(receiver);
  if (waiting === undefined && deliveredThisTurn < MAX_DIRECT_PER_TURN && !turnOver()) {
    deliveredThisTurn++;
    if (!turnResetScheduled) {
      turnResetScheduled = true;
      setImmediate(resetTurn);
    }
    receiver.receiveBatch(batch);
    return;
  }
  deferred.set(receiver, (waiting ?? 0) + 1);
  nextTurn(() => {
    const left = deferred.get(receiver)! - 1;
    if (left === 0) deferred.delete(receiver);
    else deferred.set(receiver, left);
    receiver.receiveBatch(batch);
  });
}

/** Containers deeper than this are not inspected (structured clone would take them). */
const MAX_CHECK_DEPTH = 64;

/**
 * Where in `value` something sits that a MessagePort could not clone (a
 * function, symbol, Promise, WeakMap...), e.g. `.result.fn`, or undefined when
 * there is none. Direct delivery skips the clone, so it checks this instead.
 */
export function uncloneablePart(value: unknown, path = '', depth = 0): string | undefined {
  const kind = typeof value;
  if (kind === 'function' || kind === 'symbol') return `${path || 'message'} (${kind})`;
  if (kind !== 'object' || value === null || depth > MAX_CHECK_DEPTH) return undefined;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
      const found = uncloneablePart(item, `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value instanceof Map) {
    for (const [key, item] of value) {
      const found = uncloneablePart(key, `${path}(map key)`, depth + 1) ?? uncloneablePart(item, `${path}.get(${String(key)})`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value instanceof Set) {
    for (const item of value) {
      const found = uncloneablePart(item, `${path}(set)`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
    return `${path || 'message'} (${(value as object).constructor.name})`;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
    const found = uncloneablePart(item, `${path}.${key}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
