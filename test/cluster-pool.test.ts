/**
 * ClusterPool on real clusters: piscina's surface (run, name/filename,
 * AbortSignal, close/destroy, drain, queueSize/completed) with the tasks
 * running on workers as futures.
 */
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { AbortError, Client, ClusterPool, LocalCluster } from '../dist/index.js';

const tasks = new URL('./fixtures/pool-tasks.mjs', import.meta.url).href;
const other = new URL('./fixtures/pool-other.mjs', import.meta.url).href;

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

t.test('a pool without a client starts its own in-process cluster and closes it', async (t) => {
  const pool = new ClusterPool({ filename: tasks });
  t.equal(await pool.run({ a: 2, b: 3 }), 5, 'the default export is called with the task');
  t.equal(await pool.run(7, { name: 'square' }), 49, 'run({ name }) picks another export');
  t.equal(await pool.run('world', { filename: other }), 'hello world', 'run({ filename }) picks another module');
  const error = await pool.run('no good', { name: 'fail' }).catch((e: unknown) => e);
  t.ok(error instanceof RangeError, 'a task error comes back as its own class');
  t.equal((error as Error).message, 'no good');
  t.equal(pool.completed, 4, 'completed counts finished runs, failures included');
  const client = await pool.client();
  t.ok(client.cluster !== undefined, 'the pool started a LocalCluster');
  await pool.close();
  t.equal(client.status, 'closed', 'close() closes the client the pool started');
  const late = await pool.run({ a: 1, b: 1 }).catch((e: unknown) => e);
  t.ok(late instanceof AbortError, 'run() after close rejects with an AbortError');
});

t.test('piscina-shaped argument checks', async (t) => {
  t.throws(() => new ClusterPool(null as never), new TypeError('options must be an object'));
  t.throws(() => new ClusterPool({ filename: 'relative/path.mjs' }), TypeError);
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  t.throws(() => new ClusterPool({ filename: tasks, client, address: cluster.schedulerAddress }), TypeError);
  const pool = new ClusterPool({ client });
  t.teardown(() => pool.destroy());
  await t.rejects(pool.run(1), new Error('filename must be provided to run() or in options object'));
  await t.rejects(pool.run(1, { filename: tasks, name: 5 as never }), new TypeError('name argument must be a string'));
  await t.rejects(pool.run(1, { filename: tasks, signal: 'x' as never }), new TypeError('signal argument must be an object'));
  await t.rejects(pool.run(1, { filename: tasks, transferList: 'x' as never }), new TypeError('transferList argument must be an Array'));
  t.equal(await pool.run(3, { filename: fileURLToPath(tasks), name: 'square' }), 9, 'an absolute path works as filename');
  const aborted = AbortSignal.abort('no thanks');
  const error = await pool.run(1, { filename: tasks, name: 'square', signal: aborted }).catch((e: unknown) => e);
  t.ok(error instanceof AbortError);
  t.equal((error as Error).name, 'AbortError');
  t.equal((error as Error).message, 'The task has been aborted');
  t.equal((error as Error).cause, 'no thanks', 'the cause is the signal reason');
});

