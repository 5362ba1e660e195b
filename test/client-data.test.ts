import t from 'tap';
import { Client } from '../dist/index.js';
import { delayed } from '../dist/lib/client/delayed.js';
import { Future } from '../dist/lib/client/future.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { wait } from '../dist/lib/client/wait.js';
import { SerializationError, TimeoutError } from '../dist/lib/errors.js';

const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
const client = await Client.connect(cluster);
t.teardown(async () => {
  await client.close();
  await cluster.close();
});

const inc = (x: number): number => x + 1;
const add = (x: number, y: number): number => x + y;
const workerAddresses = cluster.workers.map((worker) => worker.address);

t.test('scatter: arrays, plain objects (keys kept), single values', async (t) => {
  const list = await client.scatter([1, 2, 3]);
  t.equal(list.length, 3);
  t.ok(list.every((future) => future instanceof Future && future.status === 'finished'));
  t.match(list[0]!.key, /^number-[0-9a-f]{32}$/);
  t.same(await client.gather(list), [1, 2, 3]);
  const record = await client.scatter({ alpha: 'a', beta: [1, 2] });
  t.equal(record.alpha.key, 'alpha');
  t.equal(record.beta.key, 'beta');
  t.same(await record.beta.result(), [1, 2]);
  const renamed = await client.scatter({ alpha: 'b' });
  t.equal(await renamed.alpha.result(), 'b', 'scattering a name again replaces its value');
  const one = await client.scatter(new Map([['k', 1]]));
  t.equal(one.type, 'Map');
  t.same(await one.result(), new Map([['k', 1]]));
  t.equal(await client.submit((m: Map<string, number>) => m.get('k')! + 1, one).result(), 2, 'scattered data as an argument');
});

t.test('scatter hashes: same data, same key; hash: false gives fresh keys', async (t) => {
  const x = await client.scatter([10, 10]);
  t.equal(x[0]!.key, x[1]!.key);
  const y = await client.scatter(10);
  t.equal(y.key, x[0]!.key);
  const z = await client.scatter([10, 10], { hash: false });
  t.not(z[0]!.key, z[1]!.key);
  t.not(z[0]!.key, y.key);
  t.same(await client.gather(z), [10, 10]);
});

t.test('scatter broadcast and workers=', async (t) => {
  const everywhere = await client.scatter([7], { broadcast: true, hash: false });
  const whoHas = await client.whoHas(everywhere);
  t.same(new Set(whoHas[everywhere[0]!.key]), new Set(workerAddresses), 'on every worker');
  const pinned = await client.scatter(['pinned'], { workers: workerAddresses[1]!, hash: false });
  t.same((await client.whoHas(pinned))[pinned[0]!.key], [workerAddresses[1]]);
  const hasWhat = await client.hasWhat();
  t.ok(hasWhat[workerAddresses[1]!]!.includes(pinned[0]!.key));
  await t.rejects(client.scatter([() => 1]), SerializationError);
});

t.test('scatter over an async iterable', async (t) => {
  async function* source(): AsyncGenerator<number> {
    yield 1;
    yield 2;
  }
  const futures: Future<number>[] = [];
  for await (const future of client.scatter(source())) futures.push(future);
  t.same(await client.gather(futures), [1, 2]);
});

t.test('delayed graphs compute with one update-graph', async (t) => {
  const dInc = delayed(inc);
  const dAdd = delayed(add);
  const base = client.submit(inc, 0);
  const x = dInc(1);
  const y = dInc(x);
  const total = dAdd(x, dAdd(y, base));
  t.match(total.key, /^add-[0-9a-f]{32}$/);
  const future = client.compute(total);
  t.equal(await future.result(), 2 + 3 + 1);
  const [fx, fy, same] = client.compute([x, y, base]);
  t.same(await client.gather([fx, fy, same]), [2, 3, 1]);
  t.equal(same, base, 'futures pass through');
  t.not(delayed(inc)(1).key, delayed(inc)(1).key, 'impure by default, like dask.delayed');
  t.equal(delayed(inc, { pure: true })(1).key, delayed(inc, { pure: true })(1).key);
  const persisted = client.persist(dInc(41));
  t.equal(await persisted.result(), 42);
});

t.test('restrictions: unknown workers stay pending; allowOtherWorkers runs elsewhere', async (t) => {
  const stuck = client.with({ workers: 'tcp://10.255.255.1:1', pure: false }).submit(inc, 1);
  await t.rejects(wait([stuck], { timeout: 200 }), TimeoutError);
  t.equal(stuck.status, 'pending');
  const loose = client.with({ workers: 'tcp://10.255.255.1:1', allowOtherWorkers: true, pure: false }).submit(inc, 1);
  t.equal(await loose.result({ timeout: 5000 }), 2);
  const pinned = client.with({ workers: [workerAddresses[0]!], pure: false }).map(inc, [1, 2, 3]);
  await client.gather(pinned);
  const whoHas = await client.whoHas(pinned);
  for (const future of pinned) t.same(whoHas[future.key], [workerAddresses[0]], 'ran on the named worker');
  await stuck.cancel();
});

t.test('run, nthreads, schedulerInfo, waitForWorkers', async (t) => {
  const pids = await client.run(() => process.pid);
  t.same(Object.keys(pids).sort(), [...workerAddresses].sort());
  t.ok(Object.values(pids).every((pid) => pid === process.pid), 'in-process workers');
  const one = await client.with({ workers: workerAddresses[0]! }).run((x: number) => x * 2, 21);
  t.same(one, { [workerAddresses[0]!]: 42 });
  await t.rejects(client.run(() => {
    throw new RangeError('run failed');
  }), { name: 'RangeError', message: 'run failed' });
  t.same(await client.nthreads(), Object.fromEntries(workerAddresses.map((address) => [address, 1])));
  const info = await client.schedulerInfo();
  t.equal(info.address, cluster.schedulerAddress);
  t.same(Object.keys(info.workers).sort(), [...workerAddresses].sort());
  await client.waitForWorkers(2);
  await t.rejects(client.waitForWorkers(3, { timeout: 100 }), TimeoutError);
});

t.test('datasets are shared between clients and keep their futures alive', async (t) => {
  const other = await Client.connect(cluster);
  t.teardown(() => other.close());
  const future = client.submit(inc, 70);
  await client.publishDataset('numbers', { future, label: 'seventy-one' });
  t.ok((await other.listDatasets()).includes('numbers'));
  const got = await other.getDataset<{ future: Future<number>; label: string }>('numbers');
  t.equal(got.label, 'seventy-one');
  t.ok(got.future instanceof Future);
  t.equal(got.future.key, future.key);
  t.equal(got.future.client, other, 'bound to the client that asked');
  t.equal(await got.future.result(), 71);
  future.release();
  await t.rejects(client.publishDataset('numbers', 1), /numbers/, 'no silent overwrite');
  await client.publishDataset('numbers', 2, { override: true });
  t.equal(await other.getDataset('numbers'), 2);
  await client.unpublishDataset('numbers');
  t.notOk((await client.listDatasets()).includes('numbers'));
  await t.rejects(other.getDataset('numbers'));
});
