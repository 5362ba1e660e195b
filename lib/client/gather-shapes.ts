/**
 * `gather` takes a Future, or arrays / plain objects nesting Futures, and
 * answers with the same shape holding values. These helpers find the Futures
 * in such a shape and rebuild it; with `errors: 'skip'` entries whose future
 * failed are left out (array items dropped, object properties omitted).
 */
import { isPlainObject } from './arguments.js';
import { Future } from './future.js';
import { unsliced } from './sliced-array.js';

/** The value type `gather(x)` resolves to. */
export type Gathered<T> =
  T extends Future<infer U> ? U
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Gathered<T[K]> }
  : T extends Record<string, unknown> ? { [K in keyof T]: Gathered<T[K]> }
  : T;

/** Marks an entry to leave out of a rebuilt shape. */
export const skipEntry: unique symbol = Symbol('skip');

/** Every Future in `shape`, in order of appearance (duplicates included). */
export function collectFutures(shape: unknown, into: Future<unknown>[] = []): Future<unknown>[] {
  if (shape instanceof Future) into.push(shape);
  else if (Array.isArray(shape)) for (const item of shape) collectFutures(item, into);
  else if (typeof shape === 'object' && shape !== null && isPlainObject(shape)) {
    for (const name of Object.keys(shape)) collectFutures(shape[name], into);
  }
  return into;
}

/** `shape` rebuilt with `valueOf(future)` in place of each Future (entries valued `skipEntry` left out). */
export function rebuildShape(shape: unknown, valueOf: (future: Future<unknown>) => unknown): unknown {
  if (shape instanceof Future) return valueOf(shape);
  if (Array.isArray(shape)) {
    const out: unknown[] = [];
    for (const item of shape) {
      const value = rebuildShape(item, valueOf);
      if (value !== skipEntry) out.push(value);
    }
    return out;
  }
  if (typeof shape === 'object' && shape !== null && isPlainObject(shape)) {
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(shape)) {
      const value = rebuildShape(shape[name], valueOf);
      if (value !== skipEntry) out[name] = value;
    }
    return out;
  }
  return shape;
}

/** A flat array of Futures (what map returns): checked in one loop, without a call per item. */
function allFutures(items: readonly unknown[]): items is Future<unknown>[] {
  for (let i = 0; i < items.length; i++) if (!(items[i] instanceof Future)) return false;
  return true;
}

/** Futures given as one Future, an iterable, or a nested shape. */
export function futuresIn(futures: unknown): Future<unknown>[] {
  if (futures instanceof Future) return [futures];
  futures = unsliced(futures);
  if (Array.isArray(futures) && allFutures(futures)) return futures.slice();
  if (Array.isArray(futures) || (typeof futures === 'object' && futures !== null && isPlainObject(futures))) {
    return collectFutures(futures);
  }
  if (typeof futures === 'object' && futures !== null && Symbol.iterator in futures) {
    return collectFutures([...(futures as Iterable<unknown>)]);
  }
  throw new TypeError(`expected a Future, or an array or iterable of Futures, got ${typeof futures}`);
}

/** Items checked and copied between two turns of the event loop by futuresInSteps. */
export const FUTURES_STEP = 16_384;

/**
 * futuresIn, taking a long flat array of Futures (what map returns) in steps
 * of FUTURES_STEP with a turn of the event loop between them: checking and
 * copying a million at once held the loop for ~40 ms. Anything else goes to
 * futuresIn as it is.
 */
export async function futuresInSteps(futures: unknown): Promise<Future<unknown>[]> {
  const items = unsliced(futures);
  if (!Array.isArray(items) || items.length <= FUTURES_STEP) return futuresIn(items);
  // Sized up front: pushing would copy the whole array each time it grew (30 ms at ~700k).
  const out = new Array<Future<unknown>>(items.length);
  for (let from = 0; from < items.length; from += FUTURES_STEP) {
    if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const to = Math.min(items.length, from + FUTURES_STEP);
    for (let i = from; i < to; i++) {
      const item: unknown = items[i];
      // Not a flat array of Futures after all: the nested-shape walk, in one go as before.
      if (!(item instanceof Future)) return futuresIn(items);
      out[i] = item;
    }
  }
  return out;
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
