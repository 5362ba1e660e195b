/**
 * A worker's value store that hands the receive buffers of large scattered
 * values back to frame-recycling.ts's pool when they are dropped, if nothing
 * but sends ever saw them.
 *
 * It wraps the real store (a Map, or the SpillBuffer) and is the one place
 * values are read, so the rule is the store's own: every `get` counts as
 * exposure (a task, a thread, an actor may keep what it is given); only
 * `getForSending` (get_data: the bytes go to a socket, counted until written)
 * does not. A value enters as recyclable only through `claim` (the worker's
 * update_data handler, with the frames of a message read on its own listener),
 * and is handed back on `delete` (released, forgotten, replaced).
 */
import type { HeldBlob } from '../protocol/messages.js';
import { claim, expose, owns, release, sendQueued } from '../protocol/frame-recycling.js';
import { SpillBuffer, storedBytes, type DataStore } from './spill-buffer.js';

export class RecyclingStore implements DataStore {
  /** Keys whose value is a claimed frame buffer nobody but sends has seen. */
  private readonly unseen = new Set<string>();

  /** `inner`: the store underneath (a Map, or the SpillBuffer with its counters). */
  constructor(readonly inner: DataStore) {}

  get size(): number {
    return this.inner.size;
  }

  /**
   * Takes the received `blobs` (an update_data's values, straight from the
   * message) as this store's to recycle. A buffer that appears twice is left alone.
   */
  claim(blobs: readonly HeldBlob[]): void {
    // Only bytes received whole (a Uint8Array): a value held in pieces came by reference from this process.
    const received = blobs.filter((blob): blob is Uint8Array => blob instanceof Uint8Array);
    const seen = new Set<ArrayBufferLike>();
    const twice = new Set<ArrayBufferLike>();
    for (const blob of received) (seen.has(blob.buffer) ? twice : seen).add(blob.buffer);
    for (const blob of received) if (!twice.has(blob.buffer)) claim(blob, this);
  }

  has(key: string): boolean {
    return this.inner.has(key);
  }

  keys(): IterableIterator<string> {
    return this.inner.keys();
  }

  /** Size of the value under `key`, without reading (or exposing) it. */
  sizeOf(key: string): number | undefined {
    return this.inner.has(key) ? storedBytes(this.inner, key) : undefined;
  }

  get(key: string): HeldBlob | undefined {
    const value = this.inner.get(key);
    if (this.unseen.delete(key) && value !== undefined) expose(value);
    return value;
  }

  /** The value to put in a get_data reply: counted as a send until its socket write completes. */
  getForSending(key: string): HeldBlob | undefined {
    const value = this.inner.get(key);
    if (value !== undefined && this.unseen.has(key)) sendQueued(value);
    return value;
  }

  set(key: string, value: HeldBlob): this {
    this.delete(key);
    this.inner.set(key, value);
    if (owns(value, this)) this.unseen.add(key);
    return this;
  }

  delete(key: string): boolean {
    if (!this.unseen.delete(key)) return this.inner.delete(key);
    // Read before deleting: a spilled value comes back as a fresh copy, which is not ours to recycle.
    const value = this.inner instanceof SpillBuffer ? this.inner.peekInMemory(key) : this.inner.get(key);
    const deleted = this.inner.delete(key);
    if (value !== undefined) release(value, this);
    return deleted;
  }
}
