/**
 * Workers outlive their scheduler: real dscheduler/dworker processes, a real
 * SIGKILL, a scheduler started again on the same port.
 */
import t from 'tap';
import { Client } from '../dist/lib/client/client.js';
import { CliProcess, isAlive, unusedPort, waitUntil } from './fixtures/cli-process.js';

const env = { ...process.env, DISTRIBUTED_LOG_LEVEL: 'warn' };

async function startScheduler(port: number): Promise<{ proc: CliProcess; address: string }> {
  const proc = new CliProcess('dscheduler', ['--port', String(port)], env);
  const [announce] = await proc.waitForStdout(/^Start scheduler at (tcp:\/\/\S+)$/m);
  return { proc, address: announce![1]! };
}

t.test('worker processes keep their pids and data across a scheduler SIGKILL and restart', async (t) => {
  const port = await unusedPort();
  let scheduler = await startScheduler(port);
  t.teardown(() => scheduler.proc.stop('SIGKILL'));
  const workers = new CliProcess('dworker', [scheduler.address, '--nprocs', '2', '--nthreads', '1', '--death-timeout', '30s'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m, 2);

  const first = await Client.connect(scheduler.address);
  const pids = await first.run(() => process.pid);
  const x = first.submit(() => `${process.pid}:${Math.random()}`);
  const value = await x.result();
  const holders = await first.whoHas(x);
  t.equal(holders[x.key]?.length, 1, 'x is held by one worker');

  await scheduler.proc.stop('SIGKILL');
  await first.close().catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (const pid of Object.values(pids) as number[]) t.ok(isAlive(pid), `worker ${pid} is still running without a scheduler`);
  t.ok(workers.child.exitCode === null, 'dworker is still running');

  scheduler = await startScheduler(port);
  const second = await Client.connect(scheduler.address);
  t.teardown(() => second.close());
  await second.waitForWorkers(2, { timeout: '20s' });
  t.same(await second.run(() => process.pid), pids, 'the same worker processes, at the same addresses');
  await waitUntil(() => workers.stderr.includes('re-registered with'), 10_000, 'the workers report their re-registration');
  const whoHas = await second.whoHas();
  t.same(whoHas[x.key], holders[x.key], 'the new scheduler knows where x is, without recomputing it');
  // The value itself is still the one computed before the restart (a recomputation would draw another).
  const [holder] = holders[x.key]!;
  const held = await second.run(() => process.pid);
  t.equal(String(value).split(':')[0], String(held[holder!]), 'computed by the worker that still holds it');
  t.match(workers.stderr, /scheduler connection lost, retrying \(\d+\)/, 'the workers logged the loss and their retries');
  t.match(workers.stderr, /re-registered with 1 keys/);
});

t.test('a scheduler that never comes back: every worker process exits after --death-timeout', async (t) => {
  const port = await unusedPort();
  const scheduler = await startScheduler(port);
  t.teardown(() => scheduler.proc.stop('SIGKILL'));
  const workers = new CliProcess('dworker', [scheduler.address, '--nprocs', '2', '--nthreads', '1', '--death-timeout', '1500ms'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m, 2);
  const client = await Client.connect(scheduler.address);
  const pids = Object.values(await client.run(() => process.pid)) as number[];
  await scheduler.proc.stop('SIGKILL');
  await client.close().catch(() => undefined);
  const exit = await workers.exited;
  t.not(exit.code, 0, 'dworker reports the failure in its exit code');
  t.equal(exit.signal, null, 'it exited by itself');
  for (const pid of pids) t.notOk(isAlive(pid), `worker process ${pid} is gone`);
  t.match(workers.stderr, /scheduler connection lost, retrying/);
  t.match(workers.stderr, /unreachable/);
});

t.test('dworker --no-nanny waits for a scheduler that is not up yet, within --death-timeout', async (t) => {
  const port = await unusedPort();
  const worker = new CliProcess('dworker', [`tcp://127.0.0.1:${port}`, '--no-nanny', '--nthreads', '1', '--death-timeout', '30s'], env);
  t.teardown(() => worker.stop('SIGKILL'));
  await waitUntil(() => /retrying \(2\)/.test(worker.stderr), 10_000, 'the worker retried twice');
  t.equal(worker.child.exitCode, null, 'still running, still trying');
  const scheduler = await startScheduler(port);
  t.teardown(() => scheduler.proc.stop('SIGKILL'));
  await worker.waitForStdout(/^Start worker at/m);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const square = client.submit((n: number) => n * n, 12);
  t.equal(await square.result(), 144, 'the late worker computes');
});
