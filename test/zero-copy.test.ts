import t from 'tap';
import { Client } from '../dist/lib/client/client.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { Scheduler, Worker, type Future } from '../dist/index.js';
import { FrameParts } from '../dist/lib/protocol/out-of-band.js';
import { SpillBuffer } from '../dist/lib/worker/spill-buffer.js';
import { RecyclingStore } from '../dist/lib/worker/recycling-store.js';

// In one process a large binary is held by reference, as in dask: scatter keeps the caller's
// bytes in the worker's store and gather hands back a view of those same bytes (no copy). A task
// on a pool thread is the one thing that needs a copy (a thread cannot read this thread's memory):
// the bytes go into shared memory once, and the worker holds that copy from then on.
const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 2 });
const client = await Client.connect(cluster);
t.teardown(async () => {
  await client.close();
  await cluster.close();
});
const [first, second] = cluster.workers;

/** What the task on the pool thread saw of its argument. */
const inspect = (data: Uint8Array | Float64Array | ArrayBuffer) => ({
  shared: !(data instanceof ArrayBuffer) && data.buffer instanceof SharedArrayBuffer,
  kind: data.constructor.name,
  bytes: data.byteLength,
  head: Array.from(new Uint8Array(data instanceof ArrayBuffer ? data : data.buffer, data instanceof ArrayBuffer ? 0 : data.byteOffset, 4)),
});

t.test('scatter then gather: the caller’s own bytes, by reference', async (t) => {
  const payload = Buffer.alloc(8_000_000, 3);
  const future = await client.scatter(payload, { hash: false, workers: first!.address });
  const stored = first!.state.data.get(future.key);
  t.ok(stored instanceof FrameParts, 'the worker holds the value as its header and the caller’s bytes');
  t.equal((stored as FrameParts).parts[1], payload, 'the bytes held are the caller’s Buffer itself, not a copy');
  t.equal(stored!.byteLength, 8_000_008, 'sized as the encoded value (header + bytes) for memory accounting');

  const back = await client.gather(future);
  t.ok(Buffer.isBuffer(back), 'a Buffer comes back as a Buffer');
  t.equal(back.buffer, payload.buffer, 'gather returns a view of the caller’s memory (no copy)');
  t.equal(back.byteOffset, payload.byteOffset);
  t.equal(back.length, payload.length);
  payload[5] = 42;
  t.equal(back[5], 42, 'by reference: a write into the scattered Buffer is seen through what gather returned (so do not write)');
  future.release();
});

t.test('hash: true (the default) names equal bytes alike without copying them', async (t) => {
  const a = Buffer.alloc(1_000_000, 4);
  const b = Buffer.alloc(1_000_000, 4);
  const [fa, fb] = await client.scatter([a, b]);
  t.equal(fa!.key, fb!.key, 'equal contents, equal key');
  t.match(fa!.key, /^Buffer-/);
  const back = await client.gather(fa!);
  t.equal(back.buffer, a.buffer, 'the value held is the first one scattered, by reference');
});

t.test('a task on a pool thread: one copy into shared memory, kept for later readers', async (t) => {
  const payload = Buffer.alloc(4_000_000, 7);
  const future = await client.scatter(payload, { hash: false, workers: first!.address });
  const parts = first!.state.data.get(future.key) as FrameParts;
  t.ok(parts instanceof FrameParts && parts.parts[1] === payload, 'held by reference until a thread needs it');

  const seen = await client.submit(inspect, future, { workers: first!.address }).result();
  t.same(seen, { shared: true, kind: 'Buffer', bytes: 4_000_000, head: [7, 7, 7, 7] }, 'the thread reads the right bytes, from shared memory');
  const copy = first!.state.data.get(future.key) as Uint8Array;
  t.ok(copy instanceof Uint8Array && copy.buffer instanceof SharedArrayBuffer, 'the worker now holds the one shared copy');
  t.equal(copy.byteLength, parts.byteLength, 'of the same size (memory accounting does not move)');
  t.equal(parts.shared(), copy, 'the parts remember that copy: another holder of them would not copy again');

  const again = await client.submit(inspect, future, { workers: first!.address }).result();
  t.same(again, seen, 'a second task reads the same');
  t.equal(first!.state.data.get(future.key), copy, 'and no second copy was made');
  const back = await client.gather(future);
  t.equal(back.buffer, copy.buffer, 'gather after the task hands over a view of the shared copy (no copy)');
  t.equal(back[3_999_999], 7);
  future.release();
});

