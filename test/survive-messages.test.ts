/**
 * What a worker says while its scheduler is away is not lost: it waits and
 * goes to the restarted scheduler right after the worker registers again.
 * A real dscheduler process is SIGKILLed and started again on the same port;
 * the workers run in this process (real threads, real TCP), so that one of
 * them can be paused meanwhile, as its memory monitor would do.
 */
import t from 'tap';
import { Client, Worker } from '../dist/index.js';
import { unusedPort } from './fixtures/cli-process.js';
import { eventually, startScheduler } from './fixtures/survive.js';

t.test('a worker paused while the scheduler is away is known as paused by the restarted scheduler, which sends it no work', async (t) => {
  const port = await unusedPort();
  const address = `tcp://127.0.0.1:${port}`;
  let scheduler = await startScheduler(port, ['--no-dashboard']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const options = { nthreads: 1, deathTimeout: '30s', reconnectBackoff: { baseMs: 50, maxMs: 200 } };
  const paused = await Worker.start(address, options);
  t.teardown(() => paused.close());
  const busy = await Worker.start(address, options);
  t.teardown(() => busy.close());
  const client = await Client.connect(address, { reconnectTimeout: '30s' });
  t.teardown(() => client.close());
  await client.waitForWorkers(2);

  await scheduler.stop('SIGKILL');
  // Once this client has noticed (its calls wait), so have the workers in this process: the same sockets' fate.
  const noticed = await eventually(() =>
    client.scatter([1], { timeout: 20 }).then(() => undefined, (error: Error) => (/did not come back/.test(error.message) ? true : undefined)),
  );
  t.ok(noticed, 'the scheduler is gone');
  // Let the workers' close events (same event loop, same kill) be handled too before pausing.
  await new Promise((resolve) => setTimeout(resolve, 300));
  paused.pause();
  t.equal(paused.status, 'paused');

  scheduler = await startScheduler(port, ['--no-dashboard']);
  await client.waitForWorkers(2, { timeout: '20s' });
  const status = await eventually(async () => {
    const info = await client.schedulerInfo();
    return info.workers[paused.address]?.status === 'paused' ? 'paused' : undefined;
  });
  t.equal(status, 'paused', 'the pause the worker announced while the scheduler was away reached the new scheduler');
  t.equal((await client.schedulerInfo()).workers[busy.address]?.status, 'running');

  if (status === 'paused') {
    const where = await client.gather(client.map(async (i: number) => `${i}@${(await import('distributed-ts')).getWorker().address}`, Array.from({ length: 12 }, (_, i) => i)));
    t.same(where, Array.from({ length: 12 }, (_, i) => `${i}@${busy.address}`), 'every new task ran on the running worker');
  }
  paused.unpause();
  const back = await eventually(async () => ((await client.schedulerInfo()).workers[paused.address]?.status === 'running' ? true : undefined));
  t.ok(back, 'unpausing after the reconnection is heard as well');
});

t.test('SchedulerOutbox: in order after the registration, straight through when connected, the oldest dropped past its limit', async (t) => {
  const { SchedulerOutbox } = await import('../dist/lib/worker/scheduler-outbox.js');
  const { childLogger } = await import('../dist/lib/logging.js');
  const outbox = new SchedulerOutbox(childLogger('test'), 3);
  const sent: string[] = [];
  const link = { closed: false, send: (msg: { op: string }) => void sent.push(msg.op) };
  outbox.send({ op: 'a' });
  outbox.send({ op: 'b' });
  t.equal(outbox.size, 2, 'kept while there is no scheduler');
  t.equal(outbox.connected(link), 2);
  t.same(sent, ['a', 'b'], 'what waited goes first, in order');
  outbox.send({ op: 'c' });
  t.same(sent, ['a', 'b', 'c'], 'then straight through');
  link.closed = true;
  outbox.send({ op: 'd' });
  t.same(sent, ['a', 'b', 'c'], 'a connection that closed under it takes nothing more');
  outbox.lost();
  for (const op of ['e', 'f', 'g']) outbox.send({ op });
  t.equal(outbox.size, 3, 'at most the limit waits');
  const next: string[] = [];
  outbox.connected({ closed: false, send: (msg: { op: string }) => void next.push(msg.op) });
  t.same(next, ['e', 'f', 'g'], 'the oldest were dropped');
  outbox.lost();
  outbox.send({ op: 'h' });
  outbox.clear();
  t.equal(outbox.size, 0, 'closing forgets what waited');
});
