/**
 * A lone small scalar decodes without msgpackr (lib/protocol/scalar-values.ts),
 * to exactly what msgpackr gives; everything else is left to msgpackr.
 */
import t from 'tap';
import { Unpackr } from 'msgpackr';
import { decodeScalar, NOT_SCALAR } from '../dist/lib/protocol/scalar-values.js';
import { decodeValue, encodeValue } from '../dist/lib/protocol/values.js';
import { SerializationError } from '../dist/lib/errors.js';

const reference = new Unpackr({ useRecords: false, moreTypes: true });
const same = (a: unknown, b: unknown): boolean => Object.is(a, b);

t.test('scalars as values.ts encodes them decode as msgpackr decodes them', async (t) => {
  const values: unknown[] = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53,
    -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1,
    0.5, -2.25, 1e300, Number.MIN_VALUE, Number.NaN, Infinity, -Infinity, 100_000_001,
    null, true, false, '', 'a', 'number', 'x'.repeat(31),
  ];
  const wrong: string[] = [];
  let direct = 0;
  for (const value of values) {
    const blob = encodeValue(value);
    const expected = reference.unpack(Buffer.from(blob));
    const fast = decodeScalar(blob);
    if (fast !== NOT_SCALAR) direct++;
    if (fast !== NOT_SCALAR && !same(fast, expected)) wrong.push(`${String(value)}: ${String(fast)} vs ${String(expected)}`);
    if (!same(decodeValue(blob), expected)) wrong.push(`decodeValue(${String(value)})`);
  }
  t.same(wrong, [], 'no value decodes differently');
  t.ok(direct >= values.length - 4, `${direct} of ${values.length} read directly`);
  for (const value of [7, -5, 200, -200, 40_000, -40_000, 3_000_000_000, -3_000_000, 0.1, null, true, 'abc']) {
    t.not(decodeScalar(encodeValue(value)), NOT_SCALAR, `${String(value)} is read directly`);
  }
});

t.test('hand-made encodings of every width msgpack allows', async (t) => {
  const cases: Array<[number[], unknown]> = [
    [[0xd0, 0x9c], -100], // int8
    [[0xd1, 0xff, 0x38], -200], // int16
    [[0xd2, 0xff, 0xff, 0xff, 0x38], -200], // int32
    [[0xcd, 0x01, 0x00], 256], // uint16
    [[0xcc, 0x05], 5], // uint8 holding a small number
  ];
  for (const [bytes, value] of cases) {
    const blob = Uint8Array.from(bytes);
    t.equal(decodeScalar(blob), value, bytes.map((b) => b.toString(16)).join(' '));
    t.equal(reference.unpack(Buffer.from(blob)), value, 'msgpackr agrees');
  }
});

t.test('anything else is left to msgpackr', async (t) => {
  const others: unknown[] = [undefined, -0, 'x'.repeat(32), 'é', [1], { a: 1 }, new Uint8Array(2), 2n ** 70n];
  for (const value of others) t.equal(decodeScalar(encodeValue(value)), NOT_SCALAR, `${typeof value} ${String(value).slice(0, 10)}`);
  t.equal(decodeScalar(Uint8Array.of(0x01, 0x02)), NOT_SCALAR, 'trailing bytes');
  t.equal(decodeScalar(Uint8Array.of(0xca, 0x3f, 0x80, 0, 0)), NOT_SCALAR, 'float32');
  t.equal(decodeScalar(new Uint8Array(0)), NOT_SCALAR, 'nothing');
  const truncated = Uint8Array.of(0xce, 0x00, 0x01);
  t.equal(decodeScalar(truncated), NOT_SCALAR, 'a truncated uint32');
  t.throws(() => decodeValue(truncated), SerializationError, 'still a SerializationError from decodeValue');
  t.equal(decodeValue(encodeValue(-0)), -0, '-0 keeps its sign (through msgpackr)');
});
