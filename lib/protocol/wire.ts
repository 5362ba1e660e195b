/**
 * Op-dicts <-> bytes for stream transports (TCP), after dask's protocol
 * (manual §2.19.8). One `encodeBatch` call is one message on the wire; it
 * carries N op-dicts:
 *
 *   u64 LE frame count F (1 <= F <= MAX_FRAME_COUNT)
 *   u64 LE length of each frame, F times
 *   frame 0:    msgpack header [version = 1, codec of body, codec of frame 1, ...]
 *               immediately followed by the body: msgpack array of the op-dicts
 *   frames 1..: large binaries from inside the op-dicts, each referenced from
 *               the body by an extension (out-of-band.ts), never copied into it
 *
 * The message limit applies per wire frame. A logical frame (the body or a
 * binary) longer than the limit travels as several wire frames: every piece
 * but the last has codec CODEC_PART, the last carries the frame's own codec,
 * and the decoder joins them. The whole message is bounded by a second, much
 * larger cap (maxTotalMessageBytes).
 *
 * docs/protocol.md has the full table, codec ids, limits and error behaviour.
 */
import { constants as bufferConstants } from 'node:buffer';
import { totalmem } from 'node:os';
import { RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { MessageTooLargeError, ProtocolError, SerializationError } from '../errors.js';
import { ChunkQueue } from './chunk-queue.js';
import { takeFrameBuffer } from './frame-recycling.js';
import { CODEC_LZ4, CODEC_RAW, COMPRESSION_MIN_BYTES, decompress, maybeCompress, sampleCompresses } from './compression.js';
import { FrameParts, FramingPackr, OUT_OF_BAND_THRESHOLD, OutOfBandSink, withFrames, type OutOfBandFrame } from './out-of-band.js';
import type { OpDict } from './messages.js';
import './value-extensions.js';
import './dependency-ref.js';

export { OUT_OF_BAND_THRESHOLD } from './out-of-band.js';
export { CODEC_LZ4, CODEC_RAW, COMPRESSION_MIN_BYTES } from './compression.js';

/** Largest message a WireDecoder accepts unless told otherwise: 1 GiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

/**
 * The message limit of this process: DISTRIBUTED_MAX_MESSAGE_BYTES (a byte
 * count) when set to a positive integer, else DEFAULT_MAX_MESSAGE_BYTES. Both
 * ends of a TCP comm apply it: a receiver refuses larger messages, a sender
 * refuses to send them (MessageTooLargeError before any byte leaves).
 */
export function maxMessageBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.DISTRIBUTED_MAX_MESSAGE_BYTES?.trim();
  if (text === undefined || text === '' || !/^\d+$/.test(text) || Number(text) <= 0) return DEFAULT_MAX_MESSAGE_BYTES;
  return Number(text);
}

/**
 * The cap on a whole message (all its frames) in this process:
 * DISTRIBUTED_MAX_TOTAL_MESSAGE_BYTES when set to a positive integer, else the
 * machine's memory (and never more than one Buffer can hold). A sender refuses
 * a message over it before any byte leaves; a receiver refuses to read one.
 */
export function maxTotalMessageBytes(env: NodeJS.ProcessEnv = process.env): number {
  const ceiling = Math.min(totalmem(), bufferConstants.MAX_LENGTH);
  const text = env.DISTRIBUTED_MAX_TOTAL_MESSAGE_BYTES?.trim();
  if (text === undefined || text === '' || !/^\d+$/.test(text) || Number(text) <= 0) return ceiling;
  return Math.min(Number(text), ceiling);
}

/** Codec of a wire frame that is a piece of a longer frame, continued by the next wire frame. */
export const CODEC_PART = 2;
/** The smallest per-frame limit an encoder accepts (room for a header of MAX_FRAME_COUNT codecs). */
export const MIN_FRAME_LIMIT_BYTES = 128 * 1024;

