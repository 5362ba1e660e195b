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

export class FutureState {
  status: FutureStatus = 'pending';
  /** Type name of the value, once in memory. */
  type: string | undefined;
  nbytes: number | undefined;
  /** The task's error as it travelled, while status is 'error'. */
  exception: SerializedError | undefined;
  cancelReason: string | undefined;
  /** Set once the client can no longer learn anything about this key (closed client, data lost for good). */
  closedError: Error | undefined;
  /** Live Future objects for this record. */
  refs = 0;
  /** False for scattered data: lost with its worker, it cannot be computed again. */
  hasRecipe = true;
  /** The decoded value, cached after the first gather. */
  hasValue = false;
  value: unknown;
  /** The encoded value as it came inline with `key-in-memory`, decoded on first use. */
  blob: Uint8Array | undefined;

  private rebuiltError: Error | undefined;
  /** One listener (the common case, kept without a Set: a million-task wait adds one per record), or several. */
  private listeners: SettledListener | Set<SettledListener> | undefined;

  constructor(readonly key: string) {}

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
    if (this.exception === undefined) throw new Error(`${this.key} has no error (status ${this.status})`);
    this.rebuiltError ??= deserializeError(this.exception);
    return this.rebuiltError;
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
    if (to === 'pending' || to === 'lost') {
      this.hasValue = false;
      this.value = undefined;
      this.blob = undefined;
    }
    if (to !== 'error') {
      this.exception = undefined;
      this.rebuiltError = undefined;
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
    this.exception = exception;
    this.rebuiltError = undefined;
    return this.moveTo('error');
  }

  cancel(reason: string): boolean {
    if (this.status === 'cancelled' || !futureTable.can(this.status, 'cancelled')) return false;
    this.cancelReason = reason;
    return this.moveTo('cancelled');
  }

  /** Nothing more will be learned about this key (the client closed, the data is gone): wake every waiter with `error`. */
  close(error: Error): void {
    if (this.closedError !== undefined) return;
    this.closedError = error;
    if (!this.done) this.notify();
  }

  /** The key is back (scattered again after it was lost): waiting works again. */
  reopen(): void {
    this.closedError = undefined;
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
    this.blob = blob;
  }

  setValue(value: unknown): void {
    this.value = value;
    this.hasValue = true;
    this.blob = undefined;
  }

  /** Forgets the value (decoded or not). */
  dropValue(): void {
    this.hasValue = false;
    this.value = undefined;
    this.blob = undefined;
  }

  private notify(): void {
    const listeners = this.listeners;
    if (listeners === undefined) return;
    this.listeners = undefined;
    if (typeof listeners === 'function') listeners(this);
    else for (const listener of listeners) listener(this);
  }
}
