/**
 * Moving a piscina program onto a cluster (`node dist/examples/piscina-swap.js`).
 *
 * `countAll` is written against piscina's pool surface: run() with a task and
 * options, an AbortSignal, close(). It runs twice, unchanged: first on a
 * piscina thread pool, then on a ClusterPool, whose tasks run on a cluster's
 * workers (here an in-process LocalCluster; give `address: 'tcp://host:8786'`
 * to use a dscheduler's workers on other machines).
 */
import { Piscina } from 'piscina';
import { ClusterPool } from '../lib/index.js'; // in your program: from 'distributed-ts'

const TASK_MODULE = new URL('./primes-task.js', import.meta.url).href;

/** What both pools offer to this program. */
interface Pool {
  run(task: unknown, options?: { name?: string; signal?: AbortSignal }): Promise<unknown>;
  close(): Promise<void>;
  readonly completed: number;
}

/** The piscina program: count primes below 2,000,000 in 40 chunks, find the largest, cancel one run. */
async function countAll(pool: Pool): Promise<{ primes: number; largest: number; aborted: string; completed: number }> {
  const chunk = 50_000;
  const runs: Promise<unknown>[] = [];
  for (let from = 0; from < 2_000_000; from += chunk) runs.push(pool.run({ from, to: from + chunk }));
  const counts = (await Promise.all(runs)) as number[];
  const largest = (await pool.run(2_000_000, { name: 'largestPrimeBelow' })) as number;

  const controller = new AbortController();
  const doomed = pool.run({ from: 0, to: 50_000_000 }, { signal: controller.signal });
  controller.abort();
  const aborted = await doomed.then(() => 'finished', (error: Error) => error.name);
  await pool.close();
  return { primes: counts.reduce((a, b) => a + b, 0), largest, aborted, completed: pool.completed };
}

// Before: a thread pool in this process.
const before = await countAll(new Piscina({ filename: TASK_MODULE }));
console.log(`piscina:     ${before.primes} primes below 2,000,000; largest ${before.largest}; aborted run: ${before.aborted}; completed ${before.completed}`);

// After: the same program, one constructor changed.
const after = await countAll(new ClusterPool({ filename: TASK_MODULE }));
console.log(`ClusterPool: ${after.primes} primes below 2,000,000; largest ${after.largest}; aborted run: ${after.aborted}; completed ${after.completed}`);
console.log(before.primes === after.primes && before.largest === after.largest ? 'same answers' : 'DIFFERENT ANSWERS');
