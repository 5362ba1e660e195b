/** Heartbeats and the worker TTL: a frozen worker process is removed within seconds and its tasks run elsewhere. */
import t from 'tap';
import { Client, Nanny, Scheduler } from '../dist/index.js';
import { isAlive, waitUntil } from './fixtures/cli-process.js';

t.test('a worker that stops heartbeating (SIGSTOP) is removed, its task rescheduled, and its nanny restarts it', async (t) => {
  const scheduler = await Scheduler.start({ port: 0, workerTtl: '1500ms', heartbeatInterval: 100 });
  t.teardown(() => scheduler.close());
  const frozen = await Nanny.start(scheduler.address, { nthreads: 1, name: 'frozen' });
  t.teardown(() => frozen.close());
  const healthy = await Nanny.start(scheduler.address, { nthreads: 1, name: 'healthy' });
  t.teardown(() => healthy.close());
  const client = await Client.connect(scheduler);
  t.teardown(() => client.close());

  const frozenAddress = frozen.workerAddress!;
  const frozenPid = frozen.workerPid!;
  const slow = client.with({ workers: [frozenAddress], allowOtherWorkers: true }).submit(async (ms: number) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return process.pid;
  }, 300);
  await waitUntil(() => scheduler.state.tasks.get(slow.key)?.state === 'processing', 5000, 'the task started');
  process.kill(frozenPid, 'SIGSTOP');
  t.teardown(() => {
    if (isAlive(frozenPid)) process.kill(frozenPid, 'SIGCONT');
  });
  const stoppedAt = Date.now();
  await waitUntil(() => !scheduler.state.workers.has(frozenAddress), 10_000, 'the frozen worker was removed');
  const removedAfter = Date.now() - stoppedAt;
  t.ok(removedAfter >= 1000 && removedAfter < 9000, `removed after ${removedAfter} ms (TTL 1.5 s)`);
  t.equal(await slow.result(), healthy.workerPid, 'the task was rescheduled on the healthy worker');
  t.equal(scheduler.state.tasks.get(slow.key)!.suspicious, 1, 'counted once as suspicious');

  await waitUntil(
    () => frozen.status === 'running' && frozen.workerPid !== undefined && frozen.workerPid !== frozenPid,
    10_000,
    'the nanny started a new worker',
  );
  t.equal(frozen.restarts, 1, 'restarted once');
  await waitUntil(() => !isAlive(frozenPid), 5000, 'the frozen process was killed');
  t.equal(Object.keys(await client.nthreads()).length, 2, 'two workers again');
  t.equal(await client.submit((x: number) => x + 1, 41).result(), 42);
});

t.test('heartbeats keep idle workers registered well past the TTL', async (t) => {
  const scheduler = await Scheduler.start({ port: 0, workerTtl: 400, heartbeatInterval: 50 });
  t.teardown(() => scheduler.close());
  const { Worker } = await import('../dist/index.js');
  const worker = await Worker.start(scheduler.address, { nthreads: 1 });
  t.teardown(() => worker.close());
  await new Promise((resolve) => setTimeout(resolve, 1200));
  t.ok(scheduler.state.workers.has(worker.address), 'still registered after 3 TTLs');
  await worker.close();
  await worker.finished;
  t.notOk(scheduler.state.workers.has(worker.address), 'a clean close unregisters');
});
