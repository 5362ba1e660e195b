/** The nanny's memory watchdog end to end: a task that allocates past --memory-limit gets its worker restarted. */
import t from 'tap';
import { Scheduler } from '../dist/actors/scheduler.js';
import { Client } from '../dist/index.js';
import { CliProcess } from './fixtures/cli-process.js';

t.test('dworker --memory-limit: the nanny kills and restarts a worker over 95% of it', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const worker = new CliProcess('dworker', [scheduler.address, '--nthreads', '1', '--memory-limit', '300MB'], {
    ...process.env,
    DISTRIBUTED_LOG_LEVEL: 'warn',
  });
  t.teardown(() => worker.stop('SIGKILL'));
  const [first] = await worker.waitForStdout(/^Start worker at (tcp:\/\/\S+)$/m);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const pidBefore = Object.values(await client.run(() => process.pid))[0] as number;

  // Hold 400 MB of touched memory on the worker's main thread until the nanny kills the process
  // (held long enough that a loaded machine's slow fill and sampling still see it whole).
  void client.run(async () => {
    const hog = Buffer.alloc(400e6, 1);
    await new Promise((resolve) => setTimeout(resolve, 60_000));
    return hog.length;
  }).catch(() => undefined);

  const restarted = await worker.waitForStdout(/^Start worker at (tcp:\/\/\S+)$/m, 2, 45_000);
  t.not(restarted[1]![1], first![1], 'a new worker address');
  t.match(worker.stderr, /exceeded 95% memory budget/, 'the restart is logged');
  t.match(worker.stderr, /"rss":\d+/, 'with the resident size');
  const deadline = Date.now() + 8000;
  let pids = await client.run(() => process.pid);
  while (Object.keys(pids).length !== 1 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    pids = await client.run(() => process.pid);
  }
  t.equal(Object.keys(pids).length, 1, 'one worker again');
  t.not(Object.values(pids)[0], pidBefore, 'in a new process');
  t.same(await worker.stop('SIGTERM'), { code: 0, signal: null });
});
