/**
 * Coordination primitives used from tasks in real worker processes: a
 * Semaphore(1) lease held by a task is never shared, and comes back when the
 * holder's worker process is SIGKILLed (its client's connection closes).
 */
import t from 'tap';
import { Client, Event, LocalCluster, Semaphore } from '../dist/index.js';

t.test('a Semaphore(1) lease held in a killed worker process is recovered', async (t) => {
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 1, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());

  // Runs in the worker process. After 'stop' is set (before the kill), the
  // rescheduled copy of this task must not take the lease again.
  const holdForever = async (): Promise<string> => {
    const dts = await import('distributed-ts');
    if (await new dts.Event('stop').isSet()) return 'stopped';
    const semaphore = new dts.Semaphore({ maxLeases: 1, name: 'only-one' });
    await semaphore.acquire();
    await new dts.Event('held').set();
    return new Promise<string>(() => undefined);
  };
  const holder = client.with({ pure: false }).submit(holdForever);

  t.equal(await new Event('held', { client }).wait({ timeout: 20_000 }), true, 'the task holds the lease');
  const semaphore = new Semaphore({ maxLeases: 1, name: 'only-one', client });
  t.equal(await semaphore.acquire({ timeout: 300 }), false, 'a second holder is refused while the first lives');

  await new Event('stop', { client }).set();
  const pids = Object.values(await client.run(() => process.pid));
  t.equal(pids.length, 1);
  process.kill(pids[0]!, 'SIGKILL');

  t.equal(await semaphore.acquire({ timeout: 15_000 }), true, 'the lease came back after the holder died');
  t.equal(await semaphore.release(), true);
  t.equal(await holder.result({ timeout: 20_000 }), 'stopped', 'the rescheduled task saw stop and left the lease alone');
});
