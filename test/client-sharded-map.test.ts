/** The sharded Map and Set (lib/sharded-map.ts) and inline values decoded on arrival (FutureState.holdInline). */
import t from 'tap';
import { BUCKETS, SHARDS, bucketOf, shardLayout, shardOf, ShardedMap, ShardedSet } from '../dist/lib/sharded-map.js';
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

t.test('keys spread over the buckets, hash-tailed and counter-tailed alike', async (t) => {
  const hashed = new Set<number>();
  const counted = new Set<number>();
  for (let i = 0; i < 100_000; i++) {
    hashed.add(bucketOf(`inc-${(i * 2654435761 >>> 0).toString(16)}`));
    counted.add(bucketOf(`x-${i}`));
  }
  t.ok(hashed.size > BUCKETS * 0.95, `${hashed.size} of ${BUCKETS} buckets for hash tails`);
  t.ok(counted.size > BUCKETS * 0.95, `${counted.size} of ${BUCKETS} buckets for counter tails`);
});

t.test('a layout gives shard i a share of buckets growing about as 2^(i/SHARDS), every bucket to one shard', async (t) => {
  for (const seed of [0, 5]) {
    const layout = shardLayout(seed);
    const counts = new Array<number>(SHARDS).fill(0);
    for (const shard of layout) counts[shard]! += 1;
    t.equal(counts.reduce((a, b) => a + b, 0), BUCKETS);
    const ratio = counts[SHARDS - 1]! / counts[0]!;
    t.ok(ratio > 1.7 && ratio < 2.3, `largest / smallest share ${ratio.toFixed(2)} (seed ${seed})`);
    if (seed === 0) t.ok(counts.every((c, i) => i === 0 || c >= counts[i - 1]!), 'unjittered, shares never shrink with the shard number');
  }
});

/** For each shard, the insert (1-based) at which it first held `size` entries. */
function fillPoints(map: ShardedMap<number>, keys: string[], size: number): number[] {
  const points = new Array<number>(SHARDS).fill(-1);
  let sizes = map.shardSizes();
  keys.forEach((key, i) => {
    map.set(key, i);
    const now = map.shardSizes();
    for (let s = 0; s < SHARDS; s++) if (points[s] === -1 && now[s]! >= size && sizes[s]! < size) points[s] = i + 1;
    sizes = now;
  });
  return points;
}

t.test('shards, and collections holding the same keys, reach a size (and so rehash) at different inserts', async (t) => {
  const keys = Array.from({ length: 280_000 }, (_, i) => `inc-${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}`);
  const a = fillPoints(new ShardedMap<number>(), keys, 2048);
  const b = fillPoints(new ShardedMap<number>(), keys, 2048);
  t.ok(a.every((p) => p > 0) && b.every((p) => p > 0), 'every shard reached the size');
  // Equal shares put every shard there within a few percent of SHARDS × 2048 inserts.
  const spread = Math.max(...a) / Math.min(...a);
  t.ok(spread > 1.6, `first to last shard at ${Math.min(...a)} .. ${Math.max(...a)} inserts (×${spread.toFixed(2)})`);
  // Sorted, consecutive shards of one map are apart by ~1% of the inserts: no pile-up.
  const sorted = [...a].sort((x, y) => x - y);
  const closeTogether = sorted.filter((p, i) => i > 0 && p - sorted[i - 1]! < 150).length;
  t.ok(closeTogether < SHARDS / 4, `${closeTogether} shards within 150 inserts of the previous one`);
  // The second map has another phase: its shards reach the size at other inserts than the first's.
  const shared = b.filter((p) => a.some((q) => Math.abs(p - q) < 75)).length;
  t.ok(shared < SHARDS / 2, `${shared} of the second map's shards within 75 inserts of one of the first's`);
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
