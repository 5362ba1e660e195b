import t from 'tap';
import { Client } from '../dist/lib/client/client.js';
import { MapSlices } from '../dist/lib/client/map-slices.js';
import { slicedArray, unsliced, whenBuilt } from '../dist/lib/client/sliced-array.js';
import { wait } from '../dist/lib/client/wait.js';
import { FUTURES_STEP, futuresIn, futuresInSteps } from '../dist/lib/client/gather-shapes.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { SerializationError } from '../dist/lib/errors.js';

/** A clock that advances `perRead` ms each time it is read, and a queue of deferred slices run by hand. */
function harness(perRead: number) {
  let time = 0;
  const deferred: Array<() => void> = [];
  const calls: Array<[number, number]> = [];
  return {
    calls,
    deferred,
    now: () => (time += perRead),
    defer: (next: () => void) => void deferred.push(next),
    /** The thread's turn never runs out here, unless a test says so. */
    turnOver: () => false,
    build: (from: number, to: number) => {
      calls.push([from, to]);
      return Array.from({ length: to - from }, (_, i) => `item-${from + i}`);
    },
    runNext: () => deferred.shift()!(),
  };
}

t.test('slices stop at the time budget, checked every few rows', async (t) => {
  const h = harness(1);
  // Each read of the clock advances 1 ms: start = 1, after chunk k the reading is 1 + k.
  const slices = new MapSlices(1000, h.build, { budgetMs: 3, checkEvery: 10, maxRows: 500, now: h.now, defer: h.defer, turnOver: h.turnOver });
  slices.step();
  t.equal(slices.built, 30, 'three chunks of 10 rows until 3 ms were spent');
  t.same(h.calls, [[0, 10], [10, 20], [20, 30]]);
  t.equal(h.deferred.length, 1, 'the next slice is deferred, not run');
  t.notOk(slices.complete);
  h.runNext();
  t.equal(slices.built, 60);
  t.equal(slices.slices, 2);
});

t.test('slices stop at the row cap when the clock does not move', async (t) => {
  const h = harness(0);
  const slices = new MapSlices(1000, h.build, { budgetMs: 5, checkEvery: 64, maxRows: 300, now: h.now, defer: h.defer, turnOver: h.turnOver });
  slices.step();
  t.equal(slices.built, 300, 'capped at maxRows (the last chunk cut to fit)');
  t.same(h.calls.at(-1), [256, 300]);
  while (h.deferred.length > 0) h.runNext();
  t.equal(slices.built, 1000);
  t.equal(slices.slices, 4, '300 + 300 + 300 + 100');
  t.ok(slices.complete);
  await slices.done;
  t.equal(slices.items[999], 'item-999');
});

t.test('a slice also ends once the thread\'s turn is spent, after at least one chunk of rows', async (t) => {
  const h = harness(0);
  let turnChecks = 0;
  // The clock stands still; the thread's turn runs out at the third look (the first only starts its clock).
  const slices = new MapSlices(1000, h.build, { checkEvery: 10, maxRows: 500, now: h.now, defer: h.defer, turnOver: () => ++turnChecks >= 3 });
  slices.step();
  t.same(h.calls, [[0, 10], [10, 20]], 'two chunks: the turn was spent at the second check');
  t.equal(slices.built, 20);
  t.equal(h.deferred.length, 1, 'the rest waits for a later turn');
  h.runNext();
  t.same(h.calls.slice(2), [[20, 30]], 'a later slice whose turn is spent still builds one chunk');
});

t.test('touching an item builds through it at once; the deferred slice carries on after it', async (t) => {
  const h = harness(0);
  const slices = new MapSlices(100, h.build, { checkEvery: 10, maxRows: 10, now: h.now, defer: h.defer, turnOver: h.turnOver });
  slices.step();
  const array = slicedArray(slices);
  t.equal(array.length, 100);
  t.equal(array[55], 'item-55', 'built on demand');
  t.equal(slices.built, 56);
  t.equal(h.deferred.length, 1, 'still one deferred slice, not two');
  h.runNext();
  t.equal(slices.built, 66);
  t.equal(whenBuilt([1, 2]), undefined, 'a plain array is not being built');
  const building = whenBuilt(array);
  t.ok(building instanceof Promise);
  t.same(Object.keys(array).length, 100, 'listing the keys builds everything');
  t.ok(slices.complete);
  await building;
  t.equal(unsliced(array), slices.items, 'the plain array behind it');
  t.same([...array].slice(0, 3), ['item-0', 'item-1', 'item-2']);
});

