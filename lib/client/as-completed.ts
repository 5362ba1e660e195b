/**
 * `asCompleted(futures)`: an async iterable yielding futures in the order
 * they finish (finished, erred or cancelled). Futures can be added while
 * iterating (`add`, `update`); a future added twice is yielded twice.
 * `withResults` yields `[future, value]` pairs, fetching each value as its
 * future completes; a failed future then throws from the iteration, or with
 * `raiseErrors: false` is yielded as `[future, error]`.
 */
import { CancelledError } from '../errors.js';
import { stateOf, type Future } from './future.js';
import { futuresIn } from './gather-shapes.js';

/**
 * Options of `asCompleted(futures, ...)`: yield `[future, result]` pairs with `withResults`.
 */
export interface AsCompletedOptions {
  withResults?: boolean;
  /** With `withResults`: throw a failed future's error (default) or yield `[future, error]`. */
  raiseErrors?: boolean;
}

type Outcome<Item> = { ok: true; item: Item } | { ok: false; error: unknown };

/**
 * What `asCompleted` returns: an async iterable of futures (or `[future,
 * result]` pairs) in the order they finish, to which more can be added.
 *
 * @example
 * ```ts
 * const finished = asCompleted(client.map((x: number) => x * x, [1, 2, 3]));
 * for await (const future of finished) console.log(await future.result());
 * ```
 */
export class AsCompleted<Item> implements AsyncIterable<Item> {
  private readonly ready: Outcome<Item>[] = [];
  private readyHead = 0;
  /** Added and not yet in `ready`. */
  private waiting = 0;
  private wakers: Array<() => void> = [];
  /** Bumped by clear(): completions of futures added before it are ignored. */
  private generation = 0;

  constructor(
    futures: Iterable<Future<unknown>> = [],
    private readonly options: AsCompletedOptions = {},
  ) {
    this.update(futures);
  }

  /** Adds one future; it is yielded once it completes (again, if it was added before). */
  add(future: Future<unknown>): void {
    this.waiting++;
    const generation = this.generation;
    const state = stateOf(future);
    if (state.done) this.completed(future, generation);
    else if (state.closedError !== undefined) this.push({ ok: false, error: state.closedError }, generation);
    else {
      state.onSettled(() => {
        if (state.done) this.completed(future, generation);
        else this.push({ ok: false, error: state.closedError }, generation);
      });
    }
  }

  update(futures: Iterable<Future<unknown>>): void {
    for (const future of futuresIn(futures)) this.add(future);
  }

  /** Futures added and not yet yielded. */
  count(): number {
    return this.waiting + (this.ready.length - this.readyHead);
  }

  isEmpty(): boolean {
    return this.count() === 0;
  }

  /** True if the next iteration step would not wait. */
  hasReady(): boolean {
    return this.ready.length > this.readyHead;
  }

  /** Forgets every future not yet yielded. */
  clear(): void {
    this.ready.length = 0;
    this.readyHead = 0;
    this.waiting = 0;
    this.generation++;
    this.wakeUp();
  }

  async next(): Promise<IteratorResult<Item, undefined>> {
    for (;;) {
      if (this.hasReady()) return { done: false, value: this.take() };
      if (this.waiting === 0) return { done: true, value: undefined };
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Item, undefined> {
    return { next: () => this.next() };
  }

  /** Yields arrays of everything completed since the previous batch (waiting for at least one). */
  async *batches(): AsyncGenerator<Item[], void> {
    for (;;) {
      const first = await this.next();
      if (first.done === true) return;
      const batch = [first.value];
      while (this.hasReady()) batch.push(this.take());
      yield batch;
    }
  }

  private take(): Item {
    const outcome = this.ready[this.readyHead]!;
    this.ready[this.readyHead++] = undefined as unknown as Outcome<Item>;
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.item;
  }

  private completed(future: Future<unknown>, generation: number): void {
    if (this.options.withResults !== true) {
      this.push({ ok: true, item: future as Item }, generation);
      return;
    }
    future.result().then(
      (value) => this.push({ ok: true, item: [future, value] as Item }, generation),
      (error: unknown) => {
        if (this.options.raiseErrors === false) this.push({ ok: true, item: [future, error] as Item }, generation);
        else this.push({ ok: false, error: error instanceof Error ? error : new CancelledError(future.key) }, generation);
      },
    );
  }

  private push(outcome: Outcome<Item>, generation: number): void {
    if (generation !== this.generation) return; // cleared meanwhile
    this.waiting--;
    this.ready.push(outcome);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wakers = this.wakers;
    if (wakers.length === 0) return;
    this.wakers = [];
    for (const wake of wakers) wake();
  }
}

/**
 * Iterates `futures` as they complete; see AsCompleted.
 *
 * @example
 * ```ts
 * for await (const [future, value] of asCompleted(futures, { withResults: true })) console.log(future.key, value);
 * ```
 */
export function asCompleted<T>(
  futures: Iterable<Future<T>>,
  options: AsCompletedOptions & { withResults: true },
): AsCompleted<[Future<T>, T]>;
export function asCompleted<T>(futures?: Iterable<Future<T>>, options?: AsCompletedOptions): AsCompleted<Future<T>>;
export function asCompleted(futures: Iterable<Future<unknown>> = [], options: AsCompletedOptions = {}): AsCompleted<unknown> {
  return new AsCompleted(futures, options);
}
