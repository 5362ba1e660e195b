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
 * docs/protocol.md has the full table, codec ids, limits and error behaviour.
 */
import { RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { MessageTooLargeError, ProtocolError, SerializationError } from '../errors.js';
import { ChunkQueue } from './chunk-queue.js';
import { CODEC_LZ4, CODEC_RAW, COMPRESSION_MIN_BYTES, decompress, maybeCompress } from './compression.js';
import { FramingPackr, OUT_OF_BAND_THRESHOLD, OutOfBandSink, withFrames } from './out-of-band.js';
import type { OpDict } from './messages.js';
import './value-extensions.js';
import './dependency-ref.js';

export { OUT_OF_BAND_THRESHOLD } from './out-of-band.js';
export { CODEC_LZ4, CODEC_RAW, COMPRESSION_MIN_BYTES } from './compression.js';

/** Largest message a WireDecoder accepts unless told otherwise: 1 GiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;
/** Most frames one message may have (one body plus out-of-band binaries). */
export const MAX_FRAME_COUNT = 65536;
export const WIRE_VERSION = 1;

/** Header of a message with only a raw body: msgpack [1, 0]. */
const PLAIN_HEADER = [0x92, WIRE_VERSION, CODEC_RAW] as const;
/** Count, one length, plain header: what a message without frames or compression starts with. */
const PLAIN_PREFIX_BYTES = 8 + 8 + PLAIN_HEADER.length;
/** Frame 0 holds at least a header (2 bytes) and a body (1 byte). */
const MIN_FIRST_FRAME_BYTES = 3;

const MSGPACK_OPTIONS = { useRecords: false, moreTypes: true } as const;

export interface EncodeOptions {
  /** lz4 for frames over 1 kB that compress by 10 % or more (default true). */
  compression?: boolean;
  /** Binaries of at least this many bytes travel as frames of their own (default OUT_OF_BAND_THRESHOLD). */
  outOfBandThreshold?: number;
}

export interface WireDecoderOptions {
  /** Refuse messages declaring more bytes than this (framing + frames, and again after decompression). */
  maxMessageBytes?: number;
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
      const compressed = maybeCompress(frames[i]!);
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
const STAGE_FRAMES = 2;

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
 */
export class WireDecoder {
  readonly maxMessageBytes: number;
  private readonly queue = new ChunkQueue();
  private stage = STAGE_COUNT;
  private frameCount = 0;
  private readonly frameLengths: number[] = [];
  private framesBytes = 0;
  private messageBytes = 0;
  private failure: ProtocolError | null = null;
  private headerLength = 0;

  constructor(options?: WireDecoderOptions) {
    const max = options?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!(max > 0)) throw new RangeError(`maxMessageBytes must be positive, got ${max}`);
    this.maxMessageBytes = max;
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
      this.failure = asProtocolError(error);
      this.queue.clear();
      throw this.failure;
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

  private drain(decoded: OpDict[]): void {
    const queue = this.queue;
    for (;;) {
      if (this.stage === STAGE_COUNT) {
        if (queue.length < 8) return;
        const count = queue.takeUint64();
        if (count < 1 || count > MAX_FRAME_COUNT) throw new ProtocolError(`absurd frame count ${count < 0 ? '>= 2^53' : count}`);
        this.messageBytes = 8 + 8 * count;
        if (this.messageBytes > this.maxMessageBytes) {
          throw new MessageTooLargeError(`message of ${count} frames exceeds the ${this.maxMessageBytes}-byte limit`);
        }
        this.frameCount = count;
        this.frameLengths.length = 0;
        this.framesBytes = 0;
        this.stage = STAGE_LENGTHS;
      }
      if (this.stage === STAGE_LENGTHS) {
        while (this.frameLengths.length < this.frameCount) {
          if (queue.length < 8) return;
          const length = queue.takeUint64();
          if (length < 0) throw new ProtocolError('absurd frame length (>= 2^53)');
          if (this.frameLengths.length === 0 && length < MIN_FIRST_FRAME_BYTES) {
            throw new ProtocolError(`first frame of ${length} bytes cannot hold a header and a body`);
          }
          this.messageBytes += length;
          if (this.messageBytes > this.maxMessageBytes) {
            throw new MessageTooLargeError(
              `message declares at least ${this.messageBytes} bytes, over the ${this.maxMessageBytes}-byte limit`,
            );
          }
          this.frameLengths.push(length);
          this.framesBytes += length;
        }
        this.stage = STAGE_FRAMES;
      }
      if (queue.length < this.framesBytes) return;
      queue.take(this.framesBytes);
      const batch = this.decodeFrames(queue.taken, queue.takenStart);
      this.stage = STAGE_COUNT;
      for (let i = 0; i < batch.length; i++) decoded.push(batch[i]!);
    }
  }

  /** Decode one complete message whose frames start at `source[start]`. */
  private decodeFrames(source: Uint8Array, start: number): OpDict[] {
    const firstLength = this.frameLengths[0]!;
    if (
      this.frameCount === 1 &&
      source[start] === PLAIN_HEADER[0] &&
      source[start + 1] === PLAIN_HEADER[1] &&
      source[start + 2] === PLAIN_HEADER[2]
    ) {
      return checkedBatch(unpackr.unpack(source, { start: start + PLAIN_HEADER.length, end: start + firstLength }));
    }
    const codecs = this.readHeader(source, start, start + firstLength);
    const headerLength = this.headerLength;
    let budget = this.maxMessageBytes;
    const frames = new Array<Uint8Array>(this.frameCount);
    let position = start + firstLength;
    for (let i = 1; i < this.frameCount; i++) {
      const length = this.frameLengths[i]!;
      const raw = source.subarray(position, position + length);
      position += length;
      frames[i] = codecs[i] === CODEC_LZ4 ? decompress(raw, budget) : raw;
      budget -= frames[i]!.byteLength;
    }
    let body = source.subarray(start + headerLength, start + firstLength);
    if (codecs[0] === CODEC_LZ4) body = decompress(body, budget);
    if (body.byteLength === 0) throw new ProtocolError('message has an empty body');
    frames[0] = body;
    return checkedBatch(withFrames(frames, () => unpackr.unpack(body)));
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
      if (codecs[i] !== CODEC_RAW && codecs[i] !== CODEC_LZ4) throw new ProtocolError(`unknown codec ${codecs[i]} for frame ${i}`);
    }
    this.headerLength = position + this.frameCount - start;
    return codecs;
  }
}