/** Bytes of one encoded message on the wire (the sum of its frames). */
export function messageSize(frames: readonly Uint8Array[]): number {
  let total = 0;
  for (const frame of frames) total += frame.byteLength;
  return total;
}
/** Most frames one message may have (one body plus out-of-band binaries). */
export const MAX_FRAME_COUNT = 65536;
export const WIRE_VERSION = 1;

/** Header of a message with only a raw body: msgpack [1, 0]. */
const PLAIN_HEADER = [0x92, WIRE_VERSION, CODEC_RAW] as const;
/** Count, one length, plain header: what a message without frames or compression starts with. */
const PLAIN_PREFIX_BYTES = 8 + 8 + PLAIN_HEADER.length;
/** Frame 0 holds at least a header (2 bytes) and a body (1 byte). */
const MIN_FIRST_FRAME_BYTES = 3;
const EMPTY_FRAME = new Uint8Array(0);

const MSGPACK_OPTIONS = { useRecords: false, moreTypes: true } as const;

/**
 * Frames at least this big are received into a buffer of their own instead of
 * the chunk queue. That buffer is a SharedArrayBuffer: a worker hands the
 * bytes to its task threads by reference (structured clone copies an
 * ordinary ArrayBuffer, and transferring it would take it from the worker).
 */
export const DIRECT_FRAME_BYTES = 1024 * 1024;
/**
 * A large frame's buffer is allocated once it is at most this far ahead of the
 * bytes of it already received, or at most ALLOCATE_AHEAD_RATIO times them: a
 * peer that declares a big frame and stalls makes us reserve little.
 */
const ALLOCATE_AHEAD_BYTES = 1024 * 1024;
const ALLOCATE_AHEAD_RATIO = 32;
/**
 * Reads outside large frames land here and are copied out at once, at their
 * real size: idle connections hold no read buffer. One for all decoders: a
 * socket's read and its `commitRead` run back to back (node:net `onread`).
 */
const readScratch = Buffer.allocUnsafeSlow(64 * 1024);

export interface EncodeOptions {
  /** lz4 for frames over 1 kB that compress by 10 % or more (default true). */
  compression?: boolean;
  /** Binaries of at least this many bytes travel as frames of their own (default OUT_OF_BAND_THRESHOLD). */
  outOfBandThreshold?: number;
  /** Split frames longer than this into pieces (default: no splitting). At least MIN_FRAME_LIMIT_BYTES. */
  maxFrameBytes?: number;
}

export interface WireDecoderOptions {
  /** Refuse wire frames (and the length prefix) declaring more bytes than this. */
  maxMessageBytes?: number;
  /** Refuse messages declaring more bytes than this in all (framing + frames, and again after decompression). */
  maxTotalBytes?: number;
  /** Frames at least this big are received into a buffer of their own (default DIRECT_FRAME_BYTES). */
  largeFrameBytes?: number;
  /** Take those buffers from frame-recycling.ts's pool (default false). */
  recycleLargeFrames?: boolean;
}

const packr = new FramingPackr({
  ...MSGPACK_OPTIONS,
  writeFunction(): never {
    throw new SerializationError('a function cannot be sent in an op-dict');
  },
} as ConstructorParameters<typeof FramingPackr>[0]);
const unpackr = new Unpackr(MSGPACK_OPTIONS);
const defaultSink = new OutOfBandSink(OUT_OF_BAND_THRESHOLD, MAX_FRAME_COUNT);

function writeUint64(target: Buffer, offset: number, value: number): void {
  target.writeUInt32LE(value >>> 0, offset);
  target.writeUInt32LE(Math.floor(value / 0x100000000), offset + 4);
}

function headerBytes(elements: number): number {
  return (elements < 16 ? 1 : elements < 0x10000 ? 3 : 5) + elements;
}

