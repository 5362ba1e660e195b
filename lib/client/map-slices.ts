/**
 * Building a long `client.map` in slices. Turning a row into a task (encode
 * the arguments, hash them into a key, make the Future) costs a few
 * microseconds, so a million rows built in one go would hold the event loop
 * for seconds. A MapSlices builds rows until a time budget (or a row cap) is
 * spent, then lets the loop turn before the next slice; each slice leaves as
 * its own update-graph. Touching a Future not built yet builds up to it at
 * once, so the result looks like a plain array of Futures.
 *
 * A slice also ends once the thread's turn is spent (lib/comm/turn-budget.ts):
 * in one process the scheduler handles each slice's update-graph in the same
 * turn, and two budgets of 8 ms each made 16 ms turns, before any garbage
 * collection inside them.
 *
 * The clocks and the deferral are injectable: tests drive the slicing
 * deterministically, without timing anything.
 */
import { turnOver } from '../comm/turn-budget.js';


export interface MapSliceOptions {
  /** Milliseconds one slice may take before the loop gets a turn (default 8). */
  budgetMs?: number;
  /** At most this many rows per slice (default 1,024). */
  maxRows?: number;
  /** The clock is read every this many rows (default 64). */
  checkEvery?: number;
  /** Default performance.now. */
  now?: () => number;
  /** Runs the next slice later; default setImmediate (after pending I/O). */
  defer?: (next: () => void) => void;
  /** True once the thread's turn is spent, checked with the clock; default turn-budget.ts's turnOver. */
  turnOver?: () => boolean;
}

export const DEFAULT_SLICE_BUDGET_MS = 8;
/**
 * Each slice is one update-graph, which a scheduler handles in one go (~3.5 µs
 * a row in-process under load): 1,024 rows keep that under ~5 ms, where 4,096
 * held a shared loop for 14-27 ms.
 */
export const DEFAULT_SLICE_MAX_ROWS = 1024;
const DEFAULT_CHECK_EVERY = 64;

/** Builds rows [from, to) and returns their items, in order. */
export type BuildRows<F> = (from: number, to: number) => readonly F[];

export class MapSlices<F> {
  /** Items built so far, at their row's index (holes beyond `built`). */
  readonly items: F[];
  /** Rows built: [0, built) are in `items`. */
  built = 0;
  /** Slices run so far (the first, synchronous one included; forced builds not counted). */
  slices = 0;
  /** Resolves once every row is built; rejects with the error that stopped the build. */
  readonly done: Promise<void>;

  private failure: { error: unknown } | undefined;
  private scheduled = false;
  private resolve!: () => void;
  private reject!: (error: unknown) => void;
  private readonly budgetMs: number;
  private readonly maxRows: number;
  private readonly checkEvery: number;
  private readonly now: () => number;
  private readonly defer: (next: () => void) => void;
  private readonly turnOver: () => boolean;

  constructor(
    readonly total: number,
    private readonly build: BuildRows<F>,
    options: MapSliceOptions = {},
  ) {
    this.items = new Array<F>(total);
    this.budgetMs = options.budgetMs ?? DEFAULT_SLICE_BUDGET_MS;
    this.maxRows = Math.max(1, options.maxRows ?? DEFAULT_SLICE_MAX_ROWS);
    this.checkEvery = Math.max(1, options.checkEvery ?? DEFAULT_CHECK_EVERY);
    this.now = options.now ?? (() => performance.now());
    this.defer = options.defer ?? ((next) => void setImmediate(next));
    this.turnOver = options.turnOver ?? turnOver;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Nobody may ever wait on `done`; the error is thrown where items are touched too.
    this.done.catch(() => undefined);
    if (total === 0) this.resolve();
  }

  get complete(): boolean {
    return this.built === this.total;
  }

  /** The error that stopped the build, if one did. */
  get error(): unknown {
    return this.failure?.error;
  }

  /**
   * Runs one slice now and schedules the next while rows are left. Throws the
   * build's error (and stops) if a row cannot be built.
   */
  step(): void {
    this.scheduled = false;
    if (this.complete || this.failure !== undefined) return;
    const start = this.now();
    this.turnOver(); // starts the thread's turn clock, if nothing has yet
    const limit = Math.min(this.total, this.built + this.maxRows);
    while (this.built < limit) {
      this.buildTo(Math.min(limit, this.built + this.checkEvery));
      if (this.now() - start >= this.budgetMs || this.turnOver()) break;
    }
    this.slices++;
    this.settle();
  }

  /** Builds every row up to and including `index` now (an item was touched). */
  through(index: number): void {
    if (index < this.built) return;
    if (this.failure !== undefined) throw this.failure.error;
    this.buildTo(Math.min(this.total, index + 1));
    this.settle();
  }

  private buildTo(to: number): void {
    const from = this.built;
    let items: readonly F[];
    try {
      items = this.build(from, to);
    } catch (error) {
      this.failure = { error };
      this.reject(error);
      throw error;
    }
    for (let i = 0; i < items.length; i++) this.items[from + i] = items[i]!;
    this.built = to;
  }

  private settle(): void {
    if (this.complete) {
      this.resolve();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(() => {
      try {
        this.step();
      } catch {
        // Recorded in `failure`: `done` rejects, and touching a later item throws it.
      }
    });
  }
}
