/**
 * User values as bytes ("Blobs"): task arguments, results, scattered data.
 *
 * Standard MessagePack via msgpackr (`useRecords: false`, `moreTypes: true`)
 * plus the extensions in value-extensions.ts, dependency-ref.ts and
 * out-of-band.ts, so JavaScript types come back as the same types. Class
 * instances without an extension travel as plain objects (their own
 * enumerable fields), which is deliberate; values with no meaning in another
 * process (functions, symbols, Promises, WeakMaps, ...) are refused.
 */
import { Packr, Unpackr } from 'msgpackr';
import { SerializationError } from '../errors.js';
import { DependencyRef, withDependencies } from './dependency-ref.js';
import { EncodedMap, NEGATIVE_ZERO } from './value-extensions.js';
import { FrameParts, OUT_OF_BAND_THRESHOLD } from './out-of-band.js';
import { encodeLoneBinary, loneBinaryParts, viewOfLoneBinary, viewOfLoneBinaryParts, type PartsLike } from './lone-binary.js';
import './actor-ref.js';
import { decodeScalar, NOT_SCALAR } from './scalar-values.js';

export { DependencyRef } from './dependency-ref.js';
export { FrameParts } from './out-of-band.js';

const MSGPACK_OPTIONS = { useRecords: false, moreTypes: true } as const;

class UnencodableFunction extends SerializationError {}

const packr = new Packr({
  ...MSGPACK_OPTIONS,
  writeFunction(): never {
    throw new UnencodableFunction('a function cannot be serialized');
  },
} as ConstructorParameters<typeof Packr>[0]);
// Binaries come back as copies, never as views into the Blob: in-process comms share Blobs with the
// worker holding them, and a caller writing into a decoded Buffer must not change the cluster's data.
// (Typed arrays are copied by msgpackr anyway; out-of-band frames off the wire stay zero-copy.)
const unpackr = new Unpackr({ ...MSGPACK_OPTIONS, copyBuffers: true });

/** Blobs up to this size may be a lone scalar (scalar-values.ts: a float64 is 9 bytes, a fixstr up to 32). */
const SCALAR_MAX_BYTES = 32;

/** A binary big enough that copying it once instead of twice matters. */
function isLargeBinary(value: unknown): value is ArrayBufferView | ArrayBuffer {
  return (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) && value.byteLength >= OUT_OF_BAND_THRESHOLD;
}

/** How deep encodeValue looks for Maps and -0 (deeper ones lose their type, as class-instance contents do). */
const MAX_REWRITE_DEPTH = 256;

/** The constructor name of objects, `typeof` for everything else ('number', 'string', 'null', ...). */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === null) return 'Object';
  const constructor = (prototype as { constructor?: unknown }).constructor;
  return typeof constructor === 'function' && constructor.name !== '' ? constructor.name : 'Object';
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Does `value` hold a Map or -0 that msgpackr alone would not round-trip? */
function needsRewrite(value: unknown, depth: number): boolean {
  if (typeof value === 'number') return value === 0 && 1 / value < 0;
  if (typeof value !== 'object' || value === null || depth > MAX_REWRITE_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'number' ? item === 0 && 1 / item < 0 : typeof item === 'object' && item !== null && needsRewrite(item, depth + 1)) return true;
    }
    return false;
  }
  if (value instanceof Map) return true;
  if (value instanceof Set) {
    for (const item of value) if (needsRewrite(item, depth + 1)) return true;
    return false;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) if (needsRewrite((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/** A copy of `value` with Maps and -0 replaced by their encodable stand-ins. */
function rewrite(value: unknown, depth: number): unknown {
  if (typeof value === 'number') return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
  if (typeof value !== 'object' || value === null || depth > MAX_REWRITE_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => rewrite(item, depth + 1));
  if (value instanceof Map) {
    const entries: unknown[] = [];
    for (const [key, item] of value) entries.push(rewrite(key, depth + 1), rewrite(item, depth + 1));
    return new EncodedMap(entries);
  }
  if (value instanceof Set) return new Set(Array.from(value, (item) => rewrite(item, depth + 1)));
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) copy[key] = rewrite((value as Record<string, unknown>)[key], depth + 1);
    return copy;
  }
  return value;
}

/** Where in `value` the first thing that cannot be encoded sits, for error messages. Runs only after a failure. */
function locateUnencodable(value: unknown, path: string, seen: Set<object>): string | null {
  const kind = typeof value;
  if (kind === 'function' || kind === 'symbol') return `${path} (${kind})`;
  if (kind !== 'object' || value === null) return null;
  const object = value as object;
  if (seen.has(object)) return `${path} (cycle)`;
  seen.add(object);
  if (object instanceof Promise || object instanceof WeakMap || object instanceof WeakSet || object instanceof WeakRef) {
    return `${path} (${typeName(object)})`;
  }
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer || object instanceof Date || object instanceof RegExp) return null;
  let entries: Iterable<[string, unknown]>;
  if (object instanceof Map) entries = Array.from(object, ([key, item]) => [`.get(${String(key)})`, item] as [string, unknown]);
  else if (object instanceof Set) entries = Array.from(object, (item, i) => [`[set ${i}]`, item] as [string, unknown]);
  else if (Array.isArray(object)) entries = object.map((item, i) => [`[${i}]`, item] as [string, unknown]);
  else entries = Object.keys(object).map((key) => [`.${key}`, (object as Record<string, unknown>)[key]] as [string, unknown]);
  for (const [step, item] of entries) {
    const found = locateUnencodable(item, path + step, seen);
    if (found !== null) return found;
  }
  return null;
}

