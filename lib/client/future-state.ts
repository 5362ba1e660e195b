/**
 * What one client knows about one key. Every Future for that key in this
 * client shares the record (dask's FutureState); `refs` counts the live
 * Future objects, and the client releases the key when it drops to zero.
 *
 * Status moves only along machines/future.ts. Waiters register a one-shot
 * listener that runs when the record settles: done (finished, error,
 * cancelled) or closed (the client lost its scheduler).
 */
import { CancelledError } from '../errors.js';
import { futureTable, type FutureStatus } from '../../machines/future.js';
import type { SerializedError } from '../protocol/messages.js';
import { deserializeError } from '../protocol/errors.js';
import { decodeValue } from '../protocol/values.js';
import { interned } from '../interned.js';

/** Inline values up to this many bytes are decoded on arrival when they hold a primitive. */
const DECODE_ON_ARRIVAL_BYTES = 24;

export type SettledListener = (state: FutureState) => void;

/** Bits of `FutureState.flags`. */
const HAS_RECIPE = 1;
/** `slot` holds the decoded value. */
const HAS_VALUE = 2;
/** `slot` holds the encoded value as it came inline, not yet decoded. */
const ENCODED = 4;

/**
 * What only a failed, cancelled or closed record needs, kept off the record
 * itself: a million held futures each carry one record, and every field on it
 * is 8 bytes (and one more pointer for the collector to trace).
 */
interface RareFields {
  exception: SerializedError | undefined;
  cancelReason: string | undefined;
  closedError: Error | undefined;
  rebuiltError: Error | undefined;
}

export class FutureState {
  status: FutureStatus = 'pending';
  /** Type name of the value, once in memory. */
  type: string | undefined = undefined;
  nbytes: number | undefined = undefined;
  /** Live Future objects for this record. */
  refs = 0;
  /** HAS_RECIPE | HAS_VALUE | ENCODED. */
  private flags = HAS_RECIPE;
  /** The decoded value (HAS_VALUE), the encoded one (ENCODED), or nothing. */
  private slot: unknown = undefined;
  private rare: RareFields | undefined = undefined;
  /** One listener (the common case, kept without a Set: a million-task wait adds one per record), or several. */
  private listeners: SettledListener | Set<SettledListener> | undefined = undefined;

  constructor(readonly key: string) {}

  /** The task's error as it travelled, while status is 'error'. */
  get exception(): SerializedError | undefined {
    return this.rare?.exception;
  }

  get cancelReason(): string | undefined {
    return this.rare?.cancelReason;
  }

  /** Set once the client can no longer learn anything about this key (closed client, data lost for good). */
  get closedError(): Error | undefined {
    return this.rare?.closedError;
  }

  /** False for scattered data: lost with its worker, it cannot be computed again. */
  get hasRecipe(): boolean {
    return (this.flags & HAS_RECIPE) !== 0;
  }

  set hasRecipe(has: boolean) {
    this.flags = has ? this.flags | HAS_RECIPE : this.flags & ~HAS_RECIPE;
  }

  /** The decoded value is here (cached after the first gather, or decoded on arrival). */
  get hasValue(): boolean {
    return (this.flags & HAS_VALUE) !== 0;
  }

  /** The decoded value, while hasValue. */
  get value(): unknown {
    return (this.flags & HAS_VALUE) !== 0 ? this.slot : undefined;
  }

  /** The encoded value as it came inline with `key-in-memory`, decoded on first use. */
  get blob(): Uint8Array | undefined {
    return (this.flags & ENCODED) !== 0 ? (this.slot as Uint8Array) : undefined;
  }

  get done(): boolean {
    return this.status === 'finished' || this.status === 'error' || this.status === 'cancelled';
  }

  /** Done, or closed: nothing more to wait for. */
  get settled(): boolean {
    return this.done || this.closedError !== undefined;
  }

  /** The task's error rebuilt (same name, message and remote stack); one instance per failure. */
  error(): Error {
    if (this.status === 'cancelled') return new CancelledError(this.key, this.cancelReason);
    const rare = this.rare;
    if (rare?.exception === undefined) throw new Error(`${this.key} has no error (status ${this.status})`);
    rare.rebuiltError ??= deserializeError(rare.exception);
    return rare.rebuiltError;
  }