function writeHeader(target: Buffer, offset: number, codecs: Uint8Array): number {
  const elements = codecs.length + 1;
  if (elements < 16) {
    target[offset++] = 0x90 | elements;
  } else if (elements < 0x10000) {
    target[offset++] = 0xdc;
    target.writeUInt16BE(elements, offset);
    offset += 2;
  } else {
    target[offset++] = 0xdd;
    target.writeUInt32BE(elements, offset);
    offset += 4;
  }
  target[offset++] = WIRE_VERSION;
  target.set(codecs, offset);
  return offset + codecs.length;
}

function packFailure(error: unknown): Error {
  if (error instanceof SerializationError || error instanceof ProtocolError) return error;
  return new SerializationError(`cannot encode op-dict: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/**
 * Encode op-dicts as one wire message. Returns the buffers to write, in order
 * (for `socket.cork()` + writes, or writev). Large binaries inside the
 * messages are returned as they are, not copied; the caller must not mutate
 * them until written. Messages are not validated beyond `op` being a string.
 */
export function encodeBatch(messages: OpDict[], options?: EncodeOptions): Uint8Array[] {
  const encoded = encodeWhole(messages, options);
  const limit = options?.maxFrameBytes;
  if (limit === undefined) return writeOrder(encoded);
  if (!(limit >= MIN_FRAME_LIMIT_BYTES)) throw new RangeError(`maxFrameBytes must be at least ${MIN_FRAME_LIMIT_BYTES}, got ${limit}`);
  if (encoded.length === 1) {
    if (encoded[0]!.byteLength - 16 <= limit) return writeOrder(encoded);
  } else {
    let fits = true;
    for (let i = 1; i < encoded.length; i++) if (encoded[i]!.byteLength > limit) fits = false;
    if (fits && encoded[0]!.byteLength - 8 - 8 * (encoded.length - 1) + encoded[1]!.byteLength <= limit) return writeOrder(encoded);
  }
  // Cutting into pieces works on whole buffers: frames in parts are joined first (a copy, on this rare path only).
  return splitFrames(encoded.map((frame) => (frame instanceof FrameParts ? frame.join() : frame)), limit);
}

/** The buffers to write, in order: a frame in parts contributes its parts (one writev, no join). */
function writeOrder(encoded: OutOfBandFrame[]): Uint8Array[] {
  let flat: Uint8Array[] | undefined;
  for (let i = 0; i < encoded.length; i++) {
    const frame = encoded[i]!;
    if (frame instanceof FrameParts) {
      flat ??= encoded.slice(0, i) as Uint8Array[];
      for (const part of frame.parts) flat.push(part);
    } else if (flat !== undefined) {
      flat.push(frame);
    }
  }
  return flat ?? (encoded as Uint8Array[]);
}

/** Logical frames of an encoded message: the codecs and the byte ranges (frame 0 without its header). */
function logicalFrames(encoded: Uint8Array[]): { codecs: Uint8Array; frames: Uint8Array[] } {
  if (encoded.length === 1) {
    const whole = encoded[0]!;
    return { codecs: Uint8Array.of(CODEC_RAW), frames: [whole.subarray(PLAIN_PREFIX_BYTES)] };
  }
  const prefix = encoded[0]!;
  const count = encoded.length - 1;
  const codecs = prefix.subarray(prefix.byteLength - count);
  return { codecs: Uint8Array.from(codecs), frames: encoded.slice(1) };
}

/** Re-frame a message so that no wire frame is longer than `limit` (see CODEC_PART). */
function splitFrames(encoded: Uint8Array[], limit: number): Uint8Array[] {
  const { codecs, frames } = logicalFrames(encoded);
  // The header's size depends on how many pieces there are, which depends on the room it leaves in frame 0.
  let pieces = 0;
  let header = headerBytes(2);
  for (;;) {
    const firstRoom = limit - header;
    let count = 1 + Math.ceil(Math.max(0, frames[0]!.byteLength - firstRoom) / limit);
    for (let i = 1; i < frames.length; i++) count += Math.max(1, Math.ceil(frames[i]!.byteLength / limit));
    if (count > MAX_FRAME_COUNT) {
      throw new MessageTooLargeError(
        `a message of ${messageSize(frames)} bytes needs ${count} frames of at most ${limit} bytes, over the ${MAX_FRAME_COUNT}-frame limit`,
      );
    }
    const next = headerBytes(count + 1);
    if (count === pieces && next === header) break;
    pieces = count;
    header = next;
  }
  const wire: Uint8Array[] = [];
  const wireCodecs = new Uint8Array(pieces);
  const cut = (frame: Uint8Array, codec: number, firstRoom: number): void => {
    let at = 0;
    let room = firstRoom;
    while (frame.byteLength - at > room) {
      wireCodecs[wire.length] = CODEC_PART;
      wire.push(frame.subarray(at, at + room));
      at += room;
      room = limit;
    }
    wireCodecs[wire.length] = codec;
    wire.push(frame.subarray(at));
  };
  cut(frames[0]!, codecs[0]!, limit - header);
  for (let i = 1; i < frames.length; i++) cut(frames[i]!, codecs[i]!, limit);
  const prefix = Buffer.allocUnsafe(8 + 8 * pieces + header);
  writeUint64(prefix, 0, pieces);
  writeUint64(prefix, 8, header + wire[0]!.byteLength);
  for (let i = 1; i < pieces; i++) writeUint64(prefix, 8 + 8 * i, wire[i]!.byteLength);
  writeHeader(prefix, 8 + 8 * pieces, wireCodecs);
  return [prefix, ...wire];
}

/**
 * Encode op-dicts as one wire message whose frames are as long as they come:
 * [prefix, body, frame 1, ...], or one buffer for a message without frames.
 */
function encodeWhole(messages: OpDict[], options?: EncodeOptions): OutOfBandFrame[] {
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (typeof message !== 'object' || message === null || typeof message.op !== 'string') {
      throw new ProtocolError(`message ${i} of the batch is not an op-dict (an object with a string \`op\`)`);
    }
  }
  const threshold = options?.outOfBandThreshold;
  const sink = threshold === undefined ? defaultSink : new OutOfBandSink(Math.max(1, threshold), MAX_FRAME_COUNT);
  const compression = options?.compression !== false;
  let packed: Buffer;
  packr.outOfBand = sink;
  try {
    packed = packr.pack(messages, RESERVE_START_SPACE | PLAIN_PREFIX_BYTES);
  } catch (error) {
    sink.frames.length = 0;
    throw packFailure(error);
  } finally {
    packr.outOfBand = null;
  }
  // msgpackr keeps (and re-allocates at the same size) a buffer it grew for one big body: start small again.
  // The returned views keep the old buffer alive until they are written.
  if (packed.byteLength > 1024 * 1024) packr.useBuffer(Buffer.allocUnsafeSlow(8192));
  const bodyBytes = packed.byteLength - PLAIN_PREFIX_BYTES;
  if (sink.frames.length === 0 && (!compression || bodyBytes < COMPRESSION_MIN_BYTES)) {
    return [withPlainPrefix(packed, bodyBytes)];
  }
  const frames = sink.frames.splice(0);
  const codecs = new Uint8Array(1 + frames.length);
  let body: Uint8Array = packed.subarray(PLAIN_PREFIX_BYTES);
  if (compression) {
    const compressedBody = maybeCompress(body);
    if (compressedBody !== null) {
      body = compressedBody;
      codecs[0] = CODEC_LZ4;
    }
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      const compressed = frame instanceof FrameParts ? maybeCompressParts(frame) : maybeCompress(frame);
      if (compressed !== null) {
        frames[i] = compressed;
        codecs[i + 1] = CODEC_LZ4;
      }
    }
  }
  if (frames.length === 0 && codecs[0] === CODEC_RAW) return [withPlainPrefix(packed, bodyBytes)];
  const frameCount = 1 + frames.length;
  const header = headerBytes(frameCount + 1);
  const prefix = Buffer.allocUnsafe(8 + 8 * frameCount + header);
  writeUint64(prefix, 0, frameCount);
  writeUint64(prefix, 8, header + body.byteLength);
  for (let i = 0; i < frames.length; i++) writeUint64(prefix, 16 + 8 * i, frames[i]!.byteLength);
  writeHeader(prefix, 8 + 8 * frameCount, codecs);
  return [prefix, body, ...frames];
}

