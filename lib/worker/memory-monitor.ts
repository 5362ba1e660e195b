/**
 * A worker's memory limit and the timer that holds its store to it: process
 * memory over `spill` moves least recently used values to disk until it should
 * be back at the target (spill-policy.ts decides how much).
 */
import { availableParallelism, totalmem } from 'node:os';
import { parseBytes } from '../units.js';
import { collectGarbage } from './collect-garbage.js';
import type { SpillBuffer } from './spill-buffer.js';
import { memoryDecision, type MemoryThresholds } from './spill-policy.js';

/** Per memory check, the remembered peak of unmanaged memory shrinks by this factor (to ~1/3 in a second at 100 ms). */
const UNMANAGED_PEAK_DECAY = 0.9;

/** `memoryLimit` in bytes: 'auto' is this worker's share of the machine by threads; 0 or none means no limit. */
export function resolveMemoryLimit(limit: number | string | undefined, nthreads: number): number | undefined {
  if (limit === undefined) return undefined;
  if (limit === 'auto') return Math.floor(totalmem() * Math.min(1, nthreads / availableParallelism()));
  const bytes = parseBytes(limit);
  return bytes === 0 ? undefined : bytes;
}

/** Every `intervalMs`, compare `counted()` (process bytes above the baseline) with `limits` and spill from `buffer`. */
export function watchMemory(buffer: SpillBuffer, limits: MemoryThresholds, intervalMs: number, counted: () => number): NodeJS.Timeout {
  let unmanagedPeak = 0;
  const timer = setInterval(() => {
    const bytes = counted();
    // Unmanaged memory comes in bursts (a batch's buffers in flight): the store keeps room for the recent peak.
    unmanagedPeak = Math.max(bytes - buffer.memoryBytes, unmanagedPeak * UNMANAGED_PEAK_DECAY);
    buffer.setUnmanaged(unmanagedPeak);
    const decision = memoryDecision(bytes, buffer.memoryBytes, limits);
    if (decision.spillBytes > 0) {
      buffer.evict(decision.spillBytes);
      // What was moved out, and buffers dead since the last collection, are freed only once V8 collects them.
      collectGarbage(250);
    }
  }, intervalMs);
  timer.unref();
  return timer;
}
