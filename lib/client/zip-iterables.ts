/** map's iterables zipped (stopping at the shortest): as rows of an async stream, or as columns. */
import { isAsyncIterable } from './gather-shapes.js';

/** Rows of the (sync or async) iterables zipped, stopping at the shortest. */
export async function* zipAsync(iterables: ReadonlyArray<Iterable<unknown> | AsyncIterable<unknown>>): AsyncGenerator<unknown[]> {
  const iterators = iterables.map((iterable) =>
    isAsyncIterable(iterable) ? iterable[Symbol.asyncIterator]() : (iterable as Iterable<unknown>)[Symbol.iterator](),
  );
  try {
    for (;;) {
      const row: unknown[] = [];
      for (const iterator of iterators) {
        const step = await iterator.next();
        if (step.done === true) return;
        row.push(step.value);
      }
      yield row;
    }
  } finally {
    await Promise.all(iterators.map((iterator) => iterator.return?.()));
  }
}

/**
 * The iterables zipped as columns, stopping at the shortest: arrays are used
 * as they are; other iterables are read in step into arrays.
 */
export function zipColumns(iterables: readonly Iterable<unknown>[]): { columns: ArrayLike<unknown>[]; length: number } {
  if (iterables.every((iterable) => Array.isArray(iterable))) {
    const arrays = iterables as readonly unknown[][];
    return { columns: [...arrays], length: Math.min(...arrays.map((array) => array.length)) };
  }
  const iterators = iterables.map((iterable) => iterable[Symbol.iterator]());
  const columns: unknown[][] = iterables.map(() => []);
  let length = 0;
  try {
    for (;;) {
      const values: unknown[] = [];
      for (const iterator of iterators) {
        const step = iterator.next();
        if (step.done === true) return { columns, length };
        values.push(step.value);
      }
      for (let c = 0; c < values.length; c++) columns[c]!.push(values[c]);
      length++;
    }
  } finally {
    for (const iterator of iterators) iterator.return?.();
  }
}