/** maybeCompress for a frame in parts, joining it only when a sample of its largest part compresses. */
function maybeCompressParts(frame: FrameParts): Buffer | null {
  let largest: Uint8Array | undefined;
  for (const part of frame.parts) if (largest === undefined || part.byteLength > largest.byteLength) largest = part;
  if (largest !== undefined && !sampleCompresses(largest)) return null;
  return maybeCompress(frame.join());
}

/** Fill the space reserved in front of the body: one frame, plain header. */
function withPlainPrefix(packed: Buffer, bodyBytes: number): Buffer {
  writeUint64(packed, 0, 1);
  writeUint64(packed, 8, PLAIN_HEADER.length + bodyBytes);
  packed[16] = PLAIN_HEADER[0];
  packed[17] = PLAIN_HEADER[1];
  packed[18] = PLAIN_HEADER[2];
  return packed;
}

const STAGE_COUNT = 0;
const STAGE_LENGTHS = 1;
/** Waiting for all frames of a message without large frames, to decode them from the queue in one piece. */
const STAGE_FRAMES = 2;
/** Receiving a message with a large frame one frame at a time (large ones into their own buffer). */
const STAGE_EACH_FRAME = 3;

function asProtocolError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  const message = (error as Error)?.message ?? String(error);
  return new ProtocolError(`malformed message: ${message}`, { cause: error });
}

