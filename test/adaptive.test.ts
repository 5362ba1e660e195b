/**
 * Adaptive scaling: the pure policy (target from the work the scheduler
 * sees; which workers to retire), scale(n), and adapt() on a LocalCluster of
 * processes — a burst raises the worker count, idle workers are retired
 * afterwards with their data moved.
 */
import t from 'tap';
import { Client, LocalCluster } from '../dist/index.js';
import { adaptiveTarget, recommend, type AdaptiveInputs } from '../dist/lib/scheduler/adaptive.js';

const idleInputs: AdaptiveInputs = { workers: 2, totalThreads: 4, occupancyMs: 0, queuedMs: 0, runnable: 0, storedBytes: 0, memoryLimit: 0 };
const opts = { targetDurationMs: 5000, threadsPerWorker: 2 };

t.test('adaptiveTarget: threads for the known work, capped by the tasks there are', async (t) => {
  t.equal(adaptiveTarget(idleInputs, opts), 0, 'no work: no workers wanted');
  t.equal(adaptiveTarget({ ...idleInputs, queuedMs: 40_000, runnable: 100 }, opts), 4, '40 s of work / 5 s = 8 threads = 4 workers of 2');
  t.equal(adaptiveTarget({ ...idleInputs, occupancyMs: 10_000, queuedMs: 30_000, runnable: 100 }, opts), 4, 'running work counts too');
  t.equal(adaptiveTarget({ ...idleInputs, queuedMs: 400_000, runnable: 3 }, opts), 2, 'three long tasks want three threads, not eighty');
  t.equal(adaptiveTarget({ ...idleInputs, queuedMs: 10, runnable: 1 }, opts), 1, 'any waiting task wants a worker');
  t.equal(adaptiveTarget({ ...idleInputs, workers: 0, totalThreads: 0, queuedMs: 60_000, runnable: 50 }, { targetDurationMs: 5000, threadsPerWorker: 3 }), 4,
    'no workers yet: the cluster\'s threads per worker (12 threads / 3)');
  t.equal(adaptiveTarget({ ...idleInputs, storedBytes: 700, memoryLimit: 1000 }, opts), 4, 'memory over 60% of the limits: twice the workers');
  t.equal(adaptiveTarget({ ...idleInputs, storedBytes: 500, memoryLimit: 1000 }, opts), 0);
});

