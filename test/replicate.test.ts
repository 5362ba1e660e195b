/** client.replicate and client.rebalance move data between workers (directly, worker to worker). */
import t from 'tap';
import { Client, LocalCluster } from '../dist/index.js';

t.test('replicate puts a key on n workers; rebalance evens the bytes', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 3, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const [a, b, c] = cluster.workerAddresses as [string, string, string];

  const [x] = await client.scatter([new Uint8Array(1000).fill(7)], { workers: [a] });
  t.same((await client.whoHas(x))[x!.key], [a]);
  await client.replicate(x!, { n: 2 });
  const two = (await client.whoHas(x))[x!.key]!;
  t.equal(two.length, 2, 'on two workers');
  t.ok(two.includes(a), 'still on the first');
  await client.replicate(x!);
  t.same([...(await client.whoHas(x))[x!.key]!].sort(), [a, b, c].sort(), 'on every worker');
  const copied = await client.with({ workers: [c] }).submit((v: Uint8Array) => v.length + v[0]!, x!).result();
  t.equal(copied, 1007, 'the copy is the same data');

  // rebalance: 12 blocks of 100 kB all on one worker
  const blocks = await client.scatter(
    Array.from({ length: 12 }, (_, i) => new Uint8Array(100_000).fill(i)),
    { workers: [b] },
  );
  const bytesOn = async (): Promise<Map<string, number>> => {
    const out = new Map<string, number>([[a, 0], [b, 0], [c, 0]]);
    const who = await client.whoHas(blocks);
    for (const holders of Object.values(who)) for (const w of holders) out.set(w, out.get(w)! + 100_000);
    return out;
  };
  t.same([...(await bytesOn()).values()].sort((p, q) => p - q), [0, 0, 1_200_000]);
  await client.rebalance(blocks);
  const after = await bytesOn();
  t.same([...after.values()], [400_000, 400_000, 400_000], 'each worker holds a third');
  const who = await client.whoHas(blocks);
  t.ok(Object.values(who).every((holders) => holders.length === 1), 'moved, not copied');
  const sums = await client.gather(blocks.map((f) => client.submit((v: Uint8Array) => v[0]! + v.length, f)));
  t.same(sums, Array.from({ length: 12 }, (_, i) => i + 100_000), 'data intact after moving');
  await t.rejects(client.replicate(x!, { n: 0 }), /n must be a positive integer/);
});
