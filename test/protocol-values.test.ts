import t from 'tap';
import { encodeValue, decodeValue, decodeWithViews, DependencyRef, typeName } from '../dist/lib/protocol/values.js';
import { SerializationError, CancelledError, KilledWorker, TimeoutError } from '../dist/lib/errors.js';

const roundTrip = <T>(value: T): T => decodeValue<T>(encodeValue(value));

t.test('primitives round-trip, including NaN, -0, Infinity and undefined', async (t) => {
  for (const value of [undefined, null, true, false, 0, 1, -1, 127, 128, 255, 65536, 2 ** 31, 2 ** 32 + 1, 2 ** 53 - 1, -(2 ** 40), 0.1, -1.5e300, Infinity, -Infinity, '', 'hello', 'ü€😀', 'x'.repeat(70000)]) {
    t.same(roundTrip(value), value, `${typeof value} ${String(value).slice(0, 20)}`);
    t.equal(typeof roundTrip(value), typeof value);
  }
  t.ok(Number.isNaN(roundTrip(NaN)), 'NaN');
  t.ok(Object.is(roundTrip(-0), -0), 'top-level -0');
  t.ok(Object.is(roundTrip([1, -0])[1], -0), '-0 in an array');
  t.ok(Object.is(roundTrip({ a: { b: -0 } }).a.b, -0), '-0 in nested objects');
  t.ok(Object.is(roundTrip(0), 0), '+0 stays +0');
});

t.test('BigInt of any size', async (t) => {
  for (const value of [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 64n, 2n ** 200n + 12345n, -(3n ** 300n)]) {
    const back = roundTrip(value);
    t.equal(typeof back, 'bigint');
    t.equal(back, value, String(value));
  }
});

t.test('Date, RegExp, Map, Set, arrays and plain objects', async (t) => {
  const date = new Date(1731000000123);
  t.equal(roundTrip(date).getTime(), date.getTime());
  t.ok(roundTrip(date) instanceof Date);
  t.ok(Number.isNaN(roundTrip(new Date(NaN)).getTime()), 'invalid date stays invalid');
  const regexp = roundTrip(/a+b?/giu);
  t.ok(regexp instanceof RegExp);
  t.equal(regexp.source, 'a+b?');
  t.equal(regexp.flags, 'giu');
  const map = new Map<unknown, unknown>([[1, 'one'], ['two', { n: 2 }], [3n, [3]], [null, new Map([['inner', -0]])]]);
  const mapBack = roundTrip(map);
  t.ok(mapBack instanceof Map);
  t.same([...mapBack.keys()], [1, 'two', 3n, null]);
  t.same(mapBack.get('two'), { n: 2 });
  t.ok(mapBack.get(null) instanceof Map, 'nested Map');
  t.ok(Object.is((mapBack.get(null) as Map<string, number>).get('inner'), -0));
  const setBack = roundTrip(new Set([1, 'a', new Map([[1, 2]])]));
  t.ok(setBack instanceof Set);
  t.equal(setBack.size, 3);
  t.ok([...setBack][2] instanceof Map, 'Map inside a Set');
  const nested = { a: [1, { b: [null, undefined, 'c'] }], d: { e: { f: new Date(0) } }, g: [] as unknown[], h: {} };
  const nestedBack = roundTrip(nested);
  t.same(nestedBack, nested);
  t.ok(nestedBack.d.e.f instanceof Date);
  t.ok('1' in (roundTrip([0, undefined]) as unknown[]), 'undefined array slot kept');
  t.same(roundTrip(Object.assign(Object.create(null), { x: 1 })), { x: 1 }, 'null-prototype object');
});

t.test('class instances travel as plain objects', async (t) => {
  class Point {
    constructor(readonly x: number, readonly y: number) {}
  }
  const back = roundTrip(new Point(1, 2));
  t.same(back, { x: 1, y: 2 });
  t.equal(typeName(back), 'Object');
});

t.test('Buffer, every TypedArray, ArrayBuffer and DataView', async (t) => {
  const buffer = roundTrip(Buffer.from('bytes \u00ff'));
  t.ok(Buffer.isBuffer(buffer));
  t.equal(buffer.toString(), 'bytes \u00ff');
  const classes = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array] as const;
  for (const TypedArrayClass of classes) {
    const isBig = TypedArrayClass === BigInt64Array || TypedArrayClass === BigUint64Array;
    const source = new (TypedArrayClass as unknown as new (values: unknown[]) => ArrayLike<unknown>)(isBig ? [1n, 2n, 255n] : [1, 2, 255]);
    const back = roundTrip(source);
    t.equal(back.constructor, TypedArrayClass, TypedArrayClass.name);
    t.same(Array.from(back), Array.from(source), TypedArrayClass.name);
  }
  const offsetView = new Float64Array(new ArrayBuffer(64), 8, 3).fill(2.5);
  t.same(Array.from(roundTrip(offsetView)), [2.5, 2.5, 2.5], 'view with an offset');
  const arrayBuffer = roundTrip(Uint8Array.of(9, 8, 7).buffer);
  t.ok(arrayBuffer instanceof ArrayBuffer);
  t.same([...new Uint8Array(arrayBuffer)], [9, 8, 7]);
  const dataView = roundTrip(new DataView(Uint8Array.of(1, 2, 3, 4).buffer, 1, 2));
  t.ok(dataView instanceof DataView);
  t.equal(dataView.byteLength, 2);
  t.equal(dataView.getUint8(0), 2);
  const large = new Float64Array(200_000).map((_, i) => i / 3);
  const largeBack = roundTrip(large);
  t.equal(largeBack.length, large.length);
  t.equal(largeBack[199_999], large[199_999], 'large typed arrays stay inline in values');
});