function encodeFailure(value: unknown, error: unknown): SerializationError {
  let where: string | null = null;
  try {
    where = locateUnencodable(value, 'value', new Set());
  } catch {
    // getters that throw: keep the original message
  }
  const reason = error instanceof RangeError && /call stack/.test(error.message)
    ? 'it is cyclic or nested too deeply'
    : (error as Error)?.message ?? String(error);
  const message = where === null ? `cannot serialize ${typeName(value)}: ${reason}` : `cannot serialize ${where}: ${reason}`;
  return new SerializationError(message, { cause: error });
}

/**
 * Encode a user value. The result owns its ArrayBuffer (it is never a view
 * into msgpackr's shared buffer), so it can be transferred or kept.
 */
export function encodeValue(value: unknown): Uint8Array {
  if (isLargeBinary(value)) return encodeLoneBinary(value);
  let packed: Uint8Array;
  try {
    packed = packr.pack(needsRewrite(value, 0) ? rewrite(value, 0) : value);
  } catch (error) {
    throw encodeFailure(value, error);
  }
  const owned = new Uint8Array(packed.byteLength);
  owned.set(packed);
  // msgpackr keeps writing into a buffer it grew for one big value; start small again instead of pinning it.
  if (packed.byteLength > 1024 * 1024) packr.useBuffer(Buffer.allocUnsafeSlow(8192));
  return owned;
}

/**
 * encodeValue for a value a client scatters: a large binary comes back as the
 * two pieces of its blob (header, and the value's own bytes, not copied).
 * Over a socket they travel as one wire frame and arrive as encodeValue's
 * blob; until then the caller must not change the value. In this process they
 * are held as they are (HeldBlob): the worker keeps the caller's bytes by
 * reference, and a pool thread reads them through one shared copy
 * (FrameParts.shared), made when a task first needs them.
 */
export function encodeValueParts(value: unknown): Uint8Array | FrameParts {
  return isLargeBinary(value) ? loneBinaryParts(value) : encodeValue(value);
}

/** A blob from encodeValueParts as one buffer (joining the pieces of a large binary: one copy). */
export function joinedBlob(blob: Uint8Array | FrameParts): Uint8Array {
  return blob instanceof FrameParts ? blob.join() : blob;
}

/**
 * V8 keeps a typed array of at most this many bytes inside the heap, with no
 * ArrayBuffer of its own until `.buffer` is read (typed-array-ext.ts decodes
 * small binaries that way).
 */
const ON_HEAP_BYTES = 64;

/**
 * `blob` as a Buffer. A small one is copied (into node's shared pool) rather
 * than viewed: reading `.buffer` would move its bytes out of the heap into a
 * new ArrayBuffer, for every inline result a client decodes.
 */
function asBuffer(blob: Uint8Array): Buffer {
  return blob.byteLength <= ON_HEAP_BYTES ? Buffer.from(blob) : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
}

/**
 * Decode a Blob. With `deps`, each DependencyRef is replaced by `deps.get(key)`
 * (a key missing from `deps` is a SerializationError); without, DependencyRefs
 * stay DependencyRef instances. Binaries in the result are copies, not views into `blob`.
 */
export function decodeValue<T = unknown>(blob: Uint8Array, deps?: ReadonlyMap<string, unknown>): T {
  if (!(blob instanceof Uint8Array)) throw new SerializationError(`cannot decode a ${typeName(blob)}: expected bytes`);
  if (blob.byteLength <= SCALAR_MAX_BYTES) {
    // A lone small scalar (most map results): read directly, without msgpackr's copy and state.
    const scalar = decodeScalar(blob);
    if (scalar !== NOT_SCALAR) return scalar as T;
  }
  try {
    // msgpack bins decode as views of the source's class; a Buffer source keeps Buffers Buffers.
    const source = Buffer.isBuffer(blob) ? blob : asBuffer(blob);
    return withDependencies(deps ?? null, () => unpackr.unpack(source) as T);
  } catch (error) {
    if (error instanceof SerializationError) throw error;
    throw new SerializationError(`cannot decode value: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/**
 * Like decodeValue, except that a large binary on its own comes back as a
 * view of `blob`'s bytes instead of a copy (of the scattered bytes
 * themselves, when `blob` holds them by reference as FrameParts). For bytes
 * nobody else will write:
 * a task's inputs (tasks treat them as read-only, as in dask, where a task
 * receives the stored object itself) and values a client received over TCP
 * into memory of its own.
 */
export function decodeWithViews<T = unknown>(blob: Uint8Array | PartsLike): T {
  if (!(blob instanceof Uint8Array)) return decodeParts<T>(blob);
  if (blob.byteLength >= OUT_OF_BAND_THRESHOLD) {
    const view = viewOfLoneBinary(blob);
    if (view !== undefined) return view as T;
  }
  return decodeValue<T>(blob);
}

/**
 * A large binary held by reference (FrameParts from encodeValueParts, kept
 * whole by in-process workers, or those parts after a post to a pool thread):
 * a view of the same memory, in the class that was scattered; other parts are
 * joined (one copy) and decoded.
 */
function decodeParts<T>(held: PartsLike): T {
  const view = viewOfLoneBinaryParts(held);
  if (view !== undefined) return view as T;
  if (!Array.isArray(held?.parts)) throw new SerializationError(`cannot decode a ${typeName(held)}: expected bytes`);
  return decodeValue<T>(held instanceof FrameParts ? held.shared() : new FrameParts(held.parts).join());
}

/** True for the placeholders decodeValue leaves in place when called without `deps`. */
export function isDependencyRef(value: unknown): value is DependencyRef {
  return value instanceof DependencyRef;
}