function checkedBatch(batch: unknown): OpDict[] {
  if (!Array.isArray(batch)) throw new ProtocolError('message body is not a list of op-dicts');
  for (let i = 0; i < batch.length; i++) {
    const message: unknown = batch[i];
    if (typeof message !== 'object' || message === null || Array.isArray(message) || typeof (message as OpDict).op !== 'string') {
      throw new ProtocolError(`message body entry ${i} is not an op-dict (an object with a string \`op\`)`);
    }
  }
  return batch as OpDict[];
}

/**
 * Incremental decoder for one connection's byte stream. Any chunking of the
 * stream yields the same op-dicts. Malformed input throws ProtocolError
 * (MessageTooLargeError for messages over the limit, refused as soon as their
 * lengths are read) and leaves the decoder failed: every later `push` throws
 * the same error, and the transport should close the connection.
 *
 * Bytes come in one of two ways (do not mix them mid-stream): `push(chunk)`
 * with chunks the caller allocated, or `readTarget()` + `commitRead(n)` for a
 * transport that can read into memory it is given (node:net's `onread`): the
 * decoder then hands out the rest of a large frame's own buffer, so its bytes
 * are written once, by the kernel, where they will stay.
 */
export class WireDecoder {
  readonly maxMessageBytes: number;
  readonly maxTotalBytes: number;
  readonly largeFrameBytes: number;
  private readonly recycleLargeFrames: boolean;
  private readonly queue = new ChunkQueue();
  private stage = STAGE_COUNT;
  private frameCount = 0;
  private readonly frameLengths: number[] = [];
  private framesBytes = 0;
  private messageBytes = 0;
  private failure: ProtocolError | null = null;
  private headerLength = 0;
  /** STAGE_EACH_FRAME: the frames received so far and the index of the next one. */
  private frames: Uint8Array[] = [];
  private frameIndex = 0;
  /** The large frame being received, once allocated, and how much of it has arrived. */
  private large: Buffer | null = null;
  private largeFilled = 0;
  /** Whether the last `readTarget()` was the rest of `large` (else the shared scratch). */
  private readingIntoLarge = false;