t.test('Errors keep class, message, stack, cause and own props', async (t) => {
  const cause = new RangeError('inner');
  const error = Object.assign(new TypeError('outer', { cause }), { code: 'E_BAD', details: { n: 1 } });
  const back = roundTrip(error);
  t.ok(back instanceof TypeError);
  t.equal(back.message, 'outer');
  t.equal(back.stack, error.stack, 'the original stack');
  t.equal((back as unknown as { code: string }).code, 'E_BAD');
  t.same((back as unknown as { details: unknown }).details, { n: 1 });
  t.ok(back.cause instanceof RangeError);
  t.equal((back.cause as Error).message, 'inner');

  class QuotaError extends Error {
    override name = 'QuotaError';
    limit = 10;
  }
  const custom = roundTrip(new QuotaError('over quota'));
  t.ok(custom instanceof Error);
  t.equal(custom.name, 'QuotaError', 'custom name kept');
  t.equal((custom as unknown as { limit: number }).limit, 10);

  const cancelled = roundTrip(new CancelledError('k1', 'restart'));
  t.ok(cancelled instanceof CancelledError, 'lib/errors.ts class comes back as itself');
  t.equal(cancelled.key, 'k1');
  t.equal(cancelled.reason, 'restart');
  t.equal(cancelled.message, 'k1 was cancelled: restart');

  const killed = roundTrip({ err: new KilledWorker('k2', 'tcp://w', 3) }).err;
  t.ok(killed instanceof KilledWorker);
  t.equal(killed.lastWorker, 'tcp://w');
  t.ok(roundTrip(new TimeoutError('slow')) instanceof TimeoutError);

  const aggregate = roundTrip(new AggregateError([new Error('a'), new SyntaxError('b')], 'many'));
  t.ok(aggregate instanceof AggregateError);
  t.equal(aggregate.errors.length, 2);
  t.ok(aggregate.errors[1] instanceof SyntaxError);

  const withStringCause = roundTrip(new Error('x', { cause: 'just a string' }));
  t.equal(withStringCause.cause, 'just a string');
  t.notOk('cause' in roundTrip(new Error('no cause')), 'no cause stays no cause');
});

t.test('DependencyRef placeholders and substitution', async (t) => {
  const blob = encodeValue([1, new DependencyRef('a'), { nested: [new DependencyRef('b')] }, new Map([['c', new DependencyRef('a')]])]);
  const unresolved = decodeValue<unknown[]>(blob);
  t.ok(unresolved[1] instanceof DependencyRef);
  t.equal((unresolved[1] as DependencyRef).key, 'a');
  const deps = new Map<string, unknown>([['a', { big: new Float64Array([1, 2]) }], ['b', undefined]]);
  const resolved = decodeValue<[number, { big: Float64Array }, { nested: unknown[] }, Map<string, unknown>]>(blob, deps);
  t.equal(resolved[1], deps.get('a'), 'the dependency value itself, not a copy');
  t.same(resolved[2].nested, [undefined], 'a dependency whose value is undefined');
  t.equal(resolved[3].get('c'), deps.get('a'));
  t.throws(() => decodeValue(blob, new Map([['a', 1]])), SerializationError, 'a missing key is a SerializationError');
  t.throws(() => decodeValue(blob, new Map([['a', 1]])), /"b"/, 'naming the key');
  t.ok(decodeValue<unknown[]>(blob)[1] instanceof DependencyRef, 'decoder state is not left behind by a failure');
});

t.test('values that cannot travel throw SerializationError', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['function', () => 1],
    ['class', class Foo {}],
    ['symbol', Symbol('s')],
    ['Promise', Promise.resolve(1)],
    ['WeakMap', new WeakMap()],
    ['WeakSet', new WeakSet()],
    ['WeakRef', new WeakRef({})],
    ['function in an object', { a: { handler: () => 1 } }],
    ['symbol in an array', [1, Symbol.iterator]],
    ['Promise in a Map', new Map([['p', Promise.resolve()]])],
  ];
  for (const [label, value] of bad) {
    t.throws(() => encodeValue(value), SerializationError, label);
  }
  t.throws(() => encodeValue({ a: { handler: () => 1 } }), /value\.a\.handler/, 'the message says where');
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  t.throws(() => encodeValue(cyclic), SerializationError, 'a cycle');
  t.throws(() => decodeValue(Uint8Array.of(0xd4, 0x63, 0x00)), SerializationError, 'an unknown extension');
  t.throws(() => decodeValue(Uint8Array.of(0x01, 0x02)), SerializationError, 'trailing bytes');
  t.throws(() => decodeValue(Uint8Array.of(0x92, 0x01)), SerializationError, 'truncated bytes');
  t.throws(() => decodeValue('not bytes' as unknown as Uint8Array), SerializationError);
});

