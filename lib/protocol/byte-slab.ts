/**
 * Small blobs held for a long time, packed side by side into shared chunks.
 *
 * A blob of its own costs far more than its bytes: a 9-byte result or a
 * 10-byte argument list is a Uint8Array, an ArrayBuffer and an off-heap
 * backing store that the collector tracks one by one (~200 B and three
 * objects). Held per task (the worker's results, the scheduler's recipes
 * kept for recomputation), a million tasks hold a million of each. Packed,
 * a blob is one view into a chunk shared with its neighbours.
 *
 * The price: a chunk lives while any of its views does, so one long-lived
 * survivor keeps CHUNK_BYTES alive. Chunks are larger than the slack above
 * which posting a view trims it (shared-bytes.ts, compactBlob in
 * lib/worker/batch-port.ts), so a packed view never drags its chunk through
 * a structured clone. Packed bytes are never written again.
 */

/** Blobs up to this many bytes are packed; larger ones keep their own buffer. */
export const PACKED_MAX_BYTES = 64;
/** One chunk (above shared-bytes.ts's 4 KiB trimming slack). */
export const CHUNK_BYTES = 8 * 1024;

export class ByteSlab {
  #chunk: Uint8Array | undefined;
  #used = 0;

  /**
   * A copy of `bytes` in this slab's current chunk, or `bytes` itself when it
   * is larger than PACKED_MAX_BYTES or in shared memory (shared on purpose).
   */
  pack(bytes: Uint8Array): Uint8Array {
    const n = bytes.byteLength;
    if (n > PACKED_MAX_BYTES || n === 0 || isShared(bytes)) return bytes;
    if (this.#chunk === undefined || this.#used + n > CHUNK_BYTES) {
      this.#chunk = new Uint8Array(CHUNK_BYTES);
      this.#used = 0;
    }
    const view = this.#chunk.subarray(this.#used, this.#used + n);
    view.set(bytes);
    this.#used += n;
    return view;
  }
}

function isShared(bytes: Uint8Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer;
}
