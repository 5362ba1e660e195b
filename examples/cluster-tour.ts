/**
 * A tour of a cluster of worker processes (`npm run tour`): two nanny-supervised
 * workers, a dashboard, and one example of each thing a dask user reaches for —
 * map/gather, futures passed into tasks, a delayed graph, data moving between
 * workers, a task that submits tasks, a cluster-wide lock, an actor, and a
 * worker process dying under a task.
 *
 * Pass `--keep` to leave the cluster running (with its dashboard) until Ctrl-C.
 */
import { performance } from 'node:perf_hooks';
import { Client, delayed, LocalCluster, Variable } from '../lib/index.js';

const say = (what: string, value: unknown): void => {
  process.stdout.write(`${what.padEnd(44)} ${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
};

const started = performance.now();
const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1, dashboardAddress: '127.0.0.1:0' });
const client = await Client.connect(cluster);
try {
  say('scheduler', cluster.schedulerAddress);
  say('dashboard', `${cluster.dashboardAddress}/status`);
  say('worker processes (pid by address)', await client.run(() => process.pid));

  // map + gather; futures as arguments.
  const squares = client.map((x: number) => x * x, Array.from({ length: 10 }, (_, i) => i));
  const total = client.submit((...xs: number[]) => xs.reduce((a, b) => a + b, 0), ...squares);
  say('sum of squares 0..9', await total.result());

  // A lazy graph, computed on the cluster.
  const inc = delayed((x: number) => x + 1);
  const add = delayed((a: number, b: number) => a + b);
  say('delayed: (1 + 1) + (2 + 1)', await client.compute(add(inc(1), inc(2))).result());

  // 8 MB made on one worker, read on the other: the second fetches it directly from the first.
  const [first, second] = cluster.workerAddresses as [string, string];
  const bytes = client.with({ workers: [first] }).submit((n: number) => new Uint8Array(n).fill(7), 8_000_000);
  const sum = client.with({ workers: [second] }).submit((data: Uint8Array) => data.reduce((a, b) => a + b, 0), bytes);
  say('8 MB moved between workers, byte sum', await sum.result());

  // A task that submits tasks (recursion on the cluster, no deadlock on one-thread workers).
  // (Tasks reach the package by its name; `as string` keeps this project's compiler from
  // resolving the package to its own build output.)
  async function fib(n: number): Promise<number> {
    if (n < 2) return n;
    const { getClient } = (await import('distributed-ts' as string)) as typeof import('../lib/index.js');
    const c = await getClient();
    const [a, b] = c.map(fib, [n - 1, n - 2]);
    return (await a!.result()) + (await b!.result());
  }
  say('fib(12), computed by tasks submitting tasks', await client.submit(fib, 12).result());

  // A cluster-wide lock around a shared counter, from 8 tasks at once.
  await new Variable('counter', { client }).set(0);
  const bumps = client.map(async (i: number) => {
    const { Lock, Variable } = (await import('distributed-ts' as string)) as typeof import('../lib/index.js');
    const lock = new Lock('counter-lock');
    await lock.acquire();
    try {
      const counter = new Variable('counter');
      await counter.set(((await counter.get()) as number) + 1);
    } finally {
      await lock.release();
    }
    return i;
  }, Array.from({ length: 8 }, (_, i) => i));
  await client.gather(bumps);
  say('counter after 8 locked increments', await new Variable('counter', { client }).get());

  // An actor: state that lives on one worker, called directly.
  class Tally {
    n = 0;
    add(k: number): number {
      return (this.n += k);
    }
  }
  const tally = await client.with({ actor: true }).submit(Tally).result();
  await tally.add(5);
  say('actor after add(5), add(10)', await tally.add(10));

  // A task that kills its worker process: the nanny starts a new one; after three deaths the task
  // fails with KilledWorker, and the cluster carries on.
  const killer = client.with({ pure: false }).submit(() => process.kill(process.pid, 'SIGKILL'));
  say('a task that kills its worker', await killer.result().then(() => 'finished?', (error: Error) => `${error.name}: ${error.message.split('\n')[0]}`));
  await client.waitForWorkers(2, { timeout: '30s' });
  say('still computing after that', await client.submit((x: number) => x * 2, 21).result());

  say('tour done in', `${((performance.now() - started) / 1000).toFixed(2)} s`);
  if (process.argv.includes('--keep')) {
    process.stdout.write(`Cluster and dashboard running; Ctrl-C to stop.\n`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} finally {
  await client.close();
  await cluster.close();
}