t.test('encodeValue output owns its ArrayBuffer', async (t) => {
  const first = encodeValue({ a: 1 });
  const second = encodeValue({ b: 2 });
  t.not(first.buffer, second.buffer, 'two results never share memory');
  t.equal(first.byteOffset, 0);
  t.equal(first.buffer.byteLength, first.byteLength, 'the buffer is exactly the encoding');
  const copy = Uint8Array.from(first);
  encodeValue({ overwrite: 'x'.repeat(5000) });
  t.same(first, copy, 'later encodes do not overwrite earlier results');
  const transferred = structuredClone(first, { transfer: [first.buffer as ArrayBuffer] });
  t.same(decodeValue(transferred), { a: 1 }, 'transferable');
});

t.test('decodeWithViews: large binaries come back as views of the blob, the rest as decodeValue does', async (t) => {
  const n = 100_000;
  const bytes = new Uint8Array(n).map((_, i) => i % 251);
  const cases: [string, ArrayBufferView][] = [
    ['Uint8Array', bytes],
    ['Buffer', Buffer.from(bytes)],
    ['Int32Array', new Int32Array(n / 4).map((_, i) => i - 7)],
    ['DataView', new DataView(bytes.buffer.slice(0))],
  ];
  for (const [name, value] of cases) {
    const blob = encodeValue(value);
    const input = decodeWithViews<ArrayBufferView>(blob);
    t.equal(typeName(input), typeName(value), `${name}: same class`);
    t.same(Buffer.from(input.buffer, input.byteOffset, input.byteLength), Buffer.from(value.buffer, value.byteOffset, value.byteLength), `${name}: same bytes`);
    t.equal(input.buffer, blob.buffer, `${name}: a view of the blob, not a copy`);
    const decoded = decodeValue<ArrayBufferView>(blob);
    t.equal(typeName(decoded), typeName(value), `${name}: decodeValue keeps the class`);
    t.not(decoded.buffer, blob.buffer, `${name}: decodeValue copies`);
    t.same(Buffer.from(decoded.buffer, decoded.byteOffset, decoded.byteLength), Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  const bad = encodeValue(bytes);
  bad[7] = 1;
  t.throws(() => decodeValue(bad), SerializationError, 'a malformed lone binary is a SerializationError');
  t.throws(() => decodeWithViews(bad), SerializationError, 'also as a task input (never a view of bad bytes)');
  const float = encodeValue(new Float64Array(20_000).fill(0.5));
  const aligned = decodeWithViews<Float64Array>(float);
  t.ok(aligned instanceof Float64Array && aligned.length === 20_000 && aligned[19_999] === 0.5);
  t.equal(aligned.buffer, float.buffer, 'a Float64Array input is an aligned view too (its bytes start 8 bytes in)');
  const shifted = new Uint8Array(float.byteLength + 1);
  shifted.set(float, 1);
  const misaligned = decodeWithViews<Float64Array>(shifted.subarray(1));
  t.ok(misaligned instanceof Float64Array && misaligned.length === 20_000 && misaligned[19_999] === 0.5, 'a blob at an odd offset still decodes');
  t.not(misaligned.buffer, shifted.buffer, 'as a copy, since a view would be misaligned');
  const arrayBuffer = encodeValue(new ArrayBuffer(n));
  const back = decodeWithViews<ArrayBuffer>(arrayBuffer);
  t.ok(back instanceof ArrayBuffer && back.byteLength === n, 'ArrayBuffers are never views');
  t.same(decodeWithViews(encodeValue({ small: [1, 2] })), { small: [1, 2] }, 'ordinary values decode as usual');
  t.same(decodeWithViews(encodeValue([bytes])), [bytes], 'a binary inside a structure is decoded (copied) as usual');
  t.throws(() => decodeWithViews(new Uint8Array(n).fill(0xc1)), SerializationError, 'garbage is a SerializationError');
});

t.test('typeName', async (t) => {
  const cases: Array<[unknown, string]> = [
    [1, 'number'], ['s', 'string'], [true, 'boolean'], [undefined, 'undefined'], [null, 'null'], [1n, 'bigint'],
    [[], 'Array'], [{}, 'Object'], [Object.create(null), 'Object'], [new Map(), 'Map'], [new Set(), 'Set'],
    [new Uint8Array(1), 'Uint8Array'], [Buffer.alloc(1), 'Buffer'], [new Date(), 'Date'], [new TypeError('x'), 'TypeError'],
    [new (class Custom {})(), 'Custom'], [() => 1, 'function'],
  ];
  for (const [value, name] of cases) t.equal(typeName(value), name, name);
});