t.test('bytes already in shared memory are never copied, not even for a thread', async (t) => {
  const payload = Buffer.from(new SharedArrayBuffer(2_000_000));
  const future = await client.scatter(payload, { hash: false, workers: first!.address });
  payload[0] = 99;
  const seen = await client.submit(inspect, future, { workers: first!.address }).result();
  t.same(seen.head, [99, 0, 0, 0], 'the thread reads the caller’s shared memory itself (it sees a write made after scatter)');
  t.ok(seen.shared && seen.kind === 'Buffer');
  const held = first!.state.data.get(future.key);
  t.ok(held instanceof FrameParts && held.parts[1] === payload, 'the worker still holds the caller’s bytes, no copy was made');
  t.equal((await client.gather(future)).buffer, payload.buffer);
  future.release();
});

t.test('typed arrays, DataViews and ArrayBuffers keep their class and their memory', async (t) => {
  const floats = new Float64Array(200_000).map((_, i) => i / 2);
  const raw = new ArrayBuffer(300_000);
  new Uint8Array(raw).fill(5);
  const view = new DataView(new ArrayBuffer(100_000));
  view.setFloat64(8, 2.5);
  const [ff, fr, fv] = await client.scatter([floats, raw, view], { hash: false, workers: first!.address });

  const floatsBack = (await client.gather(ff!)) as Float64Array;
  t.ok(floatsBack instanceof Float64Array && floatsBack.buffer === floats.buffer && floatsBack.length === 200_000, 'a Float64Array over the caller’s memory');
  const rawBack = (await client.gather(fr!)) as ArrayBuffer;
  t.equal(rawBack, raw, 'an ArrayBuffer comes back as the very ArrayBuffer scattered');
  const viewBack = (await client.gather(fv!)) as DataView;
  t.ok(viewBack instanceof DataView && viewBack.buffer === view.buffer && viewBack.getFloat64(8) === 2.5, 'a DataView over the caller’s memory');

  const onThread = await client.submit(inspect, ff!, { workers: first!.address }).result();
  t.same(onThread, { shared: true, kind: 'Float64Array', bytes: 1_600_000, head: Array.from(new Uint8Array(floats.buffer, 0, 4)) }, 'a task reads a Float64Array');
  const sum = await client.submit((xs: Float64Array) => xs.reduce((a, b) => a + b, 0), ff!, { workers: first!.address }).result();
  t.equal(sum, (199_999 * 200_000) / 4, 'with the right values');
  const rawOnThread = await client.submit(inspect, fr!, { workers: first!.address }).result();
  t.same(rawOnThread, { shared: false, kind: 'ArrayBuffer', bytes: 300_000, head: [5, 5, 5, 5] }, 'a task gets an ArrayBuffer as an ArrayBuffer');
});

t.test('moving a by-reference value to a second worker', async (t) => {
  const payload = new Float64Array(500_000).fill(1.25);
  const future = await client.scatter(payload, { hash: false, workers: first!.address });
  await client.replicate(future, { workers: [second!.address] });
  const onFirst = first!.state.data.get(future.key);
  const onSecond = second!.state.data.get(future.key);
  t.ok(onSecond instanceof FrameParts, 'the second in-process worker holds it by reference too');
  t.equal(onSecond, onFirst, 'the same held parts: nothing was copied to move it');

  const sum = await client.submit((xs: Float64Array) => xs.reduce((a, b) => a + b, 0), future, { workers: second!.address, allowOtherWorkers: false }).result();
  t.equal(sum, 625_000, 'a task on the second worker’s thread reads the right values');
  const copy = second!.state.data.get(future.key) as Uint8Array;
  t.ok(copy instanceof Uint8Array && copy.buffer instanceof SharedArrayBuffer, 'the second worker made the shared copy');
  t.equal((onFirst as FrameParts).shared(), copy, 'which the first worker would use too, rather than copy again');
  const back = (await client.gather(future)) as Float64Array;
  t.ok(back instanceof Float64Array && back.length === 500_000 && back[499_999] === 1.25);
});