t.test('recommend: up at once, down only for workers idle long enough', async (t) => {
  const base = { minimum: 1, maximum: 5, waitMs: 1000, idleSince: new Map<string, number>() };
  const busy = [{ address: 'a', processing: 3, nbytes: 0 }];
  t.same(recommend({ ...base, target: 9, planned: 1, observed: busy, now: 0 }).recommendation, { action: 'up', n: 5 }, 'clamped to maximum');
  t.same(recommend({ ...base, target: 0, planned: 0, observed: [], now: 0 }).recommendation, { action: 'up', n: 1 }, 'raised to minimum');
  t.same(recommend({ ...base, target: 3, planned: 3, observed: busy, now: 0 }).recommendation, { action: 'same' });

  const three = [
    { address: 'a', processing: 0, nbytes: 500 },
    { address: 'b', processing: 0, nbytes: 10 },
    { address: 'c', processing: 2, nbytes: 0 },
  ];
  const first = recommend({ ...base, target: 1, planned: 3, observed: three, now: 10_000 });
  t.same(first.recommendation, { action: 'same' }, 'idle only just now: wait');
  t.same([...first.idleSince], [['a', 10_000], ['b', 10_000]], 'idle clocks start');
  const later = recommend({ ...base, target: 1, planned: 3, observed: three, idleSince: first.idleSince, now: 11_000 });
  t.same(later.recommendation, { action: 'down', workers: ['b', 'a'] }, 'both idle ones, fewest bytes first; the busy one stays');
  const two = recommend({ ...base, target: 2, planned: 3, observed: three, idleSince: first.idleSince, now: 11_000 });
  t.same(two.recommendation, { action: 'down', workers: ['b'] }, 'only the excess');
  const woke = recommend({ ...base, target: 1, planned: 3, observed: three.map((w) => ({ ...w, processing: 1 })), idleSince: first.idleSince, now: 11_000 });
  t.same(woke.recommendation, { action: 'same' }, 'a worker that got work is no longer idle');
  t.same(woke.idleSince.size, 0, 'and its idle clock is reset');
  const starting = recommend({ ...base, target: 1, planned: 4, observed: three, idleSince: first.idleSince, now: 11_000 });
  t.same(starting.recommendation, { action: 'same' }, 'no scale-down while a started worker has not arrived');
  t.same(recommend({ ...base, minimum: 3, target: 0, planned: 3, observed: three, idleSince: first.idleSince, now: 11_000 }).recommendation,
    { action: 'same' }, 'never below minimum');
});

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('scale(n) adds workers and retires some gracefully', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  await cluster.scale(3);
  t.equal(cluster.workers.length, 3);
  await client.waitForWorkers(3);
  const data = await client.scatter([1, 2, 3, 4, 5, 6].map((i) => new Uint8Array(1000).fill(i)));
  t.equal(new Set(Object.values(await client.whoHas(data)).flat()).size, 3, 'spread over the three');
  const [first] = cluster.workerAddresses;
  await client.retireWorkers(first!);
  await waitFor('the worker retired by hand to close', () => cluster.workers.some((worker) => worker.status === 'closed'));
  await cluster.scale(3);
  t.equal(cluster.workers.length, 3, 'a worker retired by hand no longer counts: scale(3) started one more');
  t.notOk(cluster.workerAddresses.includes(first!));
  await cluster.scale(1);
  t.equal(cluster.workers.length, 1, 'two retired');
  t.equal(Object.keys((await client.schedulerInfo()).workers).length, 1);
  const firsts = await client.gather(data.map((f) => client.submit((v: Uint8Array) => v[0], f)));
  t.same(firsts, [1, 2, 3, 4, 5, 6], 'every block survived');
  await t.rejects(cluster.scale(-1), /non-negative integer/);
  t.match(cluster.dashboardLink, /^http:\/\/127\.0\.0\.1:\d+\/status$/, 'the dashboard is on by default');
});

t.test('adapt on processes: a burst adds workers, idle ones are retired with their data moved', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, processes: true });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const steps: string[] = [];
  const adaptive = cluster.adapt({
    minimum: 1, maximum: 3, interval: '200ms', wait: '1s', targetDuration: '1s',
    onStep: (step) => steps.push(step.recommendation.action),
  });
  t.teardown(() => adaptive.stop());

  const slow = async (i: number): Promise<number> => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return i * 1000 + Math.random();
  };
  const burst = client.map(slow, Array.from({ length: 40 }, (_, i) => i));
  await waitFor('more workers', () => cluster.nannies.length > 1);
  t.ok(cluster.nannies.length > 1, `the burst raised the workers to ${cluster.nannies.length}`);
  const values = await client.gather(burst);
  const who = await client.whoHas(burst);
  t.ok(new Set(Object.values(who).flat()).size > 1, 'the burst ran on more than one worker');

  // The scheduler forgets a retired worker a moment before the cluster hears the retirement's reply.
  await waitFor('idle workers retired', async () => cluster.nannies.length === 1 && Object.keys((await client.schedulerInfo()).workers).length === 1);
  t.equal(cluster.nannies.length, 1, 'the cluster dropped the retired nannies');
  t.equal(Object.keys((await client.schedulerInfo()).workers).length, 1, 'the scheduler has one worker left');
  t.ok(steps.includes('up') && steps.includes('down'), 'the loop scaled up and down');
  t.same(await client.gather(burst), values, 'every result still there, none recomputed (random parts equal)');
  const [survivor] = Object.keys((await client.schedulerInfo()).workers);
  t.ok(Object.values(await client.whoHas(burst)).every((holders) => holders.length === 1 && holders[0] === survivor), 'all on the remaining worker');
  await adaptive.stop();
  t.ok(adaptive.stopped);
});