t.test('abort: a queued run leaves the queue at once, a running one is cancelled', async (t) => {
  const dir = scratch(t);
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const pool = new ClusterPool({ filename: tasks, name: 'hold', client, maxInFlight: 1 });
  t.teardown(() => pool.destroy());

  const first = { started: join(dir, 'a.started'), release: join(dir, 'a.release'), value: 'a' };
  const second = { started: join(dir, 'b.started'), release: join(dir, 'b.release'), value: 'b' };
  const runningAbort = new AbortController();
  const queuedAbort = new AbortController();
  const running = pool.run(first, { signal: runningAbort.signal }).catch((e: unknown) => e);
  const queued = pool.run(second, { signal: queuedAbort.signal }).catch((e: unknown) => e);
  await until(() => existsSync(first.started));
  t.equal(pool.queueSize, 1, 'with one place on the cluster the second run waits in the pool');

  queuedAbort.abort(new Error('changed my mind'));
  const queuedError = await queued;
  t.ok(queuedError instanceof AbortError, 'the queued run rejects with an AbortError');
  t.equal(((queuedError as Error).cause as Error).message, 'changed my mind');
  t.equal(pool.queueSize, 0, 'and is gone from the queue');
  t.notOk(existsSync(second.started), 'it never reached a worker');

  runningAbort.abort();
  const runningError = await running;
  t.ok(runningError instanceof AbortError, 'the running run rejects with an AbortError');
  t.equal(pool.completed, 1, 'as in piscina, the run aborted while running counts as completed, the queued one not');
  writeFileSync(first.release, 'go');

  // The pool goes on: the next run gets the freed place and its result.
  const third = { started: join(dir, 'c.started'), release: join(dir, 'c.release'), value: 'c' };
  writeFileSync(third.release, 'go');
  t.equal(await pool.run(third), 'c');
  t.equal(pool.completed, 2);
  // Finished runs are released in the pool's next refill; the aborted one's result must go too.
  while (Object.keys(await client.whoHas()).length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(await client.whoHas(), {}, 'the aborted task left no result on the cluster');
});

t.test('close() lets pending runs finish; destroy() rejects them', async (t) => {
  const dir = scratch(t);
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());

  const closing = new ClusterPool({ filename: tasks, name: 'hold', client, maxInFlight: 1 });
  const jobs = ['x', 'y', 'z'].map((value) => ({ started: join(dir, `${value}.started`), release: join(dir, `${value}.release`), value }));
  const results = jobs.map((job) => closing.run(job));
  await until(() => existsSync(jobs[0]!.started));
  const closed = closing.close();
  await t.rejects(closing.run(jobs[0]), AbortError, 'no new runs while closing');
  for (const job of jobs) writeFileSync(job.release, 'go');
  t.same(await Promise.all(results), ['x', 'y', 'z'], 'every pending run finished');
  await closed;
  t.equal(closing.completed, 3);
  t.equal(client.status, 'running', 'a pool given a client leaves it open');

  const destroying = new ClusterPool({ filename: tasks, name: 'hold', client, maxInFlight: 1 });
  const held = ['p', 'q'].map((value) => ({ started: join(dir, `${value}.started`), release: join(dir, `${value}.release`), value }));
  const pending = held.map((job) => destroying.run(job).catch((e: unknown) => e));
  await until(() => existsSync(held[0]!.started));
  await destroying.destroy();
  const errors = await Promise.all(pending);
  t.ok(errors.every((e) => e instanceof AbortError), 'running and queued runs reject with AbortError');
  t.notOk(existsSync(held[1]!.started), 'the queued run never started');
  for (const job of held) writeFileSync(job.release, 'go');
  t.equal(await client.submit((x: number) => x + 1, 1).result(), 2, 'the shared cluster keeps working');
});

t.test("'drain' when a full pool has room again; queueSize and completed along the way", async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const pool = new ClusterPool({ filename: tasks, name: 'square', client, maxInFlight: 4 });
  t.teardown(() => pool.close());

  const events: string[] = [];
  pool.on('needsDrain', () => events.push('needsDrain'));
  pool.on('drain', () => events.push('drain'));
  const drained = once(pool, 'drain');
  const runs = Array.from({ length: 40 }, (_, i) => pool.run(i));
  t.equal(pool.queueSize, 40, 'runs queue until the pool has its client');
  t.ok(pool.needsDrain);
  await drained;
  t.equal(pool.queueSize, 0, 'drain comes once the queue is empty');
  t.notOk(pool.needsDrain);
  const values = await Promise.all(runs);
  t.same(values, Array.from({ length: 40 }, (_, i) => i * i));
  t.equal(pool.completed, 40);
  t.same(events.slice(0, 2), ['needsDrain', 'drain']);
});

t.test('a task given a Future runs where its data is', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const pool = new ClusterPool({ filename: tasks, name: 'whereAmI', client });
  t.teardown(() => pool.close());
  for (const target of cluster.workerAddresses) {
    const [data] = await client.scatter([new Uint8Array(4 << 20)], { workers: target, hash: false });
    const where = (await pool.run(data)) as { address: string; length: number };
    t.equal(where.address, target, 'the task ran on the worker holding its 4 MB input');
    t.equal(where.length, 4 << 20);
  }
});

t.test('a worker process dying under a run: the run is retried elsewhere', async (t) => {
  const dir = scratch(t);
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: true });
  t.teardown(() => cluster.close());
  const pool = new ClusterPool({ filename: tasks, name: 'killOnce', address: cluster });
  t.teardown(() => pool.close());
  const marker = join(dir, 'killed');
  const pid = await pool.run({ marker });
  t.ok(existsSync(marker), 'the first attempt ran and killed its worker');
  t.not(pid, Number(readFileSync(marker, 'utf8')), 'the answer came from another worker process');
  t.equal(pool.completed, 1);
});