t.test('story: a scattered key arrives with update-data and is in memory', async (t) => {
  const future = await client.scatter(Buffer.alloc(100_000, 1), { hash: false, workers: first!.address });
  const story = first!.state.story(future.key);
  t.ok(story.some((entry) => entry.stimulusId === 'update-data'), 'the stimulus is logged under its key');
  t.ok(story.some((entry) => 'finish' in entry && entry.finish === 'memory'), 'and the transition to memory');
});

t.test('spilled to disk while held by reference, it comes back right', async (t) => {
  const small = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, memoryLimit: '64MB' });
  const spillClient = await Client.connect(small);
  t.teardown(async () => {
    await spillClient.close();
    await small.close();
  });
  // The SpillBuffer sits under the worker's recycling wrapper (recycling-store.ts).
  const data = small.workers[0]!.state.data;
  const store = (data instanceof RecyclingStore ? data.inner : data) as SpillBuffer;
  t.ok(store instanceof SpillBuffer);
  // At least the 60% target: written straight to disk, piece by piece (its header, then the caller's bytes).
  const payload = Buffer.alloc(40_000_000);
  for (let i = 0; i < payload.length; i += 4096) payload[i] = i % 251;
  const future = await spillClient.scatter(payload, { hash: false });
  t.ok(store.isSpilled(future.key), 'the value is on disk');
  t.equal(store.counters().spilledBytes, 40_000_008, 'spilled bytes count the encoded value');

  const back = await spillClient.gather(future);
  t.ok(Buffer.isBuffer(back) && back.length === payload.length, 'it comes back as a Buffer of the same size');
  t.ok(back.equals(payload), 'with the same bytes');
  t.not(back.buffer, payload.buffer, 'read back from disk: a copy now, no longer the caller’s memory');
  const total = await spillClient.submit((data: Buffer) => {
    let sum = 0;
    for (let i = 0; i < data.length; i += 4096) sum += data[i]!;
    return sum;
  }, future).result();
  let expected = 0;
  for (let i = 0; i < payload.length; i += 4096) expected += i % 251;
  t.equal(total, expected, 'a task reads it back right');
});

t.test('a client over TCP gathers a value an in-process worker holds by reference', async (t) => {
  const scheduler = await Scheduler.start({ host: '127.0.0.1', port: 0, inproc: true });
  t.teardown(() => scheduler.close());
  const worker = await Worker.start(scheduler.inprocAddress!, { nthreads: 1 });
  t.teardown(() => worker.close());
  const local = await Client.connect(scheduler.inprocAddress!);
  t.teardown(() => local.close());
  const remote = await Client.connect(scheduler.address);
  t.teardown(() => remote.close());

  const payload = new Float64Array(300_000).map((_, i) => i);
  const future = await local.scatter(payload, { hash: false });
  t.ok(worker.state.data.get(future.key) instanceof FrameParts, 'held by reference');
  await local.publishDataset('floats', future);
  const published = await remote.getDataset<Future<Float64Array>>('floats');
  const back = await remote.gather(published);
  t.ok(back instanceof Float64Array && back.length === 300_000, 'a Float64Array arrives over TCP');
  t.not(back.buffer, payload.buffer, 'in memory of its own');
  t.equal(back[123_456], 123_456, 'with the right values');
  t.equal(back[299_999], 299_999);
});
