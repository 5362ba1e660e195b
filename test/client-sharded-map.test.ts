/** The sharded Map and Set (lib/sharded-map.ts) and inline values decoded on arrival (FutureState.holdInline). */
import t from 'tap';
import { SHARDS, shardOf, ShardedMap, ShardedSet } from '../dist/lib/sharded-map.js';
import { readOnly, ReadOnlyViewError } from '../dist/lib/scheduler/read-only.js';
import { FutureState } from '../dist/lib/client/future-state.js';
import { encodeValue } from '../dist/lib/protocol/values.js';

t.test('a ShardedMap behaves as a Map of string keys', async (t) => {
  const map = new ShardedMap<number>();
  const plain = new Map<string, number>();
  for (let i = 0; i < 5000; i++) {
    const key = i % 7 === 0 ? `x-${i}` : `inc-${(i * 2654435761 >>> 0).toString(16)}`;
    map.set(key, i);
    plain.set(key, i);
  }
  map.set('x-0', -1);
  plain.set('x-0', -1);
  t.equal(map.size, plain.size, 'setting a key again does not count it twice');
  for (const key of ['x-7', 'x-14', 'nope']) {
    t.equal(map.delete(key), plain.delete(key), `delete ${key}`);
  }
  t.equal(map.size, plain.size);
  t.equal(map.get('x-0'), -1);
  t.equal(map.has('x-7'), false);
  t.same(new Map(map), plain, 'the same entries (iteration goes shard by shard)');
  t.same([...map.keys()].sort(), [...plain.keys()].sort());
  t.same([...map.values()].sort(), [...plain.values()].sort());
  map.set('', 3);
  t.equal(map.get(''), 3, 'the empty key works');
  map.clear();
  t.equal(map.size, 0);
  t.same([...map], []);
});

t.test('keys spread over the shards', async (t) => {
  const used = new Set<number>();
  for (let i = 0; i < 1000; i++) used.add(shardOf(`inc-${(i * 40503).toString(16)}`));
  for (let i = 0; i < 1000; i++) used.add(shardOf(`x-${i}`));
  t.ok(used.size >= SHARDS / 2, `${used.size} of ${SHARDS} shards used`);
  t.ok([...used].every((s) => s >= 0 && s < SHARDS));
  t.equal(shardOf('a'), shardOf('a'));
});

t.test('a tiny inline primitive is decoded on arrival; anything else stays encoded', async (t) => {
  const number = new FutureState('a');
  number.holdInline(encodeValue(42));
  t.same([number.hasValue, number.value, number.blob], [true, 42, undefined]);
  const text = new FutureState('b');
  text.holdInline(encodeValue('ok'));
  t.same([text.hasValue, text.value], [true, 'ok']);
  const object = new FutureState('c');
  const blob = encodeValue({ a: 1 });
  object.holdInline(blob);
  t.same([object.hasValue, object.blob], [false, blob], 'an object is decoded on first use (each reader may get its own)');
  const long = new FutureState('d');
  const longBlob = encodeValue('x'.repeat(100));
  long.holdInline(longBlob);
  t.equal(long.blob, longBlob, 'a larger value stays encoded');
  const broken = new FutureState('e');
  const bad = new Uint8Array([0xc1]);
  broken.holdInline(bad);
  t.same([broken.hasValue, broken.blob], [false, bad], 'bytes that do not decode are kept for first use to report');
});

t.test('a ShardedSet behaves as a Set of keyed records, and both pass for the built-in classes', async (t) => {
  const records = Array.from({ length: 3000 }, (_, i) => ({ key: `task-${(i * 2654435761 >>> 0).toString(16)}`, i }));
  const set = new ShardedSet<{ key: string; i: number }>();
  for (const r of records) set.add(r);
  set.add(records[0]!);
  t.equal(set.size, 3000, 'adding a record again does not count it twice');
  t.ok(set.has(records[17]!));
  t.notOk(set.has({ key: records[17]!.key, i: 17 }), 'membership is by identity, as in a Set');
  t.equal(set.delete(records[17]!), true);
  t.equal(set.delete(records[17]!), false);
  t.equal(set.size, 2999);
  const seen: number[] = [];
  set.forEach((r, again, whole) => {
    if (r === again && whole === set) seen.push(r.i);
  });
  t.same(seen.sort((a, b) => a - b), records.map((r) => r.i).filter((i) => i !== 17), 'forEach visits every record once');
  t.same([...set].length, 2999);
  t.same([...set.entries()].every(([a, b]) => a === b), true);
  t.ok(set instanceof Set, 'a ShardedSet is a Set');
  const map = new ShardedMap<number>();
  t.ok(map instanceof Map, 'a ShardedMap is a Map');
  map.set('a', 1).set('b', 2);
  const sum: string[] = [];
  map.forEach((v, k) => sum.push(`${k}=${v}`));
  t.same(sum.sort(), ['a=1', 'b=2']);
  // A scheduler plugin reads the scheduler's (sharded) collections through a read-only view.
  const view = readOnly(map);
  t.equal(view.get('a'), 1);
  t.equal(view.size, 2);
  t.same([...view.keys()].sort(), ['a', 'b']);
  t.throws(() => view.set('c', 3), ReadOnlyViewError, 'the view refuses writes');
  t.equal(map.has('c'), false);
  set.clear();
  t.equal(set.size, 0);
  t.same([...set], []);
});
