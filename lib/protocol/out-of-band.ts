/**
 * Large binaries inside op-dicts travel as wire frames of their own instead of
 * being copied into msgpackr's buffer (as dask does for large bytestrings).
 *
 * msgpackr has no per-Packr hook for binaries, so one global extension takes
 * over TypedArray/ArrayBuffer/DataView encoding for every Packr: a Packr that
 * carries an `OutOfBandSink` (the wire's) gets a small frame reference for each
 * binary at or above the sink's threshold; every other binary is written
 * exactly as msgpackr itself writes it (bin, or ext 't' with moreTypes).
 */
import './typed-array-ext.js';
import { addExtension, Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { EXT_FRAME_REF } from './extension-codes.js';
import {
  bytesOf,
  kindOf,
  typedArrayClassOf,
  typedArrayCode,
  KIND_ARRAY_BUFFER,
  KIND_BUFFER,
  KIND_DATA_VIEW,
  type Binary,
  type TypedArrayClass,
} from './binary-kinds.js';

/** Binaries of at least this many bytes leave the msgpack body and become frames. */
export const OUT_OF_BAND_THRESHOLD = 64 * 1024;

const MSGPACKR_TYPED_ARRAY_EXT = 0x74;
const MSGPACKR_ARRAY_BUFFER_CODE = 0x10;
const MSGPACKR_DATA_VIEW_CODE = 0x11;

/** A piece this small (a blob's header) costs nothing to clone. */
const SMALL_PART_BYTES = 64;

/**
 * Bytes held in several buffers that travel as one wire frame: the sender
 * writes the pieces one after another (one writev), the receiver gets them
 * as one frame and decodes it as a Uint8Array. Lets a header and a caller's
 * large binary leave without being joined (copied) first. Encoded where no
 * wire frames exist (no OutOfBandSink), it is joined and written inline.
 */
export class FrameParts {
  readonly byteLength: number;
  /**
   * The joined copy shared() made, while anyone still holds it (weakly: these
   * parts, kept by a worker, must not keep a second copy of the bytes alive
   * unseen). A private field, so a structured clone leaves it behind.
   */
  #shared: WeakRef<Uint8Array> | undefined;
  constructor(readonly parts: readonly Uint8Array[]) {
    let length = 0;
    for (const part of parts) length += part.byteLength;
    this.byteLength = length;
  }

  /**
   * The pieces joined into one buffer of their own (one copy). It is shared
   * memory, as large frames received off the wire are: in one process, pool
   * threads then read it by reference.
   */
  join(): Uint8Array {
    const joined = new Uint8Array(new SharedArrayBuffer(this.byteLength));
    let at = 0;
    for (const part of this.parts) {
      joined.set(part, at);
      at += part.byteLength;
    }
    return joined;
  }

  /**
   * The joined bytes in shared memory, one copy for every reader that needs
   * the pieces as one buffer (an in-process worker handing a by-reference
   * value to a pool thread, another in-process worker holding the same parts,
   * a post to another thread) as long as one of them still holds it.
   */
  shared(): Uint8Array {
    let joined = this.#shared?.deref();
    if (joined === undefined) {
      joined = this.join();
      this.#shared = new WeakRef(joined);
    }
    return joined;
  }

  /** True when posting these pieces to another thread copies nothing large: each is shared memory or a few bytes. */
  get inSharedMemory(): boolean {
    return this.parts.every((part) => part.byteLength <= SMALL_PART_BYTES || part.buffer instanceof SharedArrayBuffer);
  }
}

/** One out-of-band frame: bytes in one buffer, or pieces written back to back. */
export type OutOfBandFrame = Uint8Array | FrameParts;

/** Collects the out-of-band frames of one encode; frame 0 is the body, so references start at 1. */
export class OutOfBandSink {
  readonly frames: OutOfBandFrame[] = [];
  constructor(
    readonly threshold: number,
    readonly maxFrames: number,
  ) {}
  /** Index the new frame will have on the wire, or -1 when the batch has as many frames as it may. */
  add(bytes: OutOfBandFrame): number {
    if (this.frames.length + 1 >= this.maxFrames) return -1;
    this.frames.push(bytes);
    return this.frames.length;
  }
}

/** A Packr whose large binaries can be diverted into an OutOfBandSink. */
export class FramingPackr extends Packr {
  outOfBand: OutOfBandSink | null = null;
}

interface WriteTarget {
  target: Uint8Array;
  targetView: DataView;
  position: number;
}
type AllocateForWrite = (size: number) => WriteTarget;
interface PackingContext {
  moreTypes?: boolean;
  outOfBand?: OutOfBandSink | null;
}

function writeBin(bytes: Uint8Array, allocateForWrite: AllocateForWrite): void {
  const length = bytes.byteLength;
  let { target, position, targetView } = length < 0x100 ? allocateForWrite(length + 2) : length < 0x10000 ? allocateForWrite(length + 3) : allocateForWrite(length + 5);
  if (length < 0x100) {
    target[position++] = 0xc4;
    target[position++] = length;
  } else if (length < 0x10000) {
    target[position++] = 0xc5;
    target[position++] = length >> 8;
    target[position++] = length & 0xff;
  } else {
    target[position++] = 0xc6;
    targetView.setUint32(position, length);
    position += 4;
  }
  target.set(bytes, position);
}

function writeTypedExt(bytes: Uint8Array, code: number, allocateForWrite: AllocateForWrite): void {
  const length = bytes.byteLength;
  let target: Uint8Array;
  let position: number;
  if (length + 1 < 0x100) {
    ({ target, position } = allocateForWrite(4 + length));
    target[position++] = 0xc7;
    target[position++] = length + 1;
  } else if (length + 1 < 0x10000) {
    ({ target, position } = allocateForWrite(5 + length));
    target[position++] = 0xc8;
    target[position++] = (length + 1) >> 8;
    target[position++] = (length + 1) & 0xff;
  } else {
    let targetView: DataView;
    ({ target, position, targetView } = allocateForWrite(7 + length));
    target[position++] = 0xc9;
    targetView.setUint32(position, length + 1);
    position += 4;
  }
  target[position++] = MSGPACKR_TYPED_ARRAY_EXT;
  target[position++] = code;
  target.set(bytes, position);
}

function frameReference(kind: number, index: number): Uint8Array {
  return Uint8Array.of(kind, index >>> 24, (index >>> 16) & 0xff, (index >>> 8) & 0xff, index & 0xff);
}

function packBinary(this: PackingContext, value: Binary, allocateForWrite: AllocateForWrite): Uint8Array | undefined {
  const sink = this.outOfBand;
  if (sink !== undefined && sink !== null && value.byteLength >= sink.threshold) {
    const index = sink.add(bytesOf(value));
    if (index > 0) return frameReference(kindOf(value), index);
  }
  // Inline: what msgpackr's own extensions write for these classes.
  const bytes = bytesOf(value);
  if (value instanceof ArrayBuffer || value instanceof DataView) {
    if (this.moreTypes) writeTypedExt(bytes, value instanceof ArrayBuffer ? MSGPACKR_ARRAY_BUFFER_CODE : MSGPACKR_DATA_VIEW_CODE, allocateForWrite);
    else writeBin(bytes, allocateForWrite);
  } else if (value.constructor === Buffer || !this.moreTypes) {
    writeBin(bytes, allocateForWrite);
  } else {
    writeTypedExt(bytes, typedArrayCode(value), allocateForWrite);
  }
  return undefined;
}

/** The frames of the message being decoded; frame references resolve against it. */
let activeFrames: readonly Uint8Array[] | null = null;

/** Run `decode` with frame references resolving to `frames` (index 0 is the body and is never referenced). */
export function withFrames<T>(frames: readonly Uint8Array[], decode: () => T): T {
  const previous = activeFrames;
  activeFrames = frames;
  try {
    return decode();
  } finally {
    activeFrames = previous;
  }
}

/** An ArrayBuffer of its own (never shared memory) holding `bytes`. */
function copyOf(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer as ArrayBuffer;
}

function resolveFrameReference(data: Uint8Array): Binary {
  if (activeFrames === null) throw new ProtocolError('frame reference outside a framed wire message');
  if (data.byteLength !== 5) throw new ProtocolError('malformed frame reference');
  const kind = data[0]!;
  const index = ((data[1]! << 24) | (data[2]! << 16) | (data[3]! << 8) | data[4]!) >>> 0;
  if (index < 1 || index >= activeFrames.length) throw new ProtocolError(`frame reference ${index} out of range`);
  const frame = activeFrames[index]!;
  const buffer = frame.buffer as ArrayBuffer;
  switch (kind) {
    case KIND_BUFFER:
      return Buffer.from(buffer, frame.byteOffset, frame.byteLength);
    case KIND_ARRAY_BUFFER:
      // Large frames are received into shared memory (wire.ts); an ArrayBuffer was sent, so one comes back.
      return frame.byteOffset === 0 && frame.byteLength === buffer.byteLength && buffer instanceof ArrayBuffer ? buffer : copyOf(frame);
    case KIND_DATA_VIEW:
      return new DataView(buffer, frame.byteOffset, frame.byteLength);
  }
  const typedArrayClass: TypedArrayClass | undefined = typedArrayClassOf(kind);
  if (typedArrayClass === undefined) throw new ProtocolError(`unknown frame reference kind ${kind}`);
  const elementSize = typedArrayClass.BYTES_PER_ELEMENT;
  if (frame.byteLength % elementSize !== 0) throw new ProtocolError(`frame of ${frame.byteLength} bytes is not a ${typedArrayClass.name}`);
  // A view needs an aligned offset; frames inside a reassembled or received buffer may not have one.
  if (frame.byteOffset % elementSize === 0) return new typedArrayClass(buffer, frame.byteOffset, frame.byteLength / elementSize);
  return new typedArrayClass(copyOf(frame));
}

const KIND_UINT8_ARRAY = kindOf(new Uint8Array(0));

/** FrameParts: a frame of their own when a sink takes them (whatever their size), else their joined bytes inline. */
function packParts(this: PackingContext, value: FrameParts, allocateForWrite: AllocateForWrite): Uint8Array | undefined {
  const sink = this.outOfBand;
  if (sink !== undefined && sink !== null) {
    const index = sink.add(value);
    if (index > 0) return frameReference(KIND_UINT8_ARRAY, index);
  }
  return packBinary.call(this, value.join(), allocateForWrite);
}

addExtension({
  Class: FrameParts,
  type: EXT_FRAME_REF,
  pack: packParts as unknown as (value: unknown) => Uint8Array,
  unpack: resolveFrameReference,
});

const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new () => ArrayBufferView;
for (const binaryClass of [ArrayBuffer, DataView, TypedArray] as const) {
  addExtension({
    Class: binaryClass,
    type: EXT_FRAME_REF,
    pack: packBinary as unknown as (value: unknown) => Uint8Array,
    unpack: resolveFrameReference,
  });
}
