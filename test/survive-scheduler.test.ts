/**
 * A client, its futures and its workers outlive a scheduler that is killed
 * (SIGKILL) and started again on the same port: real processes throughout.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Variable, fireAndForget, type Actor } from '../dist/index.js';
import { CliProcess, isAlive, unusedPort } from './fixtures/cli-process.js';
import { startScheduler, quietEnv as env } from './fixtures/survive.js';

/** Tasks travel as source: each blocks its worker thread for a known time itself. */

class Tally {
  n = 0;
  add(by: number): number {
    this.n += by;
    return this.n;
  }
}

t.test('SIGKILL the scheduler mid-work and start it again: same workers, no recomputation, every result', async (t) => {
  const port = await unusedPort();
  let scheduler = await startScheduler(port);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const address = `tcp://127.0.0.1:${port}`;
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
  const tally: Actor<Tally> = await client.with({ actor: true }).submit(Tally).result();
  t.equal(await tally.add(5), 5);
  // Fire-and-forget work that the dying scheduler never got to start: it waits on a slow gate.
  const folder = mkdtempSync(join(tmpdir(), 'dts-survive-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const marker = join(folder, 'fired.txt');
  const gate = client.submit(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500));
  const fired = client.submit(async (_: unknown, path: string) => {
    const fs = await import('node:fs/promises');
    await fs.appendFile(path, 'ran;');
  }, gate, marker);
  fireAndForget(fired);
  fired.release();
  gate.release();

  const futures = client.map((i: number) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    return i * 2;
  }, Array.from({ length: 200 }, (_, i) => i)) as { result(): Promise<unknown>; status: string }[];
  // Mid-work: some finished, most not.
  while (futures.filter((f) => f.status === 'finished').length < 10) {
    if (futures.some((f) => f.status === 'error')) t.fail('a task failed before the restart');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await scheduler.stop('SIGKILL');
  t.ok(futures.some((f) => f.status === 'pending'), 'work was still under way when the scheduler died');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.ok(futures.every((f) => f.status === 'pending' || f.status === 'finished'), 'no future errs while the scheduler is away');
  scheduler = await startScheduler(port);
  await client.waitForWorkers(2, { timeout: '20s' });

  t.same(await client.run(() => process.pid), pids, 'the same worker processes are back (the call waited for the reconnection)');
  const results = await Promise.all(futures.map((f) => f.result()));
  t.same(results, Array.from({ length: 200 }, (_, i) => i * 2), 'all 200 results arrive, correct');
  t.equal(await x.result(), xValue);
  t.same((await client.whoHas(x))[x.key], xHolders, 'x is where it was: the workers brought it back, nothing recomputed it');
  const fresh = await client.submit((a: number) => a + 1, 41).result();
  t.equal(fresh, 42, 'the old client object submits new work');
  t.equal(await tally.add(1), 6, 'the actor handle still works, with its state');
  const v = new Variable<number>('after-restart', { client });
  await v.set(3);
  t.equal(await v.get({ timeout: '10s' }), 3, 'coordination handles work against the new scheduler');
  const deadline = Date.now() + 20_000;
  while (!existsSync(marker) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(existsSync(marker) ? readFileSync(marker, 'utf8') : 'never', 'ran;', 'the fire-and-forget task ran (resubmitted by its client)');
  for (const pid of Object.values(pids) as number[]) t.ok(isAlive(pid));
  t.match(workers.stderr, /re-registered with \d+ keys/);
  t.match(scheduler.stderr, /without --state-dir, the Locks, Semaphores, Queues, Variables, Events and published datasets from before the restart are lost/,
    'the restarted scheduler (no --state-dir) says the primitives were lost');
});

t.test('a scheduler that never comes back: workers exit after their death timeout, futures fail after reconnectTimeout', async (t) => {
  const port = await unusedPort();
  const scheduler = await startScheduler(port);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const address = `tcp://127.0.0.1:${port}`;
  const workers = new CliProcess('dworker', [address, '--nprocs', '2', '--nthreads', '1', '--death-timeout', '1s'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m, 2);
  const client = await Client.connect(address, { reconnectTimeout: '1500ms' });
  t.teardown(() => client.close());
  const slow = client.submit(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000));
  const done = client.submit(() => 7);
  t.equal(await done.result(), 7);
  await scheduler.stop('SIGKILL');
  await t.rejects(client.scatter([1], { timeout: '300ms' }), { name: 'TimeoutError', message: /did not come back within the call's timeout/ },
    'a call made meanwhile waits no longer than its own timeout');
  t.equal(slow.status, 'pending', 'meanwhile the future is still pending');
  await t.rejects(slow.result(), { name: 'CommClosedError', message: /did not come back within 1\.5 s/ }, 'the pending future fails with CommClosedError');
  await t.rejects(client.nthreads(), { name: 'CommClosedError' }, 'and so do calls');
  t.equal(client.status, 'closed');
  const exit = await workers.exited;
  t.not(exit.code, 0, 'the workers gave up and dworker exited');
});
