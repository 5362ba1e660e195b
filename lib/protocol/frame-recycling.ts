/**
 * Receive buffers of large wire frames, used again once their value is gone.
 *
 * Why: reading 100 MB from a socket into fresh memory costs more than the copy
 * itself on Linux (every 4 KiB page is faulted in and zeroed first; measured
 * ~1-1.5 GB/s into fresh memory against 5-15 GB/s into memory touched before
 * on the benchmark VM). A worker that is sent one large value after another
 * (scatter, gather, release, scatter...) can read the next one into the
 * buffer of a value it released.
 *
 * When a buffer may go back to the pool, and why no view of it can remain:
 * 1. It was allocated here, for one frame, by a decoder that opted in
 *    (`takeFrameBuffer`): a worker's own listener, whose messages go to the
 *    worker and nowhere else.
 * 2. Its owner `claim`ed it while the message that carried it was being
 *    handled, as a whole buffer, before anyone else saw it (only the
 *    first claim counts; the owner claims frames that one message carries once).
 * 3. The owner never handed it to anything but sends (`expose` ends
 *    eligibility for good: a task, a thread, a peer in this process...).
 * 4. Every send that carries it (`sendQueued`, counted when the message
 *    is built) has been written to the socket (`sendCallback`, from the
 *    write's completion): the kernel has copied the bytes. A send that never
 *    completes (a closed comm, an in-process peer holding it by reference)
 *    keeps the count up, and the buffer is simply left to the garbage collector.
 * 5. The owner dropped it (`release`).
 * The pool keeps at most POOL_MAX_BYTES and empties itself POOL_IDLE_MS after
 * the last buffer came back, so the memory goes back to the system.
 */

import type { HeldBlob } from './messages.js';

/** Frames at least this large come from (and go back to) the pool. */
export const RECYCLE_MIN_BYTES = 1024 * 1024;
const POOL_MAX_BYTES = 256 * 1024 * 1024;
const POOL_IDLE_MS = 5000;

interface Ownership {
  owner: object | null;
  /** Sends queued and not yet written. */
  sending: number;
  /** The owner released it while sends were outstanding: pool it when they end. */
  released: boolean;
}

/** Buffers allocated for frames, while they may still come back (1-2); deleted on exposure. */
const frames = new WeakMap<SharedArrayBuffer, Ownership>();
const pool: SharedArrayBuffer[] = [];
let pooledBytes = 0;
let idleTimer: NodeJS.Timeout | undefined;

export interface RecyclingCounters {
  /** Frame buffers taken from the pool instead of allocated. */
  reused: number;
  /** Buffers put back into the pool. */
  recycled: number;
  /** Buffers in the pool now, and their bytes. */
  pooled: number;
  pooledBytes: number;
}

const counters = { reused: 0, recycled: 0 };

/** What the pool has done in this process (for tests and benchmarks). */
export function recyclingCounters(): RecyclingCounters {
  return { ...counters, pooled: pool.length, pooledBytes };
}

/** A buffer of exactly `length` bytes for one large frame: a released one when the pool has it, else new. */
export function takeFrameBuffer(length: number): SharedArrayBuffer {
  let buffer: SharedArrayBuffer | undefined;
  if (length >= RECYCLE_MIN_BYTES) {
    const at = pool.findIndex((b) => b.byteLength === length);
    if (at >= 0) {
      buffer = pool.splice(at, 1)[0]!;
      pooledBytes -= length;
      counters.reused++;
    }
  }
  buffer ??= new SharedArrayBuffer(length);
  if (length >= RECYCLE_MIN_BYTES) frames.set(buffer, { owner: null, sending: 0, released: false });
  return buffer;
}

/** The SharedArrayBuffer `view` covers whole, if it does (a value held in pieces never does). */
function wholeBuffer(view: HeldBlob): SharedArrayBuffer | null {
  if (!(view instanceof Uint8Array)) return null;
  const buffer = view.buffer;
  return buffer instanceof SharedArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength ? buffer : null;
}

/** `owner` takes `view` (a whole frame buffer from `takeFrameBuffer`, not yet claimed); false if it cannot be recycled. */
export function claim(view: HeldBlob, owner: object): boolean {
  const buffer = wholeBuffer(view);
  const entry = buffer === null ? undefined : frames.get(buffer);
  if (entry === undefined || entry.owner !== null) return false;
  entry.owner = owner;
  return true;
}

/** Whether `owner` claimed `view`'s buffer and may still recycle it. */
export function owns(view: HeldBlob, owner: object): boolean {
  const buffer = wholeBuffer(view);
  return buffer !== null && frames.get(buffer)?.owner === owner;
}

/** `view`'s memory was handed to something that may keep it: it never goes back to the pool. */
export function expose(view: HeldBlob): void {
  if (view instanceof Uint8Array && view.buffer instanceof SharedArrayBuffer) frames.delete(view.buffer);
}

/** A message carrying `view` as a frame is about to be queued for sending. */
export function sendQueued(view: HeldBlob): void {
  const buffer = wholeBuffer(view);
  const entry = buffer === null ? undefined : frames.get(buffer);
  if (entry !== undefined) entry.sending++;
}

/**
 * For the socket write of a whole frame: a callback that counts that send as
 * done once the write completes, or undefined when the frame is not tracked.
 */
export function sendCallback(frame: Uint8Array): (() => void) | undefined {
  if (frame.byteLength < RECYCLE_MIN_BYTES) return undefined;
  const buffer = wholeBuffer(frame);
  const entry = buffer === null ? undefined : frames.get(buffer);
  if (entry === undefined || entry.sending === 0) return undefined;
  return () => {
    entry.sending--;
    if (entry.sending === 0 && entry.released && frames.get(buffer!) === entry) toPool(buffer!);
  };
}

/** The owner dropped `view`: its buffer goes to the pool now, or once its sends are written. */
export function release(view: HeldBlob, owner: object): void {
  const buffer = wholeBuffer(view);
  const entry = buffer === null ? undefined : frames.get(buffer);
  if (entry === undefined || entry.owner !== owner) return;
  if (entry.sending > 0) {
    entry.released = true;
    return;
  }
  toPool(buffer!);
}

function toPool(buffer: SharedArrayBuffer): void {
  frames.delete(buffer);
  if (buffer.byteLength > POOL_MAX_BYTES) return;
  while (pooledBytes + buffer.byteLength > POOL_MAX_BYTES) pooledBytes -= pool.shift()!.byteLength;
  pool.push(buffer);
  pooledBytes += buffer.byteLength;
  counters.recycled++;
  if (idleTimer !== undefined) clearTimeout(idleTimer);
  idleTimer = setTimeout(emptyPool, POOL_IDLE_MS);
  idleTimer.unref();
}

/** Lets every pooled buffer go (to the garbage collector, then the system). */
export function emptyPool(): void {
  pool.length = 0;
  pooledBytes = 0;
  if (idleTimer !== undefined) clearTimeout(idleTimer);
  idleTimer = undefined;
}
