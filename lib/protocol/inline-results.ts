/**
 * Small results travel with the news that they exist: the worker puts a value
 * of at most INLINE_RESULT_BYTES into its `task-finished`, and the scheduler
 * passes it on in `key-in-memory` to the clients that want the key (without
 * keeping it). `result()` and `gather` of such keys then need no round trip
 * to the scheduler and the worker. Larger values, and keys whose news came
 * without one, are fetched with the `gather` RPC as before.
 */
import type { Blob, HeldBlob } from './messages.js';

export const INLINE_RESULT_BYTES = 64 * 1024;

/** `blob` when it is small enough to travel inline, else undefined. */
export function inlineValue(blob: HeldBlob | undefined): Blob | undefined {
  return blob instanceof Uint8Array && blob.byteLength <= INLINE_RESULT_BYTES ? blob : undefined;
}
