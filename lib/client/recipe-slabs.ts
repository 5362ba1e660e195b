/**
 * Plain recipes packed into slabs. A client keeps the recipe of every key it
 * holds (recipe-book.ts), and most are plain: one function, small encoded
 * arguments, no dependencies or options, e.g. each row of a `client.map`.
 * Kept as GraphTask objects, each costs five objects and ~350 bytes of heap
 * (task, runSpec, dependencies array, the arguments' Uint8Array and its
 * ArrayBuffer): at a million held futures that is most of the heap the
 * garbage collector walks. Here, rows that share a function are appended to
 * one slab (one byte buffer, one offsets table) and named by a small-integer
 * handle, which costs nothing to hold; the GraphTask is rebuilt on demand
 * (only when submitting again to a scheduler that restarted). A slab is freed
 * when its last row is.
 */
import type { FunctionRef, GraphTask } from '../protocol/messages.js';

/** Rows per slab. Handles are slab * ROWS + row, kept below 2^30 (a small integer). */
export const SLAB_ROWS = 4096;
const MAX_SLABS = 2 ** 30 / SLAB_ROWS;
/** Arguments larger than this stay in a GraphTask of their own (copying them buys nothing). */
export const SLAB_MAX_ARGS_BYTES = 256;
const FIRST_BYTES = 4096;

class Slab {
  bytes = new Uint8Array(FIRST_BYTES);
  /** Row i's arguments are bytes[ends[i - 1] ?? 0, ends[i]). */
  readonly ends = new Uint32Array(SLAB_ROWS);
  rows = 0;
  live = 0;

  constructor(readonly fn: FunctionRef) {}

  get full(): boolean {
    return this.rows === SLAB_ROWS;
  }

  append(args: Uint8Array): number {
    const start = this.rows === 0 ? 0 : this.ends[this.rows - 1]!;
    const end = start + args.byteLength;
    if (end > this.bytes.byteLength) {
      // Old rows' subarrays handed out keep the old buffer; rows are never written twice.
      const grown = new Uint8Array(Math.max(end, this.bytes.byteLength * 2));
      grown.set(this.bytes.subarray(0, start));
      this.bytes = grown;
    }
    this.bytes.set(args, start);
    this.ends[this.rows] = end;
    this.live++;
    return this.rows++;
  }

  args(row: number): Uint8Array {
    return this.bytes.subarray(row === 0 ? 0 : this.ends[row - 1]!, this.ends[row]!);
  }
}

/** Whether `task` is plain enough for a slab. */
export function slabbable(task: GraphTask): boolean {
  const spec = task.runSpec;
  return (
    spec !== undefined &&
    spec.actor === undefined &&
    spec.args.byteLength <= SLAB_MAX_ARGS_BYTES &&
    task.dependencies.length === 0 &&
    task.restrictions === undefined &&
    task.retries === undefined &&
    task.priority === undefined
  );
}

export class RecipeSlabs {
  private readonly slabs: (Slab | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /** The slab rows are appended to while its function comes again. */
  private open: { id: number; slab: Slab } | undefined;

  /** Slabs holding at least one live row. */
  get count(): number {
    return this.slabs.length - this.freeIds.length;
  }

  /** Appends a plain task's recipe (see slabbable); returns its handle. */
  add(task: GraphTask): number {
    const spec = task.runSpec!;
    let open = this.open;
    if (open === undefined || open.slab.full || open.slab.fn !== spec.fn) {
      if (open !== undefined && open.slab.live === 0) this.free(open.id);
      const id = this.freeIds.pop() ?? this.slabs.length;
      if (id >= MAX_SLABS) throw new RangeError(`more than ${MAX_SLABS} recipe slabs in use`);
      open = { id, slab: new Slab(spec.fn) };
      this.slabs[id] = open.slab;
      this.open = open;
    }
    return open.id * SLAB_ROWS + open.slab.append(spec.args);
  }

  /** The recipe of `key` behind `handle`, as a GraphTask. */
  task(key: string, handle: number): GraphTask {
    const slab = this.slabOf(handle);
    return { key, dependencies: [], runSpec: { fn: slab.fn, args: slab.args(handle % SLAB_ROWS) } };
  }

  /** The row behind `handle` is no longer kept; the slab goes with its last row. */
  drop(handle: number): void {
    const id = Math.floor(handle / SLAB_ROWS);
    const slab = this.slabOf(handle);
    if (--slab.live > 0) return;
    // An open slab that emptied is reused from its next row on, not freed under the appender.
    if (this.open?.slab === slab) return;
    this.free(id);
  }

  private free(id: number): void {
    this.slabs[id] = undefined;
    this.freeIds.push(id);
  }

  private slabOf(handle: number): Slab {
    const slab = this.slabs[Math.floor(handle / SLAB_ROWS)];
    if (slab === undefined) throw new Error(`no recipe slab for handle ${handle}`);
    return slab;
  }
}
