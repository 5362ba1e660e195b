/**
 * A large binary encoded on its own — a task result or a scattered value that
 * is one Buffer, TypedArray, DataView or ArrayBuffer of 64 KiB or more — as a
 * single msgpack extension whose bytes start 8 bytes into the blob:
 *
 *   c9 | u32 payload length | EXT_LONE_BINARY | kind | 00 | bytes...
 *
 * A blob at an 8-aligned offset (they are created at offset 0, and received
 * into buffers of their own) therefore holds its bytes aligned for every
 * TypedArray, so a task can read a 100 MB Float64Array input as a view of
 * the stored blob (viewOfLoneBinary) instead of a copy. Decoding it as a
 * value (decodeValue) copies, like every other binary.
 */
import { addExtension } from 'msgpackr';
import { SerializationError } from '../errors.js';
import { EXT_LONE_BINARY } from './extension-codes.js';
import { FrameParts } from './out-of-band.js';
import {
  bytesOf,
  kindOf,
  typedArrayClassOf,
  KIND_ARRAY_BUFFER,
  KIND_BUFFER,
  KIND_DATA_VIEW,
  type Binary,
} from './binary-kinds.js';

const HEADER_BYTES = 8;
/** Kind and padding byte, counted in the ext payload's length. */
const PAYLOAD_PREFIX = 2;

/**
 * `value` as a lone-binary blob, in one exactly sized buffer (a single copy of
 * its bytes). The buffer is a SharedArrayBuffer: in one process the blob then
 * reaches pool threads by reference (no copy, nothing detached), and the
 * worker, the scheduler and an in-process client all hold the same bytes.
 */
export function encodeLoneBinary(value: Binary): Uint8Array {
  const bytes = bytesOf(value);
  const blob = new Uint8Array(new SharedArrayBuffer(HEADER_BYTES + bytes.byteLength));
  writeHeader(blob, value, bytes.byteLength);
  blob.set(bytes, HEADER_BYTES);
  return blob;
}

/**
 * The same blob as encodeLoneBinary, left in two pieces: its 8-byte header
 * and `value`'s own bytes (not copied). Over a socket the pieces leave as one
 * wire frame and arrive as the blob encodeLoneBinary would have made; the
 * caller must not change `value` until it is sent.
 */
export function loneBinaryParts(value: Binary): FrameParts {
  const bytes = bytesOf(value);
  const header = new Uint8Array(HEADER_BYTES);
  writeHeader(header, value, bytes.byteLength);
  return new FrameParts([header, bytes]);
}

function writeHeader(target: Uint8Array, value: Binary, length: number): void {
  target[0] = 0xc9;
  new DataView(target.buffer, target.byteOffset, HEADER_BYTES).setUint32(1, PAYLOAD_PREFIX + length);
  target[5] = EXT_LONE_BINARY;
  target[6] = kindOf(value);
  target[7] = 0;
}

/**
 * The binary in a lone-binary blob as a view of the blob's bytes (no copy),
 * or undefined when `blob` is not one, holds an ArrayBuffer (which cannot be
 * a view), or sits at an offset that would misalign the view.
 */
export function viewOfLoneBinary(blob: Uint8Array): Binary | undefined {
  if (blob.byteLength < HEADER_BYTES || blob[0] !== 0xc9 || blob[5] !== EXT_LONE_BINARY || blob[7] !== 0) return undefined;
  const length = blob.byteLength - HEADER_BYTES;
  if (new DataView(blob.buffer, blob.byteOffset, HEADER_BYTES).getUint32(1) !== PAYLOAD_PREFIX + length) return undefined;
  return viewOfKind(blob[6]!, blob.buffer as ArrayBuffer, blob.byteOffset + HEADER_BYTES, length);
}

/** A view of `kind` over bytes [offset, offset + length) of `buffer`; undefined for an ArrayBuffer, an unknown kind, or a misaligned typed array. */
function viewOfKind(kind: number, buffer: ArrayBuffer, offset: number, length: number): Binary | undefined {
  if (kind === KIND_BUFFER) return Buffer.from(buffer, offset, length);
  if (kind === KIND_DATA_VIEW) return new DataView(buffer, offset, length);
  const typedArrayClass = typedArrayClassOf(kind);
  if (typedArrayClass === undefined) return undefined;
  const elementSize = typedArrayClass.BYTES_PER_ELEMENT;
  if (offset % elementSize !== 0 || length % elementSize !== 0) return undefined;
  return new typedArrayClass(buffer, offset, length / elementSize);
}

/**
 * FrameParts, or what a structured clone makes of them on another thread (a
 * plain object: the class, and its cached joined copy, stay behind).
 */
export interface PartsLike {
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;
}

/**
 * The binary held by loneBinaryParts' two pieces, as a view of the second
 * piece's memory (no copy): for an in-process scatter, the caller's own
 * bytes, in the class the caller gave (an ArrayBuffer comes back as that
 * ArrayBuffer itself). Undefined when `parts` are not such a pair, or the
 * bytes cannot be a view (an ArrayBuffer given as a slice of shared memory).
 */
export function viewOfLoneBinaryParts(held: PartsLike): Binary | undefined {
  const parts = held.parts;
  if (!Array.isArray(parts) || parts.length !== 2) return undefined;
  const [header, bytes] = parts as [Uint8Array, Uint8Array];
  if (!(header instanceof Uint8Array) || !(bytes instanceof Uint8Array) || header.byteLength !== HEADER_BYTES) return undefined;
  if (header[0] !== 0xc9 || header[5] !== EXT_LONE_BINARY || header[7] !== 0) return undefined;
  const length = bytes.byteLength;
  if (new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(1) !== PAYLOAD_PREFIX + length) return undefined;
  const kind = header[6]!;
  const buffer = bytes.buffer as ArrayBuffer;
  if (kind !== KIND_ARRAY_BUFFER) return viewOfKind(kind, buffer, bytes.byteOffset, length);
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && length === buffer.byteLength ? buffer : undefined;
}

/** Decoding inside a value: a copy of the bytes, in the class that was encoded. */
function unpackLoneBinary(payload: Uint8Array): Binary {
  if (payload.byteLength < PAYLOAD_PREFIX || payload[1] !== 0) throw new SerializationError('malformed lone binary');
  const kind = payload[0]!;
  // A fresh Uint8Array (payload may be a Buffer, whose slice() is a view, not a copy).
  const copy = new Uint8Array(payload.subarray(PAYLOAD_PREFIX));
  if (kind === KIND_BUFFER) return Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength);
  if (kind === KIND_ARRAY_BUFFER) return copy.buffer;
  if (kind === KIND_DATA_VIEW) return new DataView(copy.buffer);
  const typedArrayClass = typedArrayClassOf(kind);
  if (typedArrayClass === undefined) throw new SerializationError(`unknown binary kind ${kind}`);
  if (copy.byteLength % typedArrayClass.BYTES_PER_ELEMENT !== 0) {
    throw new SerializationError(`${copy.byteLength} bytes are not a ${typedArrayClass.name}`);
  }
  return new typedArrayClass(copy.buffer, 0, copy.byteLength / typedArrayClass.BYTES_PER_ELEMENT);
}

// Decoding only: values.ts writes these blobs itself (encodeLoneBinary), never through a Packr.
addExtension({ type: EXT_LONE_BINARY, unpack: unpackLoneBinary } as Parameters<typeof addExtension>[0]);
