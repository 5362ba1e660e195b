/** A client over TCP fetches large values from the workers directly; small ones, and what it cannot reach, come through the scheduler. */
import t from 'tap';
import { Client, Scheduler, Worker } from '../dist/index.js';
import { DirectData } from '../dist/lib/client/direct-data.js';

async function tcpCluster(t: Tap.Test) {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const worker = await Worker.start(scheduler.address, { nthreads: 1 });
  t.teardown(() => worker.close());
  return { scheduler, worker };
}

t.test('large values come straight from the worker, small ones through the scheduler', async (t) => {
  const { scheduler, worker } = await tcpCluster(t);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const peersBefore = worker.peers.size;
  const small = await client.submit((n: number) => new Uint8Array(n).fill(1), 500_000).result();
  t.equal(small.length, 500_000);
  t.equal(worker.peers.size, peersBefore, 'a value under 1 MB came through the scheduler');
  const big = client.submit((n: number) => new Uint8Array(n).fill(5), 2_000_000);
  const value = await big.result();
  t.ok(value instanceof Uint8Array && value.length === 2_000_000 && value[1_999_999] === 5, 'the value is right');
  t.equal(worker.peers.size, peersBefore + 1, 'the client connected to the worker for it');
  const [a, b] = await client.gather([client.submit((n: number) => new Float64Array(n).fill(1), 200_000), client.submit((n: number) => new Float64Array(n).fill(2), 300_000)]);
  t.same([a!.length, a![0], b!.length, b![0]], [200_000, 1, 300_000, 2], 'several keys from one worker in one call');
  t.equal(worker.peers.size, peersBefore + 1, 'over the same connection');
});

t.test('a worker the client cannot reach: the scheduler fetches instead', async (t) => {
  const { scheduler, worker } = await tcpCluster(t);
  // The worker stops accepting connections; the ones it has (the scheduler's) stay up.
  for (const listener of (worker as unknown as { listeners: Set<{ close(): Promise<void> }> }).listeners) await listener.close();
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const value = await client.submit((n: number) => new Uint8Array(n).fill(9), 2_000_000).result();
  t.ok(value.length === 2_000_000 && value[0] === 9, 'the value still arrives');
});

t.test('DirectData reports what it could not fetch', async (t) => {
  const fetcher = new DirectData('test-client');
  t.teardown(() => fetcher.close());
  const { data, failed } = await fetcher.fetch({ 'x-1': ['tcp://127.0.0.1:1'], 'y-2': [] });
  t.same(data, {});
  t.same(failed.sort(), ['x-1', 'y-2']);
});

t.test('scatter: large values go straight to the workers, small ones through the scheduler', async (t) => {
  const { scheduler, worker } = await tcpCluster(t);
  const second = await Worker.start(scheduler.address, { nthreads: 1 });
  t.teardown(() => second.close());
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const before = worker.peers.size + second.peers.size;
  const [small] = await client.scatter([new Uint8Array(1000).fill(1)]);
  t.equal(worker.peers.size + second.peers.size, before, 'a small value went through the scheduler');
  const big = new Float64Array(400_000).map((_, i) => i);
  const [a, b] = await client.scatter([big, new Uint8Array(2_000_000).fill(4)]);
  t.ok(worker.peers.size + second.peers.size > before, 'the client connected to workers to place the large ones');
  t.equal(await client.submit((x: Float64Array) => x[399_999]! + x.length, a!).result(), 399_999 + 400_000, 'a task reads the scattered array');
  t.equal(await client.submit((x: Uint8Array) => x.reduce((s, v) => s + v, 0), b!).result(), 8_000_000);
  const smallBack = (await small!.result()) as Uint8Array;
  t.same([smallBack.length, smallBack[999]], [1000, 1], 'the small value is on the cluster too');
  const who = await client.whoHas([a!, b!]);
  t.ok(Object.values(who).every((holders) => holders.length === 1), 'each value is on one worker, as the scheduler planned');
  const everywhere = await client.scatter([new Uint8Array(1_500_000).fill(2)], { broadcast: true });
  t.same(Object.values(await client.whoHas(everywhere))[0]!.length, 2, 'broadcast puts it on every worker');
  t.same(await client.gather(everywhere).then((values) => (values as Uint8Array[])[0]!.length), 1_500_000);
});

t.test('scatter to workers the client cannot reach goes through the scheduler', async (t) => {
  const { scheduler, worker } = await tcpCluster(t);
  for (const listener of (worker as unknown as { listeners: Set<{ close(): Promise<void> }> }).listeners) await listener.close();
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const [big] = await client.scatter([new Uint8Array(3_000_000).fill(7)]);
  t.equal(await client.submit((x: Uint8Array) => x[2_999_999], big!).result(), 7, 'placed, and readable by tasks');
});