  constructor(options?: WireDecoderOptions) {
    const max = options?.maxMessageBytes ?? maxMessageBytes();
    if (!(max > 0)) throw new RangeError(`maxMessageBytes must be positive, got ${max}`);
    this.maxMessageBytes = max;
    const total = options?.maxTotalBytes ?? maxTotalMessageBytes();
    if (!(total > 0)) throw new RangeError(`maxTotalBytes must be positive, got ${total}`);
    this.maxTotalBytes = total;
    this.largeFrameBytes = Math.max(1, options?.largeFrameBytes ?? DIRECT_FRAME_BYTES);
    this.recycleLargeFrames = options?.recycleLargeFrames === true;
  }

  /** Feed the next chunk of the stream; returns the op-dicts it completed, in order. */
  push(chunk: Uint8Array): OpDict[] {
    if (this.failure !== null) throw this.failure;
    const decoded: OpDict[] = [];
    try {
      if (!(chunk instanceof Uint8Array)) throw new ProtocolError('WireDecoder.push expects bytes');
      this.queue.push(chunk);
      this.drain(decoded);
    } catch (error) {
      throw this.fail(error);
    }
    return decoded;
  }

  /**
   * Where the next read from the stream should put its bytes: the unreceived
   * rest of a large frame, or else scratch memory shared by all decoders.
   * Follow each read at once (synchronously) with `commitRead(bytes read)`.
   */
  readTarget(): Uint8Array {
    const large = this.large;
    if (large !== null && this.failure === null) {
      this.readingIntoLarge = true;
      return large.subarray(this.largeFilled);
    }
    this.readingIntoLarge = false;
    return readScratch;
  }

  /** The last `readTarget()` received `bytes` bytes; returns the op-dicts they completed, in order. */
  commitRead(bytes: number): OpDict[] {
    if (this.failure !== null) throw this.failure;
    const decoded: OpDict[] = [];
    try {
      if (this.readingIntoLarge) {
        this.largeFilled += bytes;
      } else {
        this.queue.push(Buffer.from(readScratch.subarray(0, bytes)));
      }
      this.drain(decoded);
    } catch (error) {
      throw this.fail(error);
    }
    return decoded;
  }

  /** True when no partial message is buffered (a clean point to close the stream). */
  get idle(): boolean {
    return this.stage === STAGE_COUNT && this.queue.length === 0;
  }

  /** The error that failed this decoder, if any. */
  get error(): ProtocolError | null {
    return this.failure;
  }

  private fail(error: unknown): ProtocolError {
    this.failure = asProtocolError(error);
    this.queue.clear();
    this.frames = [];
    this.large = null;
    return this.failure;
  }

