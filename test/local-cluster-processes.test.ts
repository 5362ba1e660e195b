/** LocalCluster({ processes: true }): nanny-supervised worker processes on 127.0.0.1, used through a Client. */
import t from 'tap';
import { Client, LocalCluster } from '../dist/index.js';
import { isAlive } from './fixtures/cli-process.js';

t.test('processes: true computes in two other processes and closes them', async (t) => {
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  t.match(cluster.schedulerAddress, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.equal(cluster.nannies.length, 2);
  t.equal(cluster.workers.length, 2, 'workers are the nannies of the worker processes');
  t.equal(cluster.workers, cluster.nannies);
  t.same(cluster.workers.map((nanny) => nanny.workerAddress).sort(), [...cluster.workerAddresses].sort());
  const addresses = cluster.workerAddresses;
  t.equal(addresses.length, 2);
  for (const address of addresses) t.match(address, /^tcp:\/\/127\.0\.0\.1:\d+$/);

  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  t.match(cluster.inprocAddress, /^inproc:\/\//, 'the scheduler also listens in-process');
  t.equal(client.schedulerAddress, cluster.schedulerAddress, 'the client reports the address others can dial');
  const schedulerSides = [...cluster.scheduler.peers].map((peer) => peer.address);
  t.ok(schedulerSides.some((address) => address.startsWith('inproc://')), 'this program\'s client came in without TCP');
  const overTcp = await Client.connect(cluster.schedulerAddress);
  t.teardown(() => overTcp.close());
  t.equal(await overTcp.submit((x: number) => x + 1, 1).result(), 2, 'a client over TCP works beside it');
  const big = overTcp.submit((n: number) => new Float64Array(n).fill(2.5), 1_000_000);
  const fetched = await big.result();
  t.ok(fetched instanceof Float64Array && fetched.length === 1_000_000 && fetched[999_999] === 2.5, 'a large result arrives whole');
  t.ok(fetched.buffer instanceof SharedArrayBuffer && fetched.byteOffset === 8, 'over TCP, as a view of the bytes received (no second copy)');
  fetched.fill(0);
  const again = overTcp.submit((data: Float64Array) => data[0], big);
  t.equal(await again.result(), 2.5, "writing into the fetched array does not change the worker's copy");
  const mid = await client.submit((n: number) => new Float64Array(n).fill(1), 100_000).result();
  t.ok(mid instanceof Float64Array && !(mid.buffer instanceof SharedArrayBuffer), 'a value under 1 MiB relayed to the in-process client is a copy');
  const large = await client.submit((n: number) => new Float64Array(n).fill(3), 500_000).result();
  t.ok(large.buffer instanceof SharedArrayBuffer && large[499_999] === 3, 'a large one the in-process client fetched from its worker over TCP is a view of what it received');
  const nthreads = await client.nthreads();
  t.same(Object.keys(nthreads).sort(), [...addresses].sort());
  t.same(Object.values(nthreads), [1, 1]);

  const pids = await client.run(() => process.pid);
  const distinct = new Set(Object.values(pids));
  t.equal(distinct.size, 2, 'two worker processes');
  t.notOk(distinct.has(process.pid), 'neither is this process');

  const futures = client.map((x: number) => x * x, Array.from({ length: 50 }, (_, i) => i));
  const results = await client.gather(futures);
  t.equal(results.reduce((a, b) => a + b, 0), 40425);

  await client.close();
  await cluster.close();
  for (const pid of distinct) t.notOk(isAlive(pid), `worker process ${pid} exited`);
});
