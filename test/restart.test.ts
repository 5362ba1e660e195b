/** client.restart(): every future cancelled, every worker process replaced through its nanny, then new work runs. */
import t from 'tap';
import { CancelledError, Client, LocalCluster, Scheduler, Worker } from '../dist/index.js';
import { isAlive } from './fixtures/cli-process.js';

t.test('restart replaces every worker process and cancels futures', async (t) => {
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const other = await Client.connect(cluster);
  t.teardown(() => other.close());

  const before = await client.run(() => process.pid);
  const done = client.submit((x: number) => x + 1, 1);
  t.equal(await done.result(), 2);
  const slow = client.submit(async (ms: number) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return 'late';
  }, 30_000);
  const othersFuture = other.submit((x: number) => x * 2, 21);
  t.equal(await othersFuture.result(), 42);

  const started = Date.now();
  await client.restart();
  t.ok(Date.now() - started < 15_000, 'restart returned within seconds');

  for (const future of [done, slow, othersFuture]) {
    t.equal(future.status, 'cancelled', `${future.key} is cancelled`);
    await t.rejects(future.result(), CancelledError);
  }
  const after = await client.run(() => process.pid);
  t.equal(Object.keys(after).length, 2, 'as many workers as before');
  for (const pid of Object.values(before)) {
    t.notOk(Object.values(after).includes(pid), `worker ${pid} was replaced`);
    t.notOk(isAlive(pid), `old worker process ${pid} is gone`);
  }
  t.same(await client.whoHas(), {}, 'the scheduler forgot every task');
  const again = client.submit((x: number) => x + 1, 1);
  t.equal(await again.result(), 2, 'the same task runs again after the restart');
  t.equal(await other.submit((x: number) => x * 3, 3).result(), 9, 'other clients work too');
});

t.test('restart without nannies closes the workers and says why it timed out', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const worker = await Worker.start(scheduler.address, { nthreads: 1 });
  t.teardown(() => worker.close());
  const client = await Client.connect(scheduler);
  t.teardown(() => client.close());
  const future = client.submit((x: number) => x + 1, 1);
  t.equal(await future.result(), 2);
  await t.rejects(client.restart({ timeout: 300 }), { name: 'TimeoutError', message: /without a nanny were closed/ });
  t.equal(future.status, 'cancelled');
  await worker.finished;
  t.equal(worker.status, 'closed', 'the worker was closed');
});