  private drain(decoded: OpDict[]): void {
    const queue = this.queue;
    for (;;) {
      if (this.stage === STAGE_COUNT) {
        if (queue.length < 8) return;
        const count = queue.takeUint64();
        if (count < 1 || count > MAX_FRAME_COUNT) throw new ProtocolError(`absurd frame count ${count < 0 ? '>= 2^53' : count}`);
        this.messageBytes = 8 + 8 * count;
        if (this.messageBytes > this.maxMessageBytes || this.messageBytes > this.maxTotalBytes) {
          throw new MessageTooLargeError(
            `message of ${count} frames exceeds the ${Math.min(this.maxMessageBytes, this.maxTotalBytes)}-byte limit`,
          );
        }
        this.frameCount = count;
        this.frameLengths.length = 0;
        this.framesBytes = 0;
        this.stage = STAGE_LENGTHS;
      }
      if (this.stage === STAGE_LENGTHS) {
        let hasLargeFrame = false;
        while (this.frameLengths.length < this.frameCount) {
          if (queue.length < 8) return;
          const length = queue.takeUint64();
          if (length < 0) throw new ProtocolError('absurd frame length (>= 2^53)');
          if (this.frameLengths.length === 0 && length < MIN_FIRST_FRAME_BYTES) {
            throw new ProtocolError(`first frame of ${length} bytes cannot hold a header and a body`);
          }
          if (length > this.maxMessageBytes) {
            throw new MessageTooLargeError(`a frame of ${length} bytes is over the ${this.maxMessageBytes}-byte frame limit`);
          }
          this.messageBytes += length;
          if (this.messageBytes > this.maxTotalBytes) {
            throw new MessageTooLargeError(
              `message declares at least ${this.messageBytes} bytes, over the ${this.maxTotalBytes}-byte total limit`,
            );
          }
          this.frameLengths.push(length);
          this.framesBytes += length;
        }
        for (let i = 0; i < this.frameCount; i++) if (this.frameLengths[i]! >= this.largeFrameBytes) hasLargeFrame = true;
        if (hasLargeFrame) {
          this.frames = new Array<Uint8Array>(this.frameCount);
          this.frameIndex = 0;
          this.stage = STAGE_EACH_FRAME;
        } else {
          this.stage = STAGE_FRAMES;
        }
      }
      if (this.stage === STAGE_FRAMES) {
        if (queue.length < this.framesBytes) return;
        queue.take(this.framesBytes);
        const batch = this.decodeContiguous(queue.taken, queue.takenStart);
        this.stage = STAGE_COUNT;
        for (let i = 0; i < batch.length; i++) decoded.push(batch[i]!);
        continue;
      }
      if (!this.receiveEachFrame()) return;
      const frames = this.frames;
      this.frames = [];
      const batch = this.decodeFrames(frames);
      this.stage = STAGE_COUNT;
      for (let i = 0; i < batch.length; i++) decoded.push(batch[i]!);
    }
  }

  /** STAGE_EACH_FRAME: move what has arrived into `frames`; true once all of them are complete. */
  private receiveEachFrame(): boolean {
    const queue = this.queue;
    while (this.frameIndex < this.frameCount) {
      const length = this.frameLengths[this.frameIndex]!;
      if (length < this.largeFrameBytes) {
        if (queue.length < length) return false;
        this.frames[this.frameIndex++] = queue.takeBytes(length);
        continue;
      }
      if (this.large === null) {
        const queued = Math.min(queue.length, length);
        if (length - queued > Math.max(ALLOCATE_AHEAD_BYTES, queued * ALLOCATE_AHEAD_RATIO)) return false;
        this.large = Buffer.from(this.recycleLargeFrames ? takeFrameBuffer(length) : new SharedArrayBuffer(length));
        this.largeFilled = 0;
      }
      const copied = Math.min(queue.length, length - this.largeFilled);
      if (copied > 0) {
        queue.copyInto(this.large, this.largeFilled, copied);
        this.largeFilled += copied;
      }
      if (this.largeFilled < length) return false;
      this.frames[this.frameIndex++] = this.large;
      this.large = null;
    }
    return true;
  }

  /** Decode one complete message whose frames lie back to back from `source[start]`. */
  private decodeContiguous(source: Uint8Array, start: number): OpDict[] {
    const firstLength = this.frameLengths[0]!;
    if (
      this.frameCount === 1 &&
      source[start] === PLAIN_HEADER[0] &&
      source[start + 1] === PLAIN_HEADER[1] &&
      source[start + 2] === PLAIN_HEADER[2]
    ) {
      return checkedBatch(unpackr.unpack(source, { start: start + PLAIN_HEADER.length, end: start + firstLength }));
    }
    const frames = new Array<Uint8Array>(this.frameCount);
    let position = start;
    for (let i = 0; i < this.frameCount; i++) {
      const length = this.frameLengths[i]!;
      frames[i] = source.subarray(position, position + length);
      position += length;
    }
    return this.decodeFrames(frames);
  }