  /** Runs `listener` once when this record next settles. Returns a function that unsubscribes. */
  onSettled(listener: SettledListener): () => void {
    this.listen(listener);
    return () => this.unlisten(listener);
  }

  /** Adds `listener` for the next settling; false when it is registered already. */
  listen(listener: SettledListener): boolean {
    const current = this.listeners;
    if (current === undefined) {
      this.listeners = listener;
      return true;
    }
    if (current === listener) return false;
    if (typeof current === 'function') {
      this.listeners = new Set([current, listener]);
      return true;
    }
    if (current.has(listener)) return false;
    current.add(listener);
    return true;
  }

  unlisten(listener: SettledListener): void {
    const current = this.listeners;
    if (current === listener) this.listeners = undefined;
    else if (typeof current === 'object') current.delete(listener);
  }

  /**
   * Moves to `to`; returns false (and changes nothing) when the record is
   * already there or the edge is not legal, e.g. a late message for a
   * cancelled record.
   */
  moveTo(to: FutureStatus): boolean {
    if (this.status === to || !futureTable.can(this.status, to)) return false;
    this.status = futureTable.move(this.status, to, this.key);
    if (to === 'pending' || to === 'lost') this.dropValue();
    if (to !== 'error' && this.rare !== undefined) {
      this.rare.exception = undefined;
      this.rare.rebuiltError = undefined;
    }
    if (this.done) this.notify();
    return true;
  }

  finish(type: string | undefined, nbytes: number | undefined): boolean {
    if (!this.moveTo('finished')) return false;
    this.type = interned(type);
    this.nbytes = nbytes;
    return true;
  }

  fail(exception: SerializedError): boolean {
    if (this.status === 'error' || !futureTable.can(this.status, 'error')) return false;
    const rare = this.rareFields();
    rare.exception = exception;
    rare.rebuiltError = undefined;
    return this.moveTo('error');
  }

  cancel(reason: string): boolean {
    if (this.status === 'cancelled' || !futureTable.can(this.status, 'cancelled')) return false;
    this.rareFields().cancelReason = reason;
    return this.moveTo('cancelled');
  }

  /** Nothing more will be learned about this key (the client closed, the data is gone): wake every waiter with `error`. */
  close(error: Error): void {
    if (this.closedError !== undefined) return;
    this.rareFields().closedError = error;
    if (!this.done) this.notify();
  }

  /** The key is back (scattered again after it was lost): waiting works again. */
  reopen(): void {
    if (this.rare !== undefined) this.rare.closedError = undefined;
  }

  /**
   * Keeps a value that came inline with key-in-memory. A tiny one that is a
   * primitive (a number, a short string) is decoded at once: a held future
   * then carries no Uint8Array and buffer of its own (~200 bytes each, at a
   * million futures). Anything else stays encoded until first used.
   */
  holdInline(blob: Uint8Array): void {
    if (blob.byteLength <= DECODE_ON_ARRIVAL_BYTES) {
      try {
        const value = decodeValue(blob);
        if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
          this.setValue(value);
          return;
        }
      } catch {
        // Kept encoded: decoding again on first use reports the error there.
      }
    }
    this.slot = blob;
    this.flags = (this.flags & ~HAS_VALUE) | ENCODED;
  }

  setValue(value: unknown): void {
    this.slot = value;
    this.flags = (this.flags & ~ENCODED) | HAS_VALUE;
  }

  /** Forgets the value (decoded or not). */
  dropValue(): void {
    this.slot = undefined;
    this.flags &= ~(HAS_VALUE | ENCODED);
  }

  private rareFields(): RareFields {
    return (this.rare ??= { exception: undefined, cancelReason: undefined, closedError: undefined, rebuiltError: undefined });
  }

  private notify(): void {
    const listeners = this.listeners;
    if (listeners === undefined) return;
    this.listeners = undefined;
    if (typeof listeners === 'function') listeners(this);
    else for (const listener of listeners) listener(this);
  }
}
