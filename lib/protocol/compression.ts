/**
 * Per-frame lz4 compression, decided the way dask's `maybe_compress` does:
 * frames under 1 kB are never compressed; larger ones are compressed only if
 * a sample (five 10 kB slices) shrinks by at least 10 %, and the result is
 * kept only if the whole frame shrinks by at least 10 % too. Incompressible
 * data (random bytes, already-compressed media) is sent raw after one cheap
 * sample attempt.
 *
 * Compressed frames use the lz4 block format with the uncompressed size as a
 * 4-byte little-endian prefix (lz4-napi `compressSync`, python-lz4
 * `lz4.block.compress(store_size=True)`).
 */
import { compressSync, uncompressSync } from 'lz4-napi';
import { MessageTooLargeError, ProtocolError } from '../errors.js';

export const CODEC_RAW = 0;
export const CODEC_LZ4 = 1;
export type Codec = typeof CODEC_RAW | typeof CODEC_LZ4;

/** Frames smaller than this are never compressed. */
export const COMPRESSION_MIN_BYTES = 1024;
const SAMPLE_SLICE_BYTES = 10 * 1024;
const SAMPLE_SLICES = 5;
/** Compressed output must be at most this fraction of the input to be worth it. */
const REQUIRED_RATIO = 0.9;
/** lz4 cannot expand input by more than ~255x; anything claiming more is corrupt. */
const LZ4_MAX_EXPANSION = 255;

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sampleOf(bytes: Uint8Array): Buffer {
  const sample = Buffer.allocUnsafe(SAMPLE_SLICE_BYTES * SAMPLE_SLICES);
  const stride = Math.floor((bytes.byteLength - SAMPLE_SLICE_BYTES) / (SAMPLE_SLICES - 1));
  for (let i = 0; i < SAMPLE_SLICES; i++) {
    const start = i * stride;
    sample.set(bytes.subarray(start, start + SAMPLE_SLICE_BYTES), i * SAMPLE_SLICE_BYTES);
  }
  return sample;
}

/** False when a sample of `bytes` (large ones only) does not shrink enough: not worth compressing the whole. */
export function sampleCompresses(bytes: Uint8Array): boolean {
  if (bytes.byteLength <= 2 * SAMPLE_SLICE_BYTES * SAMPLE_SLICES) return true;
  const sample = sampleOf(bytes);
  return compressSync(sample).byteLength <= sample.byteLength * REQUIRED_RATIO;
}

/** The lz4-compressed frame when compression pays off, otherwise null (send `bytes` raw). */
export function maybeCompress(bytes: Uint8Array): Buffer | null {
  const length = bytes.byteLength;
  if (length < COMPRESSION_MIN_BYTES) return null;
  if (!sampleCompresses(bytes)) return null;
  const compressed = compressSync(asBuffer(bytes));
  return compressed.byteLength <= length * REQUIRED_RATIO ? compressed : null;
}

/** Size an lz4 frame says it decompresses to (its 4-byte little-endian prefix). */
export function declaredUncompressedSize(frame: Uint8Array): number {
  if (frame.byteLength < 5) throw new ProtocolError(`lz4 frame of ${frame.byteLength} bytes is too short`);
  return (frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24)) >>> 0;
}

/**
 * Decompress one lz4 frame whose output may be at most `maxBytes`. The size
 * prefix is checked before lz4 sees it, so a forged prefix cannot make the
 * decompressor allocate gigabytes.
 */
export function decompress(frame: Uint8Array, maxBytes: number): Buffer {
  const declared = declaredUncompressedSize(frame);
  if (declared > maxBytes) {
    throw new MessageTooLargeError(`lz4 frame would decompress to ${declared} bytes, over the ${maxBytes}-byte limit`);
  }
  if (declared > (frame.byteLength - 4) * LZ4_MAX_EXPANSION + 64) {
    throw new ProtocolError(`lz4 frame of ${frame.byteLength} bytes cannot decompress to ${declared} bytes`);
  }
  let output: Buffer;
  try {
    output = uncompressSync(frame);
  } catch (error) {
    throw new ProtocolError(`corrupt lz4 frame: ${(error as Error).message}`, { cause: error });
  }
  if (output.byteLength !== declared) {
    throw new ProtocolError(`lz4 frame decompressed to ${output.byteLength} bytes, its prefix says ${declared}`);
  }
  return output;
}
