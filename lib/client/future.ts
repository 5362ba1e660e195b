/**
 * A Future: a handle on a remote value that some task will produce (or that
 * `scatter` placed). Futures for the same key in one client share one
 * FutureState; the client releases the key on the scheduler when its last
 * Future is released, disposed or reclaimed by the garbage collector.
 *
 * Deliberately not thenable (no `then`): `await future` must never start a
 * transfer by surprise. Use `await future.result()`.
 */
import { inspect } from 'node:util';
import type { FutureStatus } from '../../machines/future.js';
import type { RegisteredClient as Client } from '../task-context.js';
import { childLogger } from '../logging.js';
import { taskKeyOf, type TaskReference } from './arguments.js';
import { withTimeout } from '../deadline.js';
import type { FutureState } from './future-state.js';

const log = childLogger('future');

/**
 * Options of `future.result(...)`, `exception(...)` and `traceback(...)`: how long to wait.
 */
export interface WaitOptions {
  /** milliseconds or a string with a unit; default: wait as long as it takes */
  timeout?: number | string;
}

/**
 * Options of `future.cancel(...)` and `client.cancel(futures, ...)`.
 */
export interface CancelOptions {
  /** Cancel even when other clients want the key too. */
  force?: boolean;
  reason?: string;
}

/** The side of a client that Futures talk to. */
export interface FutureOwner {
  /** The public Client object (for `future.client`). */
  readonly client: Client;
  /** Counts the Future as a live reference to `state` (and watches it for garbage collection). */
  adopt(future: Future<unknown>, state: FutureState): void;
  /** Drops that reference; the last one releases the key. */
  disown(future: Future<unknown>, state: FutureState): void;
  /** The values of `states`, in order (rejects with the first task error met, CancelledError...). */
  results(states: readonly FutureState[]): Promise<unknown[]>;
  cancel(states: readonly FutureState[], options: CancelOptions): Promise<void>;
  retry(states: readonly FutureState[]): Promise<void>;
  /** Wakes when `state` settles; rejects with its closedError when the client closed. */
  settled(state: FutureState): Promise<void>;
  /** Tells the scheduler that `client` (a pseudo-client such as 'fire-and-forget') wants `keys`. */
  desireKeys(keys: readonly string[], client: string): void;
}

let stateOfFuture: (future: Future<unknown>) => FutureState;
let ownerOfFuture: (future: Future<unknown>) => FutureOwner;

/**
 * A handle on a value a task will produce (or that `scatter` placed) on the
 * cluster. Not thenable: `await future.result()` fetches the value. The data
 * lives while some Future holds its key.
 *
 * @example
 * ```ts
 * const future = client.submit((x: number) => x * 2, 21);
 * console.log(future.status);            // 'pending'
 * console.log(await future.result());    // 42
 * future.release();
 * ```
 */
export class Future<T = unknown> implements TaskReference, Disposable {
  readonly #state: FutureState;
  readonly #owner: FutureOwner;
  #released = false;

  static {
    stateOfFuture = (future) => future.#state;
    ownerOfFuture = (future) => future.#owner;
  }

  /** Made by a Client (submit, map, scatter...), not by users. */
  constructor(state: FutureState, owner: FutureOwner) {
    this.#state = state;
    this.#owner = owner;
    owner.adopt(this, state);
  }

  get key(): string {
    return this.#state.key;
  }

  get [taskKeyOf](): string {
    return this.#state.key;
  }

  get status(): FutureStatus {
    return this.#state.status;
  }

  /** Type name of the value once it is in memory (e.g. 'number', 'Map'). */
  get type(): string | undefined {
    return this.#state.type;
  }

  /** The Client this future belongs to. */
  get client(): Client {
    return this.#owner.client;
  }

  /** True once the task finished, erred or was cancelled. */
  done(): boolean {
    return this.#state.done;
  }

  cancelled(): boolean {
    return this.#state.status === 'cancelled';
  }

  /** The value; rejects with the task's error (remote stack kept), CancelledError or TimeoutError. */
  async result(options: WaitOptions = {}): Promise<T> {
    const state = this.#state;
    if (state.hasValue && state.status === 'finished') return state.value as T;
    const values = withTimeout(this.#owner.results([state]), options.timeout, () => `result() of ${state.key}`);
    return ((await values) as unknown[])[0] as T;
  }

  /** The task's error once it is done, or undefined if it did not fail. */
  async exception(options: WaitOptions = {}): Promise<Error | undefined> {
    await settledWithin(this, this.#state, options, 'exception()');
    return this.#state.status === 'error' ? this.#state.error() : undefined;
  }

  /** The remote stack of the task's error, or undefined if it did not fail. */
  async traceback(options: WaitOptions = {}): Promise<string | undefined> {
    await settledWithin(this, this.#state, options, 'traceback()');
    return this.#state.status === 'error' ? this.#state.exception?.stack : undefined;
  }

  /** Cancels the task (dependents fail with CancelledError); see Client.cancel. */
  cancel(options: CancelOptions = {}): Promise<void> {
    return this.#owner.cancel([this.#state], options);
  }

  /** Runs an erred task (and its erred dependencies) again. */
  retry(): Promise<void> {
    return this.#owner.retry([this.#state]);
  }

  /** Calls `callback(this)` once the future is done (at once, asynchronously, if it already is). */
  addDoneCallback(callback: (future: this) => void): void {
    const run = (): void => {
      try {
        callback(this);
      } catch (error) {
        log.error({ err: error, key: this.key }, 'a done callback threw');
      }
    };
    if (this.#state.done) {
      queueMicrotask(run);
      return;
    }
    const state = this.#state;
    if (state.closedError !== undefined) return;
    const listen = (): void => {
      state.onSettled(() => {
        if (state.done) run();
        else if (state.closedError === undefined) listen();
      });
    };
    listen();
  }

  /** Drops this reference now instead of waiting for the garbage collector. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.disown(this, this.#state);
  }

  get released(): boolean {
    return this.#released;
  }

  [Symbol.dispose](): void {
    this.release();
  }

  toString(): string {
    const type = this.#state.status === 'finished' && this.#state.type !== undefined ? `, type: ${this.#state.type}` : '';
    return `<Future: status: ${this.#state.status}${type}, key: ${this.#state.key}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Resolves once `state` is done. A module function rather than a private
 * method: a class with private methods gives every instance a brand field,
 * 8 bytes on each of a million held Futures.
 */
function settledWithin(future: Future<unknown>, state: FutureState, options: WaitOptions, what: string): Promise<void> {
  if (state.done) return Promise.resolve();
  return withTimeout(ownerOfFuture(future).settled(state), options.timeout, () => `${what} of ${state.key}`);
}

/** Internal: the shared record behind a Future. */
export function stateOf(future: Future<unknown>): FutureState {
  return stateOfFuture(future);
}

/** Internal: the client internals a Future belongs to. */
export function ownerOf(future: Future<unknown>): FutureOwner {
  return ownerOfFuture(future);
}

export function isFuture(value: unknown): value is Future<unknown> {
  return value instanceof Future;
}
