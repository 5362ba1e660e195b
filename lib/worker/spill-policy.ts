/**
 * When a worker moves values to disk, pauses or asks to be ended, as fractions
 * of its memory limit (dask's `distributed.worker.memory`):
 *
 * - target 0.60 of *managed* memory (the bytes of the values held in RAM,
 *   plus the unmanaged rest as last measured): storing past it spills the
 *   least recently used values;
 * - spill 0.70 of *process* memory (RSS beyond the worker's resting RSS:
 *   process-memory.ts): spill until it would be back under the target;
 * - pause 0.80 of process memory: start no new tasks until below it again;
 * - terminate 0.95 of process memory: the nanny ends the process.
 *
 * Each can be `false` (off). Pure functions and a pure LRU ledger: no I/O,
 * no clock, so every decision is unit-tested on the main thread.
 */

export interface MemoryFractions {
  target: number | false;
  spill: number | false;
  pause: number | false;
  terminate: number | false;
}

export const DEFAULT_MEMORY_FRACTIONS: Readonly<MemoryFractions> = Object.freeze({
  target: 0.6,
  spill: 0.7,
  pause: 0.8,
  terminate: 0.95,
});

/** Fractions with defaults filled in; TypeError for a value that is not a fraction in (0, 1] or false. */
export function memoryFractions(given: Partial<MemoryFractions> = {}): MemoryFractions {
  const out = { ...DEFAULT_MEMORY_FRACTIONS };
  for (const name of ['target', 'spill', 'pause', 'terminate'] as const) {
    const value = given[name];
    if (value === undefined) continue;
    if (value !== false && !(typeof value === 'number' && value > 0 && value <= 1)) {
      throw new TypeError(`memory ${name} must be a fraction in (0, 1] or false, got ${String(value)}`);
    }
    out[name] = value;
  }
  return out;
}

/** Byte thresholds of a limit (undefined where a fraction is off). */
export interface MemoryThresholds {
  target: number | undefined;
  spill: number | undefined;
  pause: number | undefined;
  terminate: number | undefined;
}

export function thresholds(limit: number, fractions: MemoryFractions): MemoryThresholds {
  const of = (fraction: number | false): number | undefined => (fraction === false ? undefined : Math.floor(limit * fraction));
  return { target: of(fractions.target), spill: of(fractions.spill), pause: of(fractions.pause), terminate: of(fractions.terminate) };
}

/**
 * Values in RAM, least recently used first, with their sizes. `touch` marks a
 * key used (or adds it); a Map keeps insertion order, so re-inserting moves a
 * key to the young end.
 */
export class LruLedger {
  private readonly sizes = new Map<string, number>();
  /** Sum of the sizes held. */
  bytes = 0;

  get size(): number {
    return this.sizes.size;
  }

  has(key: string): boolean {
    return this.sizes.has(key);
  }

  touch(key: string, bytes: number): void {
    const old = this.sizes.get(key);
    if (old !== undefined) {
      this.sizes.delete(key);
      this.bytes -= old;
    }
    this.sizes.set(key, bytes);
    this.bytes += bytes;
  }

  delete(key: string): boolean {
    const old = this.sizes.get(key);
    if (old === undefined) return false;
    this.sizes.delete(key);
    this.bytes -= old;
    return true;
  }

  /** Keys, oldest first. */
  oldestFirst(): IterableIterator<[string, number]> {
    return this.sizes.entries();
  }
}

/**
 * The least recently used keys to move out so that at least `bytes` leave
 * RAM, skipping `keep` (e.g. the value being stored, or values in use).
 */
export function evictionsFor(ledger: LruLedger, bytes: number, keep: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  let freed = 0;
  if (!(bytes > 0)) return out;
  for (const [key, size] of ledger.oldestFirst()) {
    if (freed >= bytes) break;
    if (keep.has(key)) continue;
    out.push(key);
    freed += size;
  }
  return out;
}

/**
 * After storing, managed memory must be back at or under the target: the
 * bytes to move out (0 when it already is, or there is no target).
 */
export function overTarget(managedBytes: number, limits: MemoryThresholds): number {
  return limits.target === undefined ? 0 : Math.max(0, managedBytes - limits.target);
}

/** What a memory check (every monitor interval) decides from the process memory (RSS beyond the baseline). */
export interface MemoryDecision {
  /** Move this many managed bytes out (RSS over `spill`: enough to bring it to `target`). */
  spillBytes: number;
  /** Whether the worker should be paused now. */
  paused: boolean;
  /** RSS over `terminate`: the nanny should end the process. */
  terminate: boolean;
}

export function memoryDecision(rss: number, managedBytes: number, limits: MemoryThresholds): MemoryDecision {
  let spillBytes = 0;
  if (limits.spill !== undefined && rss > limits.spill) {
    // Down to the target if RSS would follow managed memory; never more than is held.
    const goal = limits.target ?? limits.spill;
    spillBytes = Math.min(managedBytes, rss - goal);
  }
  // Hysteresis as dask: paused above `pause`, running again once below it.
  const paused = limits.pause !== undefined && rss > limits.pause;
  const terminate = limits.terminate !== undefined && rss > limits.terminate;
  return { spillBytes, paused, terminate };
}