t.test('a row that cannot be built stops the slices; touching later items throws the error', async (t) => {
  const h = harness(0);
  const boom = new Error('row 25 cannot be built');
  const build = (from: number, to: number) => {
    if (to > 25) throw boom;
    return h.build(from, to);
  };
  const slices = new MapSlices(50, build, { checkEvery: 5, maxRows: 10, now: h.now, defer: h.defer, turnOver: h.turnOver });
  slices.step();
  const array = slicedArray(slices);
  h.runNext();
  t.equal(slices.built, 20);
  h.runNext();
  t.equal(slices.error, boom);
  t.equal(array[3], 'item-3', 'built items stay readable');
  t.throws(() => array[40], boom);
  await t.rejects(slices.done, boom);
  t.equal(h.deferred.length, 0, 'no more slices after the failure');
});

t.test('an empty map is complete at once', async (t) => {
  const slices = new MapSlices(0, () => [], {});
  t.ok(slices.complete);
  await slices.done;
});

t.test('on a cluster: a long map is submitted in slices and gathers right', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2 });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const n = 10_000;
  const items = Array.from({ length: n }, (_, i) => i);
  const futures = client.map((x: number) => x * 2, items);
  t.equal(futures.length, n);
  t.ok(whenBuilt(futures) instanceof Promise, 'map returned before every row was built');
  const values = await client.gather(futures);
  t.equal(values.length, n);
  t.equal(values[0], 0);
  t.equal(values[n - 1], 2 * (n - 1));
  t.equal(values.reduce((a, b) => a + b, 0), n * (n - 1));

  // A generator (not an array) of a different length: zipped to the shorter.
  function* count(limit: number) {
    for (let i = 0; i < limit; i++) yield i;
  }
  const added = client.map((a: number, b: number) => a + b, count(5000), items);
  t.equal(added.length, 5000);
  const { done, notDone } = await wait(added);
  t.equal(done.size, 5000);
  t.equal(notDone.size, 0);
  t.equal(await added[4999]!.result(), 9998);

  // Same items twice: the same keys, one task each.
  const again = client.map((x: number) => x * 2, items);
  t.equal(again[123]!.key, futures[123]!.key);
  t.equal(await again[123]!.result(), 246);
  for (const future of [...futures, ...added, ...again]) future.release();
});

t.test('on a cluster: a long flat array of futures is checked and copied in steps, with turns of the loop between', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2 });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const n = 2 * FUTURES_STEP + 10;
  const futures = client.map((x: number) => x + 1, Array.from({ length: n }, (_, i) => i));
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  const list = await futuresInSteps(futures);
  t.ok(turned, 'the event loop turned while the futures were taken');
  t.equal(list.length, n);
  t.not(list, futures, 'a copy, not the caller array');
  t.ok(list.every((future, i) => future === futures[i]), 'the same futures, in order');
  // Not flat after all (an array nested at the end): the same as futuresIn.
  const mixed: unknown[] = [...futures, [futures[0]]];
  const steps = await futuresInSteps(mixed);
  t.equal(steps.length, n + 1);
  const walked = futuresIn(mixed);
  t.ok(steps.every((future, i) => future === walked[i]));
  await t.rejects(futuresInSteps(42), TypeError, 'neither a Future nor a collection of them');
  // wait() takes the long array the same way and still sees every future done.
  const { done, notDone } = await wait(futures);
  t.equal(done.size, n);
  t.equal(notDone.size, 0);
  t.equal(await futures[n - 1]!.result(), n);
  for (const future of futures) future.release();
});

t.test('on a cluster: an unencodable item in a later slice', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const n = 12_000;
  const items: unknown[] = Array.from({ length: n }, (_, i) => i);
  items[n - 1] = Symbol('cannot travel');
  const futures = client.map((x: number) => x, items as number[]);
  t.equal(futures.length, n);
  await t.rejects(client.gather(futures), SerializationError, 'gather rejects with the serialization error');
  t.throws(() => futures[n - 1], SerializationError);
  t.equal(await futures[0]!.result(), 0, 'the rows before it were submitted');
});
