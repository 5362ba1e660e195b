// Frames longer than the frame limit travel in pieces (codec 2) that the decoder joins: encoder and decoder on the main thread.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import {
  CODEC_PART,
  encodeBatch,
  MIN_FRAME_LIMIT_BYTES,
  WireDecoder,
} from '../dist/lib/protocol/wire.js';
import { MessageTooLargeError, ProtocolError } from '../dist/lib/errors.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

const LIMIT = MIN_FRAME_LIMIT_BYTES;
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The wire frames of an encoded message: count, lengths and each frame's bytes. */
function wireFrames(encoded: Uint8Array[]): number[] {
  const all = Buffer.concat(encoded);
  const count = Number(all.readBigUInt64LE(0));
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) lengths.push(Number(all.readBigUInt64LE(8 + 8 * i)));
  return lengths;
}

function feed(decoder: WireDecoder, encoded: Uint8Array[], split: number): OpDict[] {
  const all = Buffer.concat(encoded);
  const out: OpDict[] = [];
  for (let at = 0; at < all.byteLength; at += split) out.push(...decoder.push(Buffer.from(all.subarray(at, at + split))));
  return out;
}

t.test('binaries, strings and arrays longer than the frame limit round-trip in pieces, with any split', async (t) => {
  const blob = randomBytes(5 * LIMIT + 12345);
  const text = 'x'.repeat(3 * LIMIT + 7);
  const numbers = Array.from({ length: LIMIT / 2 }, (_, i) => i * 1.5);
  const message = { op: 'big', blob, text, numbers, small: randomBytes(1000) };
  for (const compression of [false, true]) {
    const encoded = encodeBatch([message], { compression, maxFrameBytes: LIMIT });
    const lengths = wireFrames(encoded);
    t.ok(lengths.length > 5, `compression ${compression}: ${lengths.length} wire frames`);
    t.ok(lengths.every((length) => length <= LIMIT), 'every wire frame is within the limit');
    for (const split of [1 << 20, 65536, 7919, LIMIT + 1]) {
      const decoder = new WireDecoder({ maxMessageBytes: LIMIT, largeFrameBytes: 1 << 20 });
      const [got] = feed(decoder, encoded, split);
      t.ok(got, `decoded with split ${split}`);
      t.equal(sha(got!.blob as Uint8Array), sha(blob), 'blob intact');
      t.equal(got!.text, text, 'string body intact');
      t.same(got!.numbers, numbers, 'array intact');
      t.ok(decoder.idle, 'nothing left over');
    }
  }
  const decoded = new WireDecoder({ maxMessageBytes: LIMIT, largeFrameBytes: LIMIT }).push(Buffer.concat(encodeBatch([message], { compression: false, maxFrameBytes: LIMIT })));
  t.ok((decoded[0]!.blob as Uint8Array).buffer instanceof SharedArrayBuffer, 'a joined large binary lives in a SharedArrayBuffer');
});

t.test('messages within the limit are framed as before; a decoder refuses a frame over its limit', async (t) => {
  const data = randomBytes(LIMIT / 2);
  const small = encodeBatch([{ op: 'x', data }], { compression: false, maxFrameBytes: LIMIT });
  t.same(Buffer.concat(small), Buffer.concat(encodeBatch([{ op: 'x', data }], { compression: false })), 'byte for byte the framing without a frame limit');
  t.equal(wireFrames(small).length, 2, 'body and one binary frame');
  const whole = encodeBatch([{ op: 'x', data: randomBytes(2 * LIMIT) }], { compression: false });
  t.throws(() => new WireDecoder({ maxMessageBytes: LIMIT }).push(Buffer.concat(whole)), MessageTooLargeError, 'an unsplit frame over the limit');
  t.throws(() => encodeBatch([{ op: 'x' }], { maxFrameBytes: 1000 }), RangeError, 'a frame limit too small to hold a header');
});

t.test('the total cap: the decoder refuses a message declaring more, however it is framed', async (t) => {
  const encoded = encodeBatch([{ op: 'x', data: randomBytes(4 * LIMIT) }], { compression: false, maxFrameBytes: LIMIT });
  const decoder = new WireDecoder({ maxMessageBytes: LIMIT, maxTotalBytes: 2 * LIMIT });
  const head = Buffer.concat(encoded).subarray(0, 8 + 8 * wireFrames(encoded).length);
  const error = (() => { try { decoder.push(head); } catch (e) { return e; } return undefined; })();
  t.type(error, MessageTooLargeError, 'refused from the lengths alone');
  t.match(String((error as Error).message), /over the 262144-byte total limit/);
});

t.test('garbage pieces are ProtocolErrors', async (t) => {
  const encoded = Buffer.concat(encodeBatch([{ op: 'x', data: randomBytes(3 * LIMIT) }], { compression: false, maxFrameBytes: LIMIT }));
  const count = Number(encoded.readBigUInt64LE(0));
  const codecsEnd = 8 + 8 * count + 1 + (count + 1 < 16 ? 0 : 2) + 1 + count;
  t.equal(encoded[codecsEnd - 2], CODEC_PART, 'the second-to-last wire frame is a piece');
  const lastMarked = Buffer.from(encoded);
  lastMarked[codecsEnd - 1] = CODEC_PART;
  t.throws(() => new WireDecoder({ maxMessageBytes: LIMIT }).push(lastMarked), ProtocolError, 'a message ending in a piece');
  const badCodec = Buffer.from(encoded);
  badCodec[codecsEnd - 1] = 9;
  t.throws(() => new WireDecoder({ maxMessageBytes: LIMIT }).push(badCodec), ProtocolError, 'an unknown codec');
});
