/**
 * Bytes received from a stream, kept as the chunks they arrived in. Reads
 * that fall inside one chunk return that chunk and an offset (no copy); only
 * reads that straddle chunks are copied into a fresh buffer.
 */
const EMPTY = new Uint8Array(0);

export class ChunkQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private offset = 0;
  private readonly scratch = new Uint8Array(8);
  /** Unread bytes. */
  length = 0;
  /** Result of the last `take`: `taken[takenStart .. takenStart + n)`. Valid until the next `take`. */
  taken: Uint8Array = this.scratch;
  takenStart = 0;

  /** Queue `chunk`. The queue (and what is decoded from it) keeps references: do not reuse its memory. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    // msgpack bins decode as views of the source's class: keep Buffers Buffers whatever the transport hands in.
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.length += chunk.byteLength;
  }

  /** Consume `n` bytes (n <= length) and expose them as `taken`/`takenStart`. */
  take(n: number): void {
    const front = this.chunks[this.head]!;
    const available = front.byteLength - this.offset;
    if (available >= n) {
      this.taken = front;
      this.takenStart = this.offset;
      this.advance(n, available);
      return;
    }
    const out = n <= this.scratch.byteLength ? this.scratch : Buffer.allocUnsafe(n);
    this.copyInto(out, 0, n);
    this.taken = out;
    this.takenStart = 0;
  }

  /** Consume `n` bytes (n <= length) as a buffer of their own: a view when they lie in one chunk, else a copy. */
  takeBytes(n: number): Buffer {
    this.take(n);
    const taken = this.taken as Buffer;
    if (taken === this.scratch) return Buffer.from(taken.subarray(0, n));
    return taken.subarray(this.takenStart, this.takenStart + n);
  }

  /** Consume `n` bytes (n <= length) by copying them into `target` at `offset`. */
  copyInto(target: Uint8Array, offset: number, n: number): void {
    let written = 0;
    while (written < n) {
      const chunk = this.chunks[this.head]!;
      const chunkAvailable = chunk.byteLength - this.offset;
      const count = Math.min(chunkAvailable, n - written);
      target.set(chunk.subarray(this.offset, this.offset + count), offset + written);
      written += count;
      this.advance(count, chunkAvailable);
    }
  }

  /** Consume 8 bytes as a little-endian unsigned integer; -1 if it exceeds Number.MAX_SAFE_INTEGER. */
  takeUint64(): number {
    this.take(8);
    const bytes = this.taken;
    const at = this.takenStart;
    const low = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
    const high = (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0;
    if (high >= 0x200000) return -1;
    return high * 0x100000000 + low;
  }

  /** Drop everything (after a protocol error: nothing more will be read). */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.length = 0;
    this.taken = this.scratch;
  }

  private advance(n: number, available: number): void {
    this.length -= n;
    if (n < available) {
      this.offset += n;
      return;
    }
    this.offset = 0;
    this.chunks[this.head++] = EMPTY; // release the consumed chunk now, not when the queue next empties
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head >= 1024) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
