import t from 'tap';
import { ByteSlab, CHUNK_BYTES, PACKED_MAX_BYTES } from '../dist/lib/protocol/byte-slab.js';
import { Client } from '../dist/index.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { wait } from '../dist/lib/client/wait.js';

t.test('small blobs are copied side by side into shared chunks', async (t) => {
  const slab = new ByteSlab();
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array([4, 5]);
  const pa = slab.pack(a);
  const pb = slab.pack(b);
  t.same([...pa], [1, 2, 3]);
  t.same([...pb], [4, 5]);
  t.equal(pa.buffer, pb.buffer, 'neighbours share one chunk');
  t.equal(pa.buffer.byteLength, CHUNK_BYTES);
  t.not(pa.buffer, a.buffer, 'a copy, not the caller\'s bytes');
  a[0] = 99;
  t.equal(pa[0], 1, 'changing the original does not change the packed copy');
});

t.test('large, empty and shared blobs keep their own buffer', async (t) => {
  const slab = new ByteSlab();
  const large = new Uint8Array(PACKED_MAX_BYTES + 1);
  t.equal(slab.pack(large), large);
  const empty = new Uint8Array(0);
  t.equal(slab.pack(empty), empty);
  const shared = new Uint8Array(new SharedArrayBuffer(8));
  t.equal(slab.pack(shared), shared);
});

t.test('a full chunk is followed by a new one; earlier views keep their bytes', async (t) => {
  const slab = new ByteSlab();
  const views: Uint8Array[] = [];
  const count = Math.ceil((3 * CHUNK_BYTES) / PACKED_MAX_BYTES) + 5;
  for (let i = 0; i < count; i++) views.push(slab.pack(new Uint8Array(PACKED_MAX_BYTES).fill(i & 0xff)));
  const chunks = new Set(views.map((v) => v.buffer));
  t.ok(chunks.size >= 3, `${chunks.size} chunks for ${count} blobs`);
  t.ok(views.every((v, i) => v.byteLength === PACKED_MAX_BYTES && v.every((x) => x === (i & 0xff))), 'every blob intact');
});

t.test('packed recipes and results: lost with their worker, recomputed from the scheduler\'s packed recipes', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: false });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const [first, second] = cluster.workers;
  const n = 3000;
  const items = Array.from({ length: n }, (_, i) => i);
  const futures = client.with({ workers: second!.address, allowOtherWorkers: true }).map((x: number) => x * 2 + 1, items);
  const { notDone } = await wait(futures);
  t.equal(notDone.size, 0);

  // The scheduler keeps each small recipe's arguments as a view into a shared chunk.
  const state = cluster.scheduler.state;
  const argBuffers = new Set(futures.map((f) => state.tasks.get(f.key)!.runSpec!.args.buffer));
  t.ok(argBuffers.size < n / 10, `${n} recipes' arguments in ${argBuffers.size} buffers`);
  t.same((await client.whoHas([futures[0]!]))[futures[0]!.key], [second!.address]);

  await second!.close();
  const values = await client.gather(futures);
  t.same(values, items.map((x) => x * 2 + 1), 'every value recomputed from its packed recipe, in order');
  t.same((await client.whoHas([futures[n - 1]!]))[futures[n - 1]!.key], [first!.address]);
});