  /** Decode one complete message from its frames (frame 0 still holding the header). */
  private decodeFrames(frames: Uint8Array[]): OpDict[] {
    const first = frames[0]!;
    let codecs = this.readHeader(first, 0, first.byteLength);
    frames[0] = first.subarray(this.headerLength);
    if (codecs.includes(CODEC_PART)) ({ frames, codecs } = this.joinPieces(frames, codecs));
    let budget = this.maxTotalBytes;
    for (let i = 1; i < frames.length; i++) {
      if (codecs[i] === CODEC_LZ4) frames[i] = decompress(frames[i]!, budget);
      budget -= frames[i]!.byteLength;
    }
    let body = frames[0]!;
    if (codecs[0] === CODEC_LZ4) body = decompress(body, budget);
    if (body.byteLength === 0) throw new ProtocolError('message has an empty body');
    frames[0] = body;
    return checkedBatch(withFrames(frames, () => unpackr.unpack(body)));
  }

  /** Join each run of CODEC_PART pieces with the frame that ends it (frame 0 already without its header). */
  private joinPieces(wire: Uint8Array[], wireCodecs: Uint8Array): { frames: Uint8Array[]; codecs: Uint8Array } {
    const frames: Uint8Array[] = [];
    const codecs: number[] = [];
    let start = 0;
    for (let i = 0; i < wire.length; i++) {
      if (wireCodecs[i] === CODEC_PART) continue;
      if (i === start) {
        frames.push(wire[i]!);
      } else {
        let length = 0;
        for (let j = start; j <= i; j++) length += wire[j]!.byteLength;
        // Joined binaries keep the large-frame promise: big ones live in a SharedArrayBuffer.
        const joined = length >= this.largeFrameBytes ? Buffer.from(new SharedArrayBuffer(length)) : Buffer.allocUnsafe(length);
        let at = 0;
        for (let j = start; j <= i; j++) {
          joined.set(wire[j]!, at);
          at += wire[j]!.byteLength;
          wire[j] = EMPTY_FRAME; // let each piece go as soon as it is copied
        }
        frames.push(joined);
      }
      codecs.push(wireCodecs[i]!);
      start = i + 1;
    }
    if (start !== wire.length) throw new ProtocolError('the last frame of a message is marked as continued (codec 2)');
    return { frames, codecs: Uint8Array.from(codecs) };
  }

  /** Parse frame 0's header (msgpack array [version, codec per frame]); sets `headerLength`. */
  private readHeader(source: Uint8Array, start: number, end: number): Uint8Array {
    let position = start;
    const marker = source[position++]!;
    let elements: number;
    if ((marker & 0xf0) === 0x90) {
      elements = marker & 0x0f;
    } else if (marker === 0xdc && position + 2 <= end) {
      elements = (source[position]! << 8) | source[position + 1]!;
      position += 2;
    } else if (marker === 0xdd && position + 4 <= end) {
      elements = ((source[position]! << 24) | (source[position + 1]! << 16) | (source[position + 2]! << 8) | source[position + 3]!) >>> 0;
      position += 4;
    } else {
      throw new ProtocolError(`frame 0 does not start with a msgpack header array (byte 0x${marker.toString(16)})`);
    }
    if (elements !== this.frameCount + 1) {
      throw new ProtocolError(`header lists ${elements - 1} codecs for ${this.frameCount} frames`);
    }
    if (position + elements >= end) throw new ProtocolError('header runs past the end of frame 0');
    if (source[position] !== WIRE_VERSION) throw new ProtocolError(`unsupported wire version ${source[position]}`);
    position++;
    const codecs = source.subarray(position, position + this.frameCount);
    for (let i = 0; i < codecs.length; i++) {
      if (codecs[i] !== CODEC_RAW && codecs[i] !== CODEC_LZ4 && codecs[i] !== CODEC_PART) throw new ProtocolError(`unknown codec ${codecs[i]} for frame ${i}`);
    }
    this.headerLength = position + this.frameCount - start;
    return codecs;
  }
}
