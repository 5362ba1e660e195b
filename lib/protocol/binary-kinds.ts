/**
 * Which binary class a byte range stands for, as one byte: shared by wire
 * frame references (out-of-band.ts) and lone-binary blobs (lone-binary.ts),
 * so both rebuild a Buffer as a Buffer, a Float64Array as a Float64Array...
 */

export type Binary = ArrayBufferView | ArrayBuffer;

/** Same order as msgpackr's typed-array codes (ext 't'), so inline output matches msgpackr byte for byte. */
export const TYPED_ARRAY_CLASSES = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as const;
export type TypedArrayClass = (typeof TYPED_ARRAY_CLASSES)[number];

export const KIND_BUFFER = 0;
export const KIND_ARRAY_BUFFER = 1;
export const KIND_DATA_VIEW = 2;
/** KIND_TYPED_ARRAY + the class's index in TYPED_ARRAY_CLASSES. */
export const KIND_TYPED_ARRAY = 16;

/** The index of `view`'s class in TYPED_ARRAY_CLASSES (a subclass counts as its base; anything else as Uint8Array). */
export function typedArrayCode(view: ArrayBufferView): number {
  const ownClass = view.constructor;
  for (let i = 0; i < TYPED_ARRAY_CLASSES.length; i++) if (TYPED_ARRAY_CLASSES[i] === ownClass) return i;
  for (let i = 0; i < TYPED_ARRAY_CLASSES.length; i++) if (view instanceof TYPED_ARRAY_CLASSES[i]) return i;
  return 1;
}

export function kindOf(value: Binary): number {
  if (value instanceof ArrayBuffer) return KIND_ARRAY_BUFFER;
  if (value instanceof DataView) return KIND_DATA_VIEW;
  if (Buffer.isBuffer(value)) return KIND_BUFFER;
  return KIND_TYPED_ARRAY + typedArrayCode(value);
}

/** The TypedArray class of a kind, or undefined for the other kinds and unknown ones. */
export function typedArrayClassOf(kind: number): TypedArrayClass | undefined {
  return kind >= KIND_TYPED_ARRAY ? TYPED_ARRAY_CLASSES[kind - KIND_TYPED_ARRAY] : undefined;
}

export function bytesOf(value: Binary): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(value);
}
