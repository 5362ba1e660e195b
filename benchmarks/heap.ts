/** Heap measurement for benchmarks: a gc() that works without --expose-gc, and the heap after it settles. */
import { runInNewContext } from 'node:vm';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/**
 * The process's gc(), switched on at run time when node was not started with
 * --expose-gc (piscina hands execArgv to its threads, which refuse that flag).
 */
export function obtainGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Heap in use after three full collections. */
export function settledHeap(gc: () => void): number {
  for (let i = 0; i < 3; i++) gc();
  return getHeapStatistics().used_heap_size;
}
