/**
 * dscheduler --state-dir: coordination primitives and published datasets
 * outlive a SIGKILLed scheduler, alongside the workers' data and the
 * client's futures. Real processes, a real SIGKILL, the same port again.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Event, Lock, Queue, Variable, fireAndForget } from '../dist/index.js';
import { CliProcess, unusedPort } from './fixtures/cli-process.js';
import { startScheduler, quietEnv as env } from './fixtures/survive.js';

t.test('--state-dir: after a SIGKILL and a restart, workers, futures, Variable, Queue, Lock, Event and datasets are as they were', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await unusedPort();
  const address = `tcp://127.0.0.1:${port}`;
  let scheduler = await startScheduler(port, ['--state-dir', dir]);
  t.teardown(() => scheduler.stop('SIGKILL'));
  t.notMatch(scheduler.stderr, /restored state/, 'a fresh state dir restores nothing');
  const workers = new CliProcess('dworker', [address, '--nprocs', '2', '--nthreads', '2', '--death-timeout', '30s'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m, 2);

  const client = await Client.connect(address, { reconnectTimeout: '30s' });
  t.teardown(() => client.close());
  await client.waitForWorkers(2);
  const pids = await client.run(() => process.pid);
  const x = client.submit(() => `${process.pid}:${Math.random()}`);
  const xValue = await x.result();
  const xHolders = (await client.whoHas(x))[x.key];

  await new Variable<{ a: number }>('config', { client }).set({ a: 1 });
  const queue = new Queue<string>('jobs', { client });
  for (const job of ['first', 'second', 'third']) await queue.put(job);
  await client.publishDataset('answer', { answer: 42 });
  await client.publishDataset('x', x);
  const lock = new Lock('exclusive', { client });
  t.equal(await lock.acquire(), true);
  await new Event('ready', { client }).set();
  // Fire-and-forget work from a client that is gone before the scheduler dies: only the store can bring it back.
  const marker = join(dir, 'fired.txt');
  const firer = await Client.connect(address, { reconnectTimeout: 0 });
  const gate = firer.submit(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000));
  const fired = firer.submit(async (_: unknown, path: string) => {
    const fs = await import('node:fs/promises');
    await fs.appendFile(path, 'ran;');
  }, gate, marker);
  fireAndForget(fired);
  await firer.close();

  const futures = client.map((i: number) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    return i * 3;
  }, Array.from({ length: 200 }, (_, i) => i)) as { result(): Promise<unknown>; status: string }[];
  while (futures.filter((f) => f.status === 'finished').length < 10) await new Promise((resolve) => setTimeout(resolve, 20));
  await scheduler.stop('SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  scheduler = await startScheduler(port, ['--state-dir', dir]);
  t.match(scheduler.stderr, /restored state: 1 variable, 1 queue \(3 items\), 1 lock\/semaphore \(1 lease\), 1 event set, 2 datasets, 1 fire-and-forget task/);

  await client.waitForWorkers(2, { timeout: '20s' });
  t.same(await client.run(() => process.pid), pids, 'the same worker processes');
  t.same(await Promise.all(futures.map((f) => f.result())), Array.from({ length: 200 }, (_, i) => i * 3), 'all 200 results');
  t.equal(await x.result(), xValue);
  t.same((await client.whoHas(x))[x.key], xHolders, 'x was not recomputed');

  t.same(await new Variable('config', { client }).get({ timeout: '5s' }), { a: 1 }, 'the Variable is as it was');
  t.equal(await queue.qsize(), 3);
  t.same([await queue.get(), await queue.get(), await queue.get()], ['first', 'second', 'third'], 'the Queue kept its items, in order');
  t.same(await client.getDataset('answer'), { answer: 42 }, 'a published value is back');
  const published = (await client.getDataset('x')) as { result(): Promise<unknown> };
  t.equal(await published.result(), xValue, 'a published future is back, with the value the workers kept');
  t.equal(await new Event('ready', { client }).isSet(), true, 'the Event is still set');
  const other = await Client.connect(address);
  t.teardown(() => other.close());
  t.equal(await new Lock('exclusive', { client: other }).acquire({ timeout: '200ms' }), false, 'the lock is still held by its owner');
  t.equal(await lock.release(), true, 'and its owner can release it');
  t.equal(await new Lock('exclusive', { client: other }).acquire({ timeout: '5s' }), true, 'then another client gets it');
  const deadline = Date.now() + 20_000;
  while (!existsSync(marker) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(existsSync(marker) ? readFileSync(marker, 'utf8') : 'never', 'ran;', 'the fire-and-forget task of a departed client ran once, from the store');
});
