/**
 * Property tests for WireDecoder against hostile input: random bytes and
 * mutated valid messages must produce op-dicts or a ProtocolError — never
 * another exception, a hang, or an allocation of a declared absurd size.
 * Seeded (mulberry32) so any failure reproduces; the seed is in the message.
 */
import t from 'tap';
import { encodeBatch, WireDecoder } from '../dist/lib/protocol/wire.js';
import { encodeValue, DependencyRef } from '../dist/lib/protocol/values.js';
import { ProtocolError, MessageTooLargeError } from '../dist/lib/errors.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const LIMIT = 1024 * 1024;

interface Outcome {
  messages: OpDict[];
  error: unknown;
}

/** Decoders that receive frames of 64 bytes or more one by one, each into its own buffer (the path big frames take). */
const FRAME_BY_FRAME = { largeFrameBytes: 64 } as const;

/** Feed `bytes` in random chunks; collect messages until the first error. */
function feed(bytes: Uint8Array, random: () => number, options?: { largeFrameBytes: number }): Outcome {
  const decoder = new WireDecoder({ maxMessageBytes: LIMIT, ...options });
  const messages: OpDict[] = [];
  try {
    for (let at = 0; at < bytes.byteLength; ) {
      const size = 1 + Math.floor(random() * Math.min(64, bytes.byteLength - at));
      messages.push(...decoder.push(bytes.subarray(at, at + size)));
      at += size;
    }
  } catch (error) {
    return { messages, error };
  }
  return { messages, error: undefined };
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/** Valid messages that exercise every path: frames, lz4, batches, extensions. */
function validStreams(random: () => number): Uint8Array[] {
  const text = Buffer.from('abcabcabd'.repeat(300));
  const streams: OpDict[][] = [
    [{ op: 'ping' }],
    [{ op: 'a', n: 1 }, { op: 'b', list: [1, 'two', null, true, 2.5] }],
    [{ op: 'compute-task', key: 'k', runSpec: { args: encodeValue([new DependencyRef('d'), new Map([[1, 2]])]) } }],
    [{ op: 'update_data', data: { x: text, y: randomBytes(random, 300), z: new Float64Array(64).fill(1.25) } }],
    [{ op: 'big-body', items: Array.from({ length: 200 }, (_, i) => ({ key: `key-${i}`, n: i })) }],
  ];
  // A low out-of-band threshold so small inputs carry frame references and compressed frames.
  return streams.map((batch) => Buffer.concat(encodeBatch(batch, { outOfBandThreshold: 128 })));
}

/** Why `outcome` breaks the decoder's contract, or null when it keeps it. */
function contractBreach(outcome: Outcome): string | null {
  if (outcome.error !== undefined && !(outcome.error instanceof ProtocolError)) {
    return `threw ${(outcome.error as Error)?.name}: ${(outcome.error as Error)?.message}`;
  }
  for (const message of outcome.messages) {
    if (typeof message !== 'object' || message === null || typeof message.op !== 'string') return 'returned a non-op-dict';
  }
  return null;
}

t.test('random byte strings never throw anything but ProtocolError', async (t) => {
  const seed = 0xc0ffee;
  const random = prng(seed);
  let protocolErrors = 0;
  let clean = 0;
  for (let i = 0; i < 4000; i++) {
    const length = Math.floor(random() * 256);
    const bytes = randomBytes(random, length);
    if (i % 2 === 0 && length >= 8) {
      // Plausible frame counts, so lengths and frames get parsed too.
      bytes.fill(0, 1, 8);
      bytes[0] = 1 + Math.floor(random() * 4);
    }
    const outcome = feed(bytes, random);
    const breach = contractBreach(outcome);
    if (breach !== null) {
      t.fail(`seed ${seed} case ${i}: ${breach}`);
      return;
    }
    if (outcome.error) protocolErrors++;
    else clean++;
  }
  t.ok(protocolErrors > 1000, `${protocolErrors} rejected as ProtocolError, ${clean} incomplete without error`);
});

t.test('mutated valid messages never throw anything but ProtocolError', async (t) => {
  const seed = 1234567;
  const random = prng(seed);
  const valid = validStreams(random);
  for (const stream of valid) {
    t.ok(feed(stream, random).messages.length > 0, 'the unmutated stream decodes');
    t.same(feed(stream, random, FRAME_BY_FRAME).messages, feed(stream, random).messages, 'and decodes the same frame by frame');
  }
  const counts = { flips: 0, truncations: 0, lengthEdits: 0, splices: 0, errors: 0 };
  for (let i = 0; i < 5000; i++) {
    const original = valid[i % valid.length]!;
    const bytes = Uint8Array.from(original);
    let mutated: Uint8Array = bytes;
    const kind = i % 4;
    if (kind === 0) {
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) {
        bytes[Math.floor(random() * bytes.length)]! ^= 1 << Math.floor(random() * 8);
      }
      counts.flips++;
    } else if (kind === 1) {
      mutated = bytes.subarray(0, Math.floor(random() * bytes.length));
      counts.truncations++;
    } else if (kind === 2) {
      // Edit the frame count or a frame length: small nudges and wild values.
      const view = new DataView(bytes.buffer);
      const frames = Number(view.getBigUint64(0, true));
      const field = Math.floor(random() * (frames + 1)) * 8;
      const current = view.getBigUint64(field, true);
      const choices = [current + 1n, current - 1n, current * 2n, 0n, 2n ** 64n - 1n, BigInt(Math.floor(random() * 2 ** 32)), current + 1000n];
      view.setBigUint64(field, BigInt.asUintN(64, choices[Math.floor(random() * choices.length)]!), true);
      counts.lengthEdits++;
    } else {
      // Replace a run of bytes with garbage inside frame 0 (header and body).
      const start = 16 + Math.floor(random() * Math.max(1, bytes.length - 16));
      bytes.set(randomBytes(random, Math.min(8, bytes.length - start)), start);
      counts.splices++;
    }
    const outcome = feed(mutated, random);
    const breach = contractBreach(outcome) ?? contractBreach(feed(mutated, random, FRAME_BY_FRAME));
    if (breach !== null) {
      t.fail(`seed ${seed} case ${i} (mutation ${kind}): ${breach}`);
      return;
    }
    if (outcome.error) counts.errors++;
  }
  t.ok(counts.errors > 500, `mutations rejected: ${JSON.stringify(counts)}`);
  t.same(feed(valid[0]!, random).messages, [{ op: 'ping' }], 'decoding still works after thousands of failures');
});

