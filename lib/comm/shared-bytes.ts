/**
 * Making binaries cheap to post through a MessagePort.
 *
 * Structured clone copies an ordinary ArrayBuffer (all of it, even when the
 * message holds a 10-byte view into a 1 MiB slab), and transferring it would
 * detach the sender's copy — a worker serving data must keep its bytes. A
 * SharedArrayBuffer is shared by reference instead. So before a message is
 * posted, every large binary in it is moved into shared memory once (and
 * remembered, so later sends of the same bytes share that memory), and every
 * small view into a much larger buffer is trimmed to its own bytes.
 *
 * Bytes are treated as immutable once sent: mutating an ordinary buffer after
 * sending it is not reflected in later sends of the same object.
 */
import { FrameParts } from '../protocol/out-of-band.js';

/** Binaries at least this large travel in shared memory. */
export const LARGE_BINARY_BYTES = 64 * 1024;

/** A small view is trimmed when its backing buffer is this much larger than the view. */
const SLACK_BYTES = 4 * 1024;

/** Deep enough for any op-dict; deeper values are left to structured clone as they are. */
const MAX_DEPTH = 16;

const sharedCopies = new WeakMap<ArrayBufferView, ArrayBufferView>();

function isShared(view: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer;
}

/** A view of the same type over a fresh buffer (shared or not) holding a copy of `view`'s bytes. */
function copyView(view: ArrayBufferView, shared: boolean): ArrayBufferView {
  const buffer = shared ? new SharedArrayBuffer(view.byteLength) : new ArrayBuffer(view.byteLength);
  new Uint8Array(buffer).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  if (view instanceof DataView) return new DataView(buffer);
  if (view instanceof Uint8Array) return new Uint8Array(buffer);
  const TypedArrayClass = view.constructor as new (buffer: ArrayBufferLike) => ArrayBufferView;
  return new TypedArrayClass(buffer);
}

/**
 * `bytes` in shared memory: itself when it already is, otherwise a shared
 * copy made once per object. Producers that keep large binaries (a worker's
 * data store) can call this up front so no copy is ever made on send.
 */
export function sharedBytes<T extends ArrayBufferView>(bytes: T): T {
  if (isShared(bytes)) return bytes;
  let copy = sharedCopies.get(bytes);
  if (copy === undefined) {
    copy = copyView(bytes, true);
    sharedCopies.set(bytes, copy);
  }
  return copy as T;
}

function prepareView(view: ArrayBufferView): ArrayBufferView {
  if (view.byteLength >= LARGE_BINARY_BYTES) return sharedBytes(view);
  if (view.buffer.byteLength - view.byteLength > SLACK_BYTES && !isShared(view)) return copyView(view, false);
  return view;
}

/**
 * `value` ready to post: the same object when nothing needed changing,
 * otherwise a copy of the path down to each replaced binary (the caller's
 * objects are never mutated). Only plain objects and arrays are walked.
 */
export function prepareForPost(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) return prepareView(value);
  // A value held by reference (a blob's header and a caller's bytes) crosses as its joined blob, made once.
  if (value instanceof FrameParts) return value.shared();
  if (depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || typeof item !== 'object') continue;
      const prepared = prepareForPost(item, depth + 1);
      if (prepared !== item) {
        out ??= value.slice();
        out[i] = prepared;
      }
    }
    return out ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key in record) {
    const item = record[key];
    if (item === null || typeof item !== 'object') continue;
    const prepared = prepareForPost(item, depth + 1);
    if (prepared !== item) {
      out ??= { ...record };
      out[key] = prepared;
    }
  }
  return out ?? value;
}
