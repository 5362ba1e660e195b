// getClient() returns synchronously inside a task, as dask's get_client():
// `const c = getClient(); const fs = c.map(f, xs); await c.gather(fs)` on the
// first line of a task on a one-thread worker, in-process and in a worker
// process; submits made before that client has connected reach the scheduler.
import t from 'tap';
import { Client, LocalCluster, getClient } from '../dist/index.js';
import { DistributedError } from '../dist/lib/errors.js';
import { registerClientPort, clientPort, runInTask, type TaskHost } from '../dist/lib/task-context.js';
import { Scheduler, Worker } from '../dist/index.js';

/** The snippet of the issue: nothing awaited before the map. */
async function fanOut(n: number): Promise<number[]> {
  const { getClient } = await import('distributed-ts');
  const c = getClient();
  const fs = c.map((x: number) => x * x, Array.from({ length: n }, (_, i) => i));
  return (await c.gather(fs)) as number[];
}

/** Strictly synchronous: the map happens in the same tick as getClient(), the task returns the futures' keys first. */
async function syncFirstLine(n: number): Promise<{ isPromise: boolean; sum: number }> {
  const { getClient: get } = await import('distributed-ts');
  const got = get() as unknown;
  const isPromise = got instanceof Promise;
  const c = got as Awaited<ReturnType<typeof get>>;
  const fs = c.map((x: number) => x + 1, Array.from({ length: n }, (_, i) => i));
  const values = (await c.gather(fs)) as number[];
  return { isPromise, sum: values.reduce((a, b) => a + b, 0) };
}

for (const processes of [false, true]) {
  t.test(`a 1x1 worker (${processes ? 'processes' : 'in-process'}): getClient() is synchronous on a task's first line`, async (t) => {
    const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, processes });
    const client = await Client.connect(cluster);
    t.teardown(async () => {
      await client.close();
      await cluster.close();
    });
    t.same(await client.submit(fanOut, 6).result({ timeout: 30000 }), [0, 1, 4, 9, 16, 25]);
    const outcome = await client.submit(syncFirstLine, 10).result({ timeout: 30000 });
    t.same(outcome, { isPromise: false, sum: 55 }, 'a Client, not a Promise; every submit before the connection was kept');
    // Nested two levels: each level's getClient() submits before its client may have connected.
    const nested = async (depth: number): Promise<number> => {
      const { getClient } = await import('distributed-ts');
      if (depth === 0) return 1;
      const c = getClient();
      const [a, b] = (await c.gather([c.submit(nested, depth - 1), c.submit(nested, depth - 1)])) as number[];
      return a! + b!;
    };
    t.equal(await client.submit(nested, 3).result({ timeout: 30000 }), 8);
  });
}

t.test('a task\'s client queues submits made before its connection is up; none is lost', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  // A client made the way a worker makes one for its tasks: at once, connecting in the background.
  const background = Client.connectInBackground(scheduler.address, { name: 'background' });
  t.equal(background.status, 'running');
  // Same tick as its creation: the connection cannot be up yet.
  const one = background.submit((x: number) => x + 1, 1);
  const many = background.map((x: number) => x * 10, [1, 2, 3]);
  const worker = await Worker.start(scheduler.address, { nthreads: 1 });
  t.teardown(() => worker.close());
  t.equal(await one.result({ timeout: 20000 }), 2);
  t.same(await background.gather(many), [10, 20, 30]);
  await background.close();
  t.equal(background.status, 'closed');
});

t.test('a background client whose scheduler is unreachable closes with the error; its futures fail', async (t) => {
  const background = Client.connectInBackground('tcp://127.0.0.1:1', { name: 'nowhere', timeout: 2000 });
  const future = background.submit((x: number) => x, 1);
  await t.rejects(future.result(), { name: /ConnectError|TimeoutError|CommClosedError/ });
  t.equal(background.status, 'closed');
  await background.close();
});

t.test('outside a task getClient() is the newest client, or a clear error', async (t) => {
  const before = clientPort();
  t.teardown(() => registerClientPort(before));
  registerClientPort({ workerClient: before.workerClient, defaultClient: () => undefined });
  t.throws(() => getClient(), DistributedError);
  const host: TaskHost = {
    info: { address: 'inproc://w', name: 'w', nthreads: 1, schedulerAddress: 'inproc://s', pid: process.pid },
    secede: () => undefined,
    rejoin: async () => undefined,
    client: () => {
      throw new DistributedError('the host was asked');
    },
  };
  t.throws(() => runInTask(host, 'k', () => getClient()), { message: 'the host was asked' }, 'inside a task the host answers');
});
