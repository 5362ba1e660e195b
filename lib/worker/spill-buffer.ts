/**
 * A worker's store of encoded values that spills to disk (dask's SpillBuffer):
 * values live in RAM until storing one takes memory past the target (managed
 * memory, plus the unmanaged rest of the process as last measured);
 * then the least recently used go to files in the worker's spill directory.
 * Reading a spilled value brings it back into RAM (spilling others if need
 * be), so the worker state reads and writes it like a Map.
 *
 * Disk I/O is synchronous, as the state that calls it is: a 10 MB value is a
 * few milliseconds to the page cache. A value that cannot be written (disk
 * full...) stays in RAM and is logged; a value at least as large as the
 * target goes straight to disk. Which keys go is decided by spill-policy.ts.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HeldBlob } from '../protocol/messages.js';
import { evictionsFor, LruLedger, overTarget, type MemoryThresholds } from './spill-policy.js';
import { ShardedMap } from '../sharded-map.js';

/** What WorkerState needs of its value store; a plain Map is one (no spilling). */
export interface DataStore {
  get(key: string): HeldBlob | undefined;
  set(key: string, value: HeldBlob): unknown;
  delete(key: string): boolean;
  has(key: string): boolean;
  keys(): IterableIterator<string>;
  readonly size: number;
  /** Bytes of the value under `key` without reading it (a store that can tell). */
  sizeOf?(key: string): number | undefined;
}

/** Bytes of the value held under `key` (0 if none), without reading a spilled one back. */
export function storedBytes(store: DataStore, key: string): number {
  if (store.sizeOf !== undefined) return store.sizeOf(key) ?? 0;
  return store.get(key)?.byteLength ?? 0;
}

interface SpilledValue {
  file: string;
  bytes: number;
}

export interface SpillCounters {
  /** Bytes of values in RAM (managed memory). */
  memoryBytes: number;
  /** Bytes of values on disk now, and how many. */
  spilledBytes: number;
  spilledKeys: number;
  /** Values written out and read back since the start. */
  spills: number;
  unspills: number;
}

/**
 * One value to its file. A value held by reference (its blob's header and the
 * caller's bytes) is written piece by piece, so spilling it copies nothing in
 * memory; it comes back as the one joined blob, like any other value.
 */
function writeValue(file: string, value: HeldBlob): void {
  if (value instanceof Uint8Array) {
    writeFileSync(file, value);
    return;
  }
  const fd = openSync(file, 'w');
  try {
    let left = value.byteLength;
    let parts = value.parts.slice();
    while (left > 0) {
      const written = writevSync(fd, parts);
      left -= written;
      parts = afterWritten(parts, written);
    }
  } finally {
    closeSync(fd);
  }
}

