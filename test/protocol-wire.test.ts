import t from 'tap';
import { randomBytes } from 'node:crypto';
import {
  encodeBatch,
  WireDecoder,
  DEFAULT_MAX_MESSAGE_BYTES,
  OUT_OF_BAND_THRESHOLD,
  MAX_FRAME_COUNT,
  DIRECT_FRAME_BYTES,
} from '../dist/lib/protocol/wire.js';
import { encodeValue, decodeValue, DependencyRef } from '../dist/lib/protocol/values.js';
import { serializeError } from '../dist/lib/protocol/errors.js';
import { ProtocolError, MessageTooLargeError, SerializationError } from '../dist/lib/errors.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

/** mulberry32: a seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const concat = (buffers: Uint8Array[]): Buffer => Buffer.concat(buffers);
const u64 = (view: Uint8Array, offset: number): number => Number(Buffer.from(view.buffer, view.byteOffset, view.byteLength).readBigUInt64LE(offset));

function decodeAll(stream: Uint8Array, chunkSizes: () => number): OpDict[] {
  const decoder = new WireDecoder();
  const out: OpDict[] = [];
  for (let at = 0; at < stream.byteLength; ) {
    const size = Math.max(1, Math.min(chunkSizes(), stream.byteLength - at));
    // Copy each chunk, as a socket would hand over fresh memory.
    out.push(...decoder.push(Uint8Array.prototype.slice.call(stream, at, at + size)));
    at += size;
  }
  if (!decoder.idle) throw new Error('bytes left buffered after a whole stream');
  return out;
}

function sampleMessages(): OpDict[][] {
  const compressible = Buffer.alloc(300_000, 'abcdefgh');
  const random = randomBytes(100_000);
  return [
    [{ op: 'heartbeat_worker', address: 'tcp://127.0.0.1:1', metrics: { cpu: 0.5, memory: 1e9 } }],
    [
      { op: 'compute-task', key: 'a', runId: 1, runSpec: { fn: { kind: 'source', source: 'x=>x', name: 'f' }, args: encodeValue([new DependencyRef('b'), 2]) }, whoHas: {}, nbytes: {}, priority: [0], stimulusId: 's' },
      { op: 'free-keys', keys: ['x', 'y'], stimulusId: 's2' },
      { op: 'task-erred', key: 'z', runId: 2, exception: serializeError(new RangeError('r')), stimulusId: 's3' },
    ],
    [{ op: 'update_data', data: { big: compressible, noise: random, small: Buffer.from('tiny') } }],
    [{ op: 'reply', id: 7, status: 'OK', result: { f64: new Float64Array(20_000).map((_, i) => i * 0.5), ab: new Uint8Array(70_000).fill(3).buffer, list: 'y'.repeat(5000) } }],
    [],
    [{ op: 'update-graph', client: 'c', keys: ['k'], tasks: Array.from({ length: 2000 }, (_, i) => ({ key: `t-${i}`, dependencies: i ? [`t-${i - 1}`] : [] })) }],
  ];
}

t.test('batches round-trip in order under any chunking', async (t) => {
  const batches = sampleMessages();
  const expected = batches.flat();
  const stream = concat(batches.flatMap((batch) => encodeBatch(batch)));
  t.same(decodeAll(stream, () => stream.byteLength), expected, 'one chunk');
  const random = prng(42);
  t.same(decodeAll(stream, () => 1 + Math.floor(random() * 5000)), expected, 'random splits');
  t.same(decodeAll(stream, () => 1 + Math.floor(random() * 20)), expected, 'tiny random splits');
  const small = concat(batches.slice(0, 2).flatMap((batch) => encodeBatch(batch)));
  t.same(decodeAll(small, () => 1), batches.slice(0, 2).flat(), 'one byte at a time');
});

t.test('types inside op-dicts survive the wire', async (t) => {
  const message = {
    op: 'reply', id: 1, status: 'OK', nothing: undefined, when: new Date(5), big: 2n ** 70n,
    u8: Uint8Array.of(1, 2), buf: Buffer.from('b'), f32: new Float32Array([1.5]),
    largeU8: new Uint8Array(OUT_OF_BAND_THRESHOLD).fill(9), largeBuf: Buffer.alloc(OUT_OF_BAND_THRESHOLD, 1),
    largeI16: new Int16Array(OUT_OF_BAND_THRESHOLD).fill(-2), largeView: new DataView(new ArrayBuffer(OUT_OF_BAND_THRESHOLD)),
  };
  const [back] = decodeAll(concat(encodeBatch([message])), () => 777);
  t.same(back, message);
  for (const key of ['u8', 'buf', 'f32', 'largeU8', 'largeBuf', 'largeI16', 'largeView'] as const) {
    t.equal((back![key] as object).constructor, message[key].constructor, key);
  }
  t.ok('nothing' in back!, 'undefined field kept');
});

t.test('large binaries are frames of their own and are not copied', async (t) => {
  const payload = randomBytes(OUT_OF_BAND_THRESHOLD * 2);
  const typed = new Float64Array(Array.from({ length: OUT_OF_BAND_THRESHOLD }, Math.random));
  const small = randomBytes(OUT_OF_BAND_THRESHOLD - 1);
  const buffers = encodeBatch([{ op: 'update_data', data: { a: payload, b: small } }, { op: 'x', t: typed }]);
  t.ok(buffers.includes(payload), 'the very Buffer is in the output');
  t.ok(buffers.some((b) => b.buffer === typed.buffer && b.byteLength === typed.byteLength), "the Float64Array's memory is in the output");
  t.notOk(buffers.some((b) => b === small), 'below the threshold: inline');
  const frameCount = u64(buffers[0]!, 0);
  t.equal(frameCount, 3, 'body + two out-of-band frames');
  const total = buffers.reduce((sum, b) => sum + b.byteLength, 0);
  t.ok(total < payload.byteLength + typed.byteLength + small.byteLength + 1000, 'nothing duplicated');

  const stream = concat(buffers);
  const decoder = new WireDecoder();
  const [first, second] = decoder.push(stream);
  const received = (first!.data as Record<string, Buffer>).a;
  t.ok(received.equals(payload));
  t.equal(received.buffer, stream.buffer, 'received frame is a view of the received chunk');
  t.same(Array.from((second!.t as Float64Array).subarray(0, 5)), Array.from(typed.subarray(0, 5)));
});

t.test('a large frame lands in one buffer of its own, pushed or read into, under odd chunkings', async (t) => {
  const big = randomBytes(3 * DIRECT_FRAME_BYTES + 12345);
  const stream = concat([
    ...encodeBatch([{ op: 'big', data: big, tail: 'x' }, { op: 'after', n: 1 }]),
    ...encodeBatch([{ op: 'next', n: 2 }]),
  ]);
  const random = prng(4242);
  const oddSize = (): number => [1, 7, 4099, 65_521, 300_007, 1_048_573][Math.floor(random() * 6)]!;

  const pushed = decodeAll(stream, oddSize);
  t.same(pushed.map((m) => m.op), ['big', 'after', 'next']);
  t.ok((pushed[0]!.data as Buffer).equals(big), 'pushed: intact');
  t.equal((pushed[0]!.data as Buffer).byteLength, (pushed[0]!.data as Buffer).buffer.byteLength, 'pushed: a buffer of its own');

  // As a socket with onread: each read fills (part of) what readTarget() hands out.
  const decoder = new WireDecoder();
  const out: OpDict[] = [];
  const largeTargets = new Set<ArrayBufferLike>();
  for (let at = 0; at < stream.byteLength; ) {
    const target = decoder.readTarget();
    if (target.byteLength > 64 * 1024) {
      largeTargets.add(target.buffer);
      t.ok(target.byteLength <= big.byteLength, 'a read target never reaches past the large frame');
    }
    const size = Math.min(oddSize(), target.byteLength, stream.byteLength - at);
    target.set(stream.subarray(at, at + size));
    at += size;
    out.push(...decoder.commitRead(size));
  }
  t.ok(decoder.idle);
  t.same(out.map((m) => m.op), ['big', 'after', 'next']);
  const received = out[0]!.data as Buffer;
  t.ok(received.equals(big), 'read into: intact');
  t.same([...largeTargets], [received.buffer], 'the socket wrote the frame straight into the buffer delivered');
  t.same(out[1], { op: 'after', n: 1 });
  t.same(out[2], { op: 'next', n: 2 });
});

t.test('large frames arrive in shared memory; an ArrayBuffer still comes back as an ArrayBuffer', async (t) => {
  const blob = randomBytes(DIRECT_FRAME_BYTES + 7);
  const raw = new Uint8Array(randomBytes(DIRECT_FRAME_BYTES)).buffer;
  const stream = concat(encodeBatch([{ op: 'x', blob, raw }], { compression: false }));
  for (const [how, decoded] of [['pushed', new WireDecoder().push(stream)], ['read into', decodeAll(stream, () => 65_536)]] as const) {
    const message = decoded[0]!;
    t.ok((message.blob as Buffer).buffer instanceof SharedArrayBuffer, `${how}: a large frame is shared memory (threads get it uncopied)`);
    t.ok((message.blob as Buffer).equals(blob), `${how}: intact`);
    t.ok(message.raw instanceof ArrayBuffer, `${how}: an ArrayBuffer, not a SharedArrayBuffer`);
    t.ok(Buffer.from(message.raw as ArrayBuffer).equals(Buffer.from(raw)), `${how}: ArrayBuffer intact`);
  }
});

t.test('misaligned typed-array frames are still decoded correctly', async (t) => {
  const typed = new Float64Array(OUT_OF_BAND_THRESHOLD / 8).map((_, i) => i + 0.25);
  const stream = concat([Uint8Array.of(0), ...encodeBatch([{ op: 'x', typed }], { compression: false })]);
  for (const shift of [1, 2, 3]) {
    const chunk = Buffer.alloc(stream.byteLength - 1 + shift);
    stream.copy(chunk, shift, 1);
    const [message] = new WireDecoder().push(chunk.subarray(shift));
    t.same(message!.typed, typed, `shift ${shift}`);
  }
});

t.test('compression: used when it pays, skipped for random data', async (t) => {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(5000));
  const compressed = encodeBatch([{ op: 'update_data', data: { text } }]);
  const compressedSize = compressed.reduce((sum, b) => sum + b.byteLength, 0);
  t.ok(compressedSize < text.byteLength / 10, `compressible frame shrank to ${compressedSize} bytes`);
  t.notOk(compressed.includes(text), 'the compressed frame replaces the original');
  t.same(new WireDecoder().push(concat(compressed))[0]!.data, { text });

  const noise = randomBytes(500_000);
  const raw = encodeBatch([{ op: 'update_data', data: { noise } }]);
  t.ok(raw.includes(noise), 'random bytes are sent as they are');
  t.same(new WireDecoder().push(concat(raw))[0]!.data, { noise });

  const largeBody = { op: 'update-graph', tasks: Array.from({ length: 500 }, (_, i) => ({ key: `inc-${i}`, dependencies: [] })) };
  const plainSize = encodeBatch([largeBody], { compression: false }).reduce((sum, b) => sum + b.byteLength, 0);
  const bodySize = encodeBatch([largeBody]).reduce((sum, b) => sum + b.byteLength, 0);
  t.ok(bodySize < plainSize * 0.9, `a large msgpack body is compressed too (${bodySize} < ${plainSize})`);
  t.same(new WireDecoder().push(concat(encodeBatch([largeBody]))), [largeBody]);
  const off = encodeBatch([{ op: 'x', text }], { compression: false });
  t.ok(off.includes(text), 'compression: false sends raw');
});

t.test('small messages are one buffer with the documented layout', async (t) => {
  const buffers = encodeBatch([{ op: 'ping' }]);
  t.equal(buffers.length, 1);
  const bytes = buffers[0]!;
  t.equal(u64(bytes, 0), 1, 'frame count');
  t.equal(u64(bytes, 8), bytes.byteLength - 16, 'frame 0 length');
  t.same([...bytes.subarray(16, 19)], [0x92, 0x01, 0x00], 'header [version 1, raw]');
  t.same(decodeValue(bytes.subarray(19)), [{ op: 'ping' }], 'body: plain msgpack list of op-dicts');
  const next = encodeBatch([{ op: 'pong' }])[0]!;
  t.same(new WireDecoder().push(bytes), [{ op: 'ping' }], 'earlier output is not overwritten by later encodes');
  t.same(new WireDecoder().push(next), [{ op: 'pong' }]);
});

t.test('encodeBatch rejects what is not an op-dict or cannot be encoded', async (t) => {
  t.throws(() => encodeBatch([{ notOp: 1 } as unknown as OpDict]), ProtocolError);
  t.throws(() => encodeBatch([null as unknown as OpDict]), ProtocolError);
  t.throws(() => encodeBatch([{ op: 'x', fn: () => 1 }]), SerializationError);
  t.throws(() => encodeBatch([{ op: 'x', p: Promise.resolve() }]), SerializationError);
  t.same(new WireDecoder().push(concat(encodeBatch([{ op: 'still-works' }]))), [{ op: 'still-works' }]);
});

t.test('a message over the limit is refused from its lengths, before its bytes', async (t) => {
  const decoder = new WireDecoder({ maxMessageBytes: 1024 * 1024 });
  const prefix = Buffer.alloc(16);
  prefix.writeBigUInt64LE(1n, 0);
  prefix.writeBigUInt64LE(2n * 1024n * 1024n, 8);
  t.throws(() => decoder.push(prefix), MessageTooLargeError, 'refused on the prefix alone');
  t.throws(() => decoder.push(Buffer.alloc(10)), MessageTooLargeError, 'and stays failed');
  t.ok(decoder.error instanceof MessageTooLargeError);

  const many = Buffer.alloc(8);
  many.writeBigUInt64LE(BigInt(MAX_FRAME_COUNT), 0);
  t.throws(() => new WireDecoder({ maxMessageBytes: 1000 }).push(many), MessageTooLargeError, 'frame lengths alone would exceed the limit');

  const legit = concat(encodeBatch([{ op: 'x', payload: randomBytes(200_000) }]));
  t.throws(() => new WireDecoder({ maxMessageBytes: 100_000 }).push(legit.subarray(0, 40)), MessageTooLargeError, 'real message, small limit');
  t.equal(new WireDecoder().maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
  t.equal(DEFAULT_MAX_MESSAGE_BYTES, 1024 ** 3);
});

t.test('the decompressed size counts against the total cap (not the per-frame limit)', async (t) => {
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  const stream = concat(encodeBatch([{ op: 'x', zeros }]));
  t.ok(stream.byteLength < 100_000, 'compresses well on the wire');
  t.throws(() => new WireDecoder({ maxTotalBytes: 1024 * 1024 }).push(stream), MessageTooLargeError);
  t.equal((new WireDecoder({ maxMessageBytes: 1024 * 1024 }).push(stream)[0]!.zeros as Buffer).byteLength, zeros.byteLength, 'a frame decompressing past the frame limit is fine');
  t.equal((new WireDecoder({ maxTotalBytes: 8 * 1024 * 1024 }).push(stream)[0]!.zeros as Buffer).byteLength, zeros.byteLength);
});

t.test('small binaries in a batch come back as plain Uint8Arrays with bytes of their own', async (t) => {
  const values = Array.from({ length: 300 }, (_, i) => Uint8Array.of(0xce, i & 0xff, (i >> 8) & 0xff, 7, 9));
  const batch: OpDict[] = values.map((value, i) => ({ op: 'key-in-memory', key: `inc-${i}`, type: 'number', nbytes: 5, value }));
  const decoder = new WireDecoder();
  const first = decoder.push(Uint8Array.prototype.slice.call(concat(encodeBatch(batch))));
  // A second batch through the same decoder reuses its scratch memory: the first batch's values must not change.
  const overwrite = values.map(() => Uint8Array.of(1, 1, 1, 1, 1));
  decoder.push(Uint8Array.prototype.slice.call(concat(encodeBatch(overwrite.map((value) => ({ op: 'x', value }))))));
  t.equal(first.length, values.length);
  const wrong = first.flatMap(({ value }, i) => {
    const view = value as Uint8Array;
    if (view.constructor !== Uint8Array || Buffer.isBuffer(view) || view.byteOffset !== 0 || view.buffer.byteLength !== 5) {
      return [`value ${i} is a ${view.constructor.name} at offset ${view.byteOffset} of a ${view.buffer.byteLength}-byte buffer`];
    }
    return Buffer.from(view).equals(Buffer.from(values[i]!)) ? [] : [`value ${i} is ${[...view]}, expected ${[...values[i]!]}`];
  });
  t.same(wrong, [], 'every value kept its class and bytes');
  const one = first[0]!.value as Uint8Array;
  one[0] = 0;
  t.equal((first[1]!.value as Uint8Array)[0], 0xce, 'each value owns its bytes');
});
