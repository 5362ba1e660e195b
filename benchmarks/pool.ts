/**
 * ClusterPool beside a bare piscina pool in the same run: 20,000 tiny run()
 * calls issued at once (as a piscina user would), on an in-process
 * LocalCluster of 1 worker × 2 threads against a 2-thread piscina pool, both
 * calling the same noop task module.
 */
import { performance } from 'node:perf_hooks';
import { ClusterPool } from '../lib/client/cluster-pool.js';
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import { piscinaThroughput } from './baselines.js';
import type { BenchRow } from './report.js';

const NOOP_MODULE = new URL('./noop-thread.js', import.meta.url).href;

/** tasks/s for `tasks` run() calls issued together, all awaited. */
async function poolRate(pool: ClusterPool, tasks: number, offset: number): Promise<number> {
  const t0 = performance.now();
  const runs: Promise<unknown>[] = new Array(tasks);
  for (let i = 0; i < tasks; i++) runs[i] = pool.run(offset + i);
  const values = (await Promise.all(runs)) as number[];
  const seconds = (performance.now() - t0) / 1000;
  if (values[tasks - 1] !== offset + tasks - 1) throw new Error('ClusterPool returned something else');
  return tasks / seconds;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const tasks = opts.quick ? 2000 : 20_000;
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: false });
  let ours: number;
  try {
    const client = await Client.connect(cluster);
    const pool = new ClusterPool({ filename: NOOP_MODULE, client });
    try {
      for (let round = 0; round < 3; round++) await poolRate(pool, Math.min(tasks, 5000), -1_000_000 * (round + 1));
      ours = await poolRate(pool, tasks, 0);
    } finally {
      await pool.close();
      await client.close();
    }
  } finally {
    await cluster.close();
  }
  const baseline = await piscinaThroughput({ tasks, inFlight: tasks, threads: 2 });
  return [
    {
      group: 'pool',
      workload: `${tasks.toLocaleString('en-US')} tiny run() calls, ClusterPool (1 worker × 2 threads)`,
      ours,
      baseline,
      baselineName: 'bare piscina, 2 threads',
      unit: 'tasks/s',
      higherIsBetter: true,
      target: '>= 50% of piscina',
    },
  ];
}