/** What of `parts` is left after the first `written` bytes went out (writev may write less than asked). */
export function afterWritten(parts: Uint8Array[], written: number): Uint8Array[] {
  let skip = written;
  let i = 0;
  while (i < parts.length && skip >= parts[i]!.byteLength) skip -= parts[i++]!.byteLength;
  const rest = parts.slice(i);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

export class SpillBuffer implements DataStore {
  private readonly fast: Map<string, HeldBlob> = new ShardedMap<HeldBlob>();
  private readonly ledger = new LruLedger();
  private readonly slow = new Map<string, SpilledValue>();
  private spilledBytes = 0;
  private spills = 0;
  private unspills = 0;
  private nextFile = 0;
  /** Process memory that is not the store's (from the last memory check): it counts toward the target too. */
  private unmanaged = 0;
  private directoryMade = false;
  private lastFailureLog = 0;

  constructor(
    /** Where the files go (made on first spill, removed by close). */
    readonly directory: string,
    private readonly limits: MemoryThresholds,
    private readonly log?: Logger,
  ) {}

  get size(): number {
    return this.fast.size + this.slow.size;
  }

  /**
   * The worker's memory check tells the store how much process memory is not
   * its values (threads, buffers in flight, garbage): storing then keeps
   * managed + unmanaged at the target, as dask's spill threshold counts both.
   */
  setUnmanaged(bytes: number): void {
    this.unmanaged = Math.max(0, bytes);
  }

  /** Managed memory: bytes of the values in RAM. */
  get memoryBytes(): number {
    return this.ledger.bytes;
  }

  counters(): SpillCounters {
    return {
      memoryBytes: this.ledger.bytes,
      spilledBytes: this.spilledBytes,
      spilledKeys: this.slow.size,
      spills: this.spills,
      unspills: this.unspills,
    };
  }

  has(key: string): boolean {
    return this.fast.has(key) || this.slow.has(key);
  }

  /** True when the key is on disk now. */
  isSpilled(key: string): boolean {
    return this.slow.has(key);
  }

  /** Size of a held value without reading it back. */
  sizeOf(key: string): number | undefined {
    return this.fast.get(key)?.byteLength ?? this.slow.get(key)?.bytes;
  }

  *keys(): IterableIterator<string> {
    yield* this.fast.keys();
    yield* this.slow.keys();
  }

  /** The value if it is in RAM now, without touching its recency or reading it back from disk. */
  peekInMemory(key: string): HeldBlob | undefined {
    return this.fast.get(key);
  }

  get(key: string): HeldBlob | undefined {
    const value = this.fast.get(key);
    if (value !== undefined) {
      this.ledger.touch(key, value.byteLength);
      return value;
    }
    const spilled = this.slow.get(key);
    if (spilled === undefined) return undefined;
    const bytes = readFileSync(spilled.file);
    const back = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.forgetFile(key, spilled);
    this.unspills++;
    this.keepInMemory(key, back);
    return back;
  }

  set(key: string, value: HeldBlob): this {
    this.delete(key);
    if (this.limits.target !== undefined && value.byteLength >= this.limits.target && this.writeOut(key, value)) return this;
    this.keepInMemory(key, value);
    return this;
  }

  delete(key: string): boolean {
    if (this.fast.delete(key)) {
      this.ledger.delete(key);
      return true;
    }
    const spilled = this.slow.get(key);
    if (spilled === undefined) return false;
    this.forgetFile(key, spilled);
    return true;
  }

  /**
   * Moves least recently used values out until `bytes` have left RAM (or
   * nothing more can go); returns the bytes moved.
   */
  evict(bytes: number, keep: ReadonlySet<string> = new Set()): number {
    let moved = 0;
    for (const key of evictionsFor(this.ledger, bytes, keep)) {
      const value = this.fast.get(key)!;
      if (!this.writeOut(key, value)) break;
      this.fast.delete(key);
      this.ledger.delete(key);
      moved += value.byteLength;
    }
    return moved;
  }

  /** Removes every spill file and the directory. */
  close(): void {
    this.slow.clear();
    this.spilledBytes = 0;
    if (this.directoryMade) rmSync(this.directory, { recursive: true, force: true });
    this.directoryMade = false;
  }

  private keepInMemory(key: string, value: HeldBlob): void {
    this.fast.set(key, value);
    this.ledger.touch(key, value.byteLength);
    const excess = Math.min(this.ledger.bytes - value.byteLength, overTarget(this.ledger.bytes + this.unmanaged, this.limits));
    if (excess > 0) this.evict(excess, new Set([key]));
  }

  /** Writes one value to its file; false (value kept in RAM, logged) when that fails. */
  private writeOut(key: string, value: HeldBlob): boolean {
    const file = join(this.directory, `${this.nextFile++}.bin`);
    try {
      if (!this.directoryMade) {
        mkdirSync(this.directory, { recursive: true });
        this.directoryMade = true;
      }
      writeValue(file, value);
    } catch (error) {
      const now = Date.now();
      // Rate-limited: a full disk would otherwise log on every store.
      if (now - this.lastFailureLog > 10_000) {
        this.lastFailureLog = now;
        this.log?.error({ err: error, key, bytes: value.byteLength }, 'spill to disk failed; keeping the value in memory');
      }
      return false;
    }
    this.slow.set(key, { file, bytes: value.byteLength });
    this.spilledBytes += value.byteLength;
    this.spills++;
    return true;
  }

  private forgetFile(key: string, spilled: SpilledValue): void {
    this.slow.delete(key);
    this.spilledBytes -= spilled.bytes;
    try {
      unlinkSync(spilled.file);
    } catch {
      // Already gone (the directory was cleaned): nothing to free.
    }
  }
}