t.test('declared sizes are never allocated ahead of the bytes', async (t) => {
  // Many decoders each told "a 900 KiB frame follows" (under the 1 MiB limit), given 100 bytes of it.
  const header = Buffer.alloc(16);
  header.writeBigUInt64LE(1n, 0);
  header.writeBigUInt64LE(900n * 1024n, 8);
  const decoders: WireDecoder[] = [];
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 2000; i++) {
    const decoder = new WireDecoder({ maxMessageBytes: LIMIT });
    t.equal(decoder.push(Buffer.concat([header, Buffer.alloc(100, 1)])).length, 0);
    decoders.push(decoder);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < 50 * 1024 * 1024, `2000 pending 900 KiB messages hold ${Math.round(grown / 1024)} KiB, not ~1.8 GB`);
  t.equal(decoders.length, 2000);

  // Large frames get a buffer of their own, but only as their bytes arrive: 2000 decoders told "a 100 MiB
  // frame follows" and given 100 bytes of it (or nothing) reserve a few KiB each, not 200 GB.
  const bigLimit = 256 * 1024 * 1024;
  const bigHeader = Buffer.alloc(24);
  bigHeader.writeBigUInt64LE(2n, 0);
  bigHeader.writeBigUInt64LE(3n, 8);
  bigHeader.writeBigUInt64LE(100n * 1024n * 1024n, 16);
  const frame0 = Buffer.from([0x93, 1, 0, 0xc0]).subarray(0, 3);
  const bigDecoders: WireDecoder[] = [];
  const beforeBig = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 2000; i++) {
    const decoder = new WireDecoder({ maxMessageBytes: bigLimit });
    const bytes = Buffer.concat([bigHeader, frame0, Buffer.alloc(i % 2 === 0 ? 100 : 0, 1)]);
    // Half through push, half through read targets (as a socket with onread does).
    if (i % 4 < 2) {
      t.equal(decoder.push(bytes).length, 0);
    } else {
      const target = decoder.readTarget();
      target.set(bytes);
      t.equal(decoder.commitRead(bytes.byteLength).length, 0);
      t.ok(decoder.readTarget().byteLength <= 64 * 1024, 'reads go to small scratch memory, not the declared frame');
    }
    bigDecoders.push(decoder);
  }
  const grownBig = process.memoryUsage().arrayBuffers - beforeBig;
  t.ok(grownBig < 20 * 1024 * 1024, `2000 pending 100 MiB frames hold ${Math.round(grownBig / 1024)} KiB`);
  t.equal(bigDecoders.length, 2000);

  const random = prng(99);
  for (let i = 0; i < 500; i++) {
    const absurd = Buffer.alloc(16);
    absurd.writeBigUInt64LE(1n, 0);
    absurd.writeBigUInt64LE(BigInt(LIMIT + 1 + Math.floor(random() * 2 ** 40)), 8);
    t.throws(() => new WireDecoder({ maxMessageBytes: LIMIT }).push(absurd), MessageTooLargeError);
  }
});
