/**
 * Running estimate of how long tasks of each key prefix take (the part of a
 * key before its last '-': `inc-0123...` -> `inc`), which decides whether
 * ready tasks are worth batching into one thread call.
 */
import { interned } from '../interned.js';

export function keyPrefix(key: string): string {
  const dash = key.lastIndexOf('-');
  return dash > 0 ? interned(key.slice(0, dash)) : key;
}

export class PrefixDurations {
  private readonly averages = new Map<string, number>();

  /** Exponentially weighted, so a prefix whose tasks get slower stops being batched quickly. */
  record(prefix: string, milliseconds: number): void {
    const previous = this.averages.get(prefix);
    this.averages.set(prefix, previous === undefined ? milliseconds : previous * 0.75 + milliseconds * 0.25);
  }

  /** milliseconds, or undefined before the first task of the prefix has finished */
  average(prefix: string): number | undefined {
    return this.averages.get(prefix);
  }
}
