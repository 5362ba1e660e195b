/**
 * client.retireWorkers: a worker's unique data moves to the others before it
 * is closed — nothing in memory is lost, nothing is recomputed.
 */
import t from 'tap';
import { Client, LocalCluster } from '../dist/index.js';

const nonce = (): number => Math.random();

t.test('retiring a worker process moves its unique data first; its nanny stops', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 3, threadsPerWorker: 1, processes: true });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  await client.waitForWorkers(3);
  const [a, b, c] = cluster.workerAddresses as [string, string, string];

  // Random values computed on `a` only: a recomputation would give other numbers.
  const computed = client.with({ workers: [a] }).map(nonce, [1, 2, 3, 4, 5].map(String));
  const before = await client.gather(computed);
  const [scattered] = await client.scatter([new Uint8Array(50_000).fill(9)], { workers: [a] });
  const held = await client.whoHas([...computed, scattered!]);
  t.ok(Object.values(held).every((holders) => holders.length === 1 && holders[0] === a), 'everything is only on a');

  const result = await client.retireWorkers(a);
  t.same(Object.keys(result.retired), [a], 'a retired');
  t.same(result.notRetired, {});

  const info = await client.schedulerInfo();
  t.same(Object.keys(info.workers).sort(), [b, c].sort(), 'the scheduler lists the two others');
  const moved = await client.whoHas([...computed, scattered!]);
  for (const [key, holders] of Object.entries(moved)) {
    t.ok(holders.length >= 1 && holders.every((w) => w === b || w === c), `${key} now on ${holders.join(',')}`);
  }
  t.same(await client.gather(computed), before, 'the same values: nothing was recomputed');
  const bytes = await client.submit((v: Uint8Array) => v.length + v[0]!, scattered!).result();
  t.equal(bytes, 50_009, 'scattered data (which has no recipe) survived');

  const nannyOfA = cluster.nannies.find((nanny) => nanny.workerAddress === undefined || nanny.workerAddress === a);
  t.ok(nannyOfA !== undefined, 'the nanny of a is known');
  t.equal(await nannyOfA!.finished, 'retired', 'the nanny closed because its worker retired (and did not restart it)');

  // Retiring both remaining workers: the data has nowhere to go, so one of them must stay.
  const last = await client.retireWorkers([b, c]);
  t.equal(Object.keys(last.notRetired).length, 2, 'neither can leave: each holds data no staying worker could take');
  t.match(Object.values(last.notRetired)[0], /unique data could not be moved/);
  t.same(await client.gather(computed), before, 'still all there');
  const again = await client.retireWorkers(b);
  t.same(Object.keys(again.retired), [b], 'one at a time works');
  t.same(await client.gather(computed), before, 'still the same values, now all on c');
  const onC = new Set((await client.hasWhat(c))[c]);
  t.ok([...computed, scattered!].every((future) => onC.has(future.key)), 'c holds every key');
});

t.test('retiring in-process workers; n picks idle workers holding the least', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 3, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const [a, b, c] = cluster.workerAddresses as [string, string, string];
  const big = await client.scatter([new Uint8Array(100_000)], { workers: [a] });
  const small = await client.scatter([new Uint8Array(10)], { workers: [b] });
  const result = await client.retireWorkers(undefined, { n: 2 });
  t.same(Object.keys(result.retired).sort(), [b, c].sort(), 'the two holding the fewest bytes');
  t.same(Object.keys((await client.schedulerInfo()).workers), [a]);
  t.same(await client.whoHas([...big, ...small]), { [big[0]!.key]: [a], [small[0]!.key]: [a] });
  await t.rejects(client.retireWorkers(), /give the workers/);
  await t.rejects(client.retireWorkers(undefined, { n: -1 }), /n must be a non-negative integer/);
  t.same(await client.retireWorkers('no-such-worker'), { retired: {}, notRetired: {} }, 'unknown workers: nothing to do');
});

class Tally {
  n = 0;
  add(by: number): number {
    this.n += by;
    return this.n;
  }
}

t.test('a worker hosting an actor is not retired (the instance cannot move)', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const [a, b] = cluster.workerAddresses as [string, string];
  const tally = await client.with({ actor: true, workers: [a] }).submit(Tally).result();
  await tally.add(5);
  const result = await client.retireWorkers(a);
  t.same(result.retired, {});
  t.match(result.notRetired[a], /hosts an actor/);
  t.equal(await tally.add(1), 6, 'the actor keeps its state and still answers');
  t.same(Object.keys((await client.retireWorkers(b)).retired), [b], 'the other worker retires');
});
