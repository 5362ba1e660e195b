/**
 * How much of a worker process's memory counts against its `memoryLimit`.
 *
 * A Node worker process is ~100 MB resident before it holds a single value:
 * the node binary's pages, V8 and one isolate per pool thread. dask counts a
 * Python worker's whole RSS because its baseline is small against the usual
 * limits of gigabytes; here a 256 MB limit would leave almost nothing. So the
 * worker measures its RSS once it has started (its baseline) and counts
 * what it grows beyond that: process memory = RSS − baseline. Spilling,
 * pausing and the nanny's restart compare that figure with the fractions of
 * the limit (spill-policy.ts); managed memory (the store's bytes in RAM) is
 * part of it, unmanaged memory is the rest.
 */
import { memoryUsage } from 'node:process';

/** Process memory counted against the limit: resident bytes beyond the baseline (never negative). */
export function countedMemory(rss: number, baseline: number): number {
  return Math.max(0, rss - baseline);
}

export class ProcessMemory {
  /** Resident bytes when the worker had started, holding nothing. */
  baseline: number;

  constructor(private readonly readRss: () => number = () => memoryUsage.rss()) {
    this.baseline = readRss();
  }

  /**
   * Measure the baseline again, now that the pool's threads are up (their
   * isolates are part of an idle worker); call it only while nothing is held.
   * It rises by at most `maxRise` bytes: on a loaded machine the threads can
   * come up after the first work has begun (a `client.run` holding memory,
   * seen in nanny-memory), and that work must stay counted against the limit.
   */
  rebase(maxRise = Number.POSITIVE_INFINITY): void {
    this.baseline = Math.max(this.baseline, Math.min(this.readRss(), this.baseline + maxRise));
  }

  /** The resident set size now. */
  rss(): number {
    return this.readRss();
  }

  /** Resident bytes beyond the baseline now. */
  counted(): number {
    return countedMemory(this.readRss(), this.baseline);
  }
}
