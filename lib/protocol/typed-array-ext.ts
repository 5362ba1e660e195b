/**
 * Reading msgpackr's typed-array extension (ext 't': one class code byte,
 * then the bytes), the form every inline binary takes on the wire and in
 * values (`moreTypes`). msgpackr's own reader copies the bytes into a fresh
 * ArrayBuffer (for alignment) and wraps it in a second view: for a 5-byte
 * result in `key-in-memory` that is a view, an ArrayBuffer with memory of its
 * own outside the heap, and another view, each one for the scavenger to sweep
 * (a million results: ~600 B of garbage each, and scavenges that spent tens
 * of ms freeing array buffers).
 *
 * A Uint8Array is copied into a new Uint8Array instead: one view, whose bytes
 * V8 keeps inside the heap when small, with no ArrayBuffer until `.buffer` is
 * read. Same result for the reader: a plain Uint8Array (not a Buffer: `slice`
 * of the Buffer being decoded would make one) of its own bytes, offset 0.
 * Everything else is read as msgpackr reads it.
 */
import { addExtension } from 'msgpackr';
import { TYPED_ARRAY_CLASSES } from './binary-kinds.js';

/** msgpackr's ext type for typed arrays, and its codes for ArrayBuffer and DataView. */
const TYPED_ARRAY_EXT = 0x74;
const ARRAY_BUFFER_CODE = 0x10;
const DATA_VIEW_CODE = 0x11;
const UINT8_CODE = 1;
/** Up to this many bytes a loop copies faster than `set` of a subarray (which makes a view first). */
const LOOP_COPY_BYTES = 64;

/** The bytes after the class code, in a Uint8Array of their own. */
function copyBytes(data: Uint8Array): Uint8Array {
  const n = data.length - 1;
  const out = new Uint8Array(n);
  if (n <= LOOP_COPY_BYTES) for (let i = 0; i < n; i++) out[i] = data[i + 1]!;
  else out.set(data.subarray(1));
  return out;
}

/** The value of one ext 't' payload (`data`: the class code, then the bytes). */
export function readTypedArrayExt(data: Uint8Array): ArrayBufferView | ArrayBuffer {
  const code = data[0]!;
  if (code === UINT8_CODE) return copyBytes(data);
  // A fresh ArrayBuffer is aligned for every element size.
  const buffer = copyBytes(data).buffer as ArrayBuffer;
  if (code === ARRAY_BUFFER_CODE) return buffer;
  if (code === DATA_VIEW_CODE) return new DataView(buffer);
  const Class = TYPED_ARRAY_CLASSES[code];
  if (Class === undefined) throw new Error(`Could not find typed array for code ${code}`);
  return new (Class as new (buffer: ArrayBuffer) => ArrayBufferView)(buffer);
}

addExtension({ type: TYPED_ARRAY_EXT, unpack: readTypedArrayExt } as Parameters<typeof addExtension>[0]);
