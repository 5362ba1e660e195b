import t from 'tap';
import { Client } from '../dist/lib/client/client.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { encodeValue } from '../dist/lib/protocol/values.js';

// In one process a large binary is copied once (when scattered) and then shared:
// the worker's store, pool threads and the gathering client all see the same memory.
const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2 });
const client = await Client.connect(cluster);
t.teardown(async () => {
  await client.close();
  await cluster.close();
});

t.test('a large binary encodes once into shared memory', async (t) => {
  const blob = encodeValue(new Float64Array(100_000).fill(1.5));
  t.ok(blob.buffer instanceof SharedArrayBuffer);
  t.notOk(encodeValue(new Uint8Array(100)).buffer instanceof SharedArrayBuffer, 'small values stay ordinary');
});

t.test('scatter copies once; a task on a pool thread and gather read the stored bytes', async (t) => {
  const payload = Buffer.alloc(8_000_000, 3);
  const future = await client.scatter(payload, { hash: false });
  payload.fill(9);
  const stored = cluster.workers[0]!.state.data.get(future.key)!;
  t.ok(stored.buffer instanceof SharedArrayBuffer, 'the worker stores it in shared memory');

  const seen = await client
    .submit((data: Buffer) => ({ shared: data.buffer instanceof SharedArrayBuffer, first: data[0], length: data.length, isBuffer: Buffer.isBuffer(data) }), future)
    .result();
  t.same(seen, { shared: true, first: 3, length: 8_000_000, isBuffer: true }, 'the task reads the stored bytes, not a copy, and not the caller mutation');

  const back = await client.gather(future);
  t.ok(Buffer.isBuffer(back), 'a Buffer comes back as a Buffer');
  t.equal(back.buffer, stored.buffer, 'gather hands over a view of the stored bytes (no copy)');
  t.equal(back[0], 3);
  t.equal(back.length, 8_000_000);
});

t.test('typed arrays and ArrayBuffers keep their class', async (t) => {
  const floats = new Float64Array(200_000).map((_, i) => i / 2);
  const [f1, f2] = await client.scatter([floats, floats.buffer.slice(0)], { hash: false });
  const back = (await client.gather(f1!)) as Float64Array;
  t.ok(back instanceof Float64Array);
  t.equal(back[199_999], 199_999 / 2);
  const buffer = (await client.gather(f2!)) as ArrayBuffer;
  t.ok(buffer instanceof ArrayBuffer, 'an ArrayBuffer comes back as an ArrayBuffer (a copy: it cannot be a view)');
  t.equal(new Float64Array(buffer)[10], 5);
});
