/**
 * Decoding a value blob that holds one small scalar (an integer, a double,
 * true/false/null, a short ASCII string) without msgpackr. A map's results are
 * mostly such values: a client receives a million of them inline with
 * `key-in-memory`, and msgpackr's unpack of each allocated ~300 bytes (a Buffer
 * copy of the blob and the reader's state) for a number of 8. The bytes are
 * plain MessagePack, as values.ts writes them; anything else (float32, 64-bit
 * integers, extensions, longer or non-ASCII strings, trailing bytes) is left
 * to msgpackr, which this must agree with exactly.
 */

/** Returned for a blob this does not decode. */
export const NOT_SCALAR: unique symbol = Symbol('not a scalar');

/** Longest fixstr decoded here (MessagePack's fixstr is at most 31 bytes). */
const MAX_FIXSTR = 31;

export function decodeScalar(blob: Uint8Array): unknown {
  const n = blob.byteLength;
  if (n === 0) return NOT_SCALAR;
  const first = blob[0]!;
  if (first <= 0x7f) return n === 1 ? first : NOT_SCALAR; // positive fixint
  if (first >= 0xe0) return n === 1 ? first - 0x100 : NOT_SCALAR; // negative fixint
  if (first >= 0xa0 && first <= 0xbf) return fixstr(blob, first - 0xa0);
  switch (first) {
    case 0xc0:
      return n === 1 ? null : NOT_SCALAR;
    case 0xc2:
      return n === 1 ? false : NOT_SCALAR;
    case 0xc3:
      return n === 1 ? true : NOT_SCALAR;
    case 0xcc: // uint8
      return n === 2 ? blob[1]! : NOT_SCALAR;
    case 0xcd: // uint16
      return n === 3 ? (blob[1]! << 8) | blob[2]! : NOT_SCALAR;
    case 0xce: // uint32
      return n === 5 ? view(blob).getUint32(1) : NOT_SCALAR;
    case 0xd0: // int8
      return n === 2 ? view(blob).getInt8(1) : NOT_SCALAR;
    case 0xd1: // int16
      return n === 3 ? view(blob).getInt16(1) : NOT_SCALAR;
    case 0xd2: // int32
      return n === 5 ? view(blob).getInt32(1) : NOT_SCALAR;
    case 0xcb: // float64
      return n === 9 ? view(blob).getFloat64(1) : NOT_SCALAR;
    default:
      return NOT_SCALAR;
  }
}

function view(blob: Uint8Array): DataView {
  return new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
}

function fixstr(blob: Uint8Array, length: number): unknown {
  if (blob.byteLength !== 1 + length || length > MAX_FIXSTR) return NOT_SCALAR;
  let text = '';
  for (let i = 1; i <= length; i++) {
    const byte = blob[i]!;
    if (byte >= 0x80) return NOT_SCALAR; // UTF-8 beyond ASCII: msgpackr's decoder
    text += String.fromCharCode(byte);
  }
  return text;
}
