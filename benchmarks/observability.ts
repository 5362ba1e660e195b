/**
 * What watching the cluster costs: map of 20,000 on an in-process LocalCluster
 * (1 worker × 2 threads) with one trivial transition plugin against none. The
 * two set-ups alternate round by round on the same cluster (the plugin is
 * added and removed between rounds) and each figure is the median, so drift
 * on a shared machine hits both alike.
 */
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import type { SchedulerPlugin } from '../lib/scheduler/plugins.js';
import type { BenchRow } from './report.js';
import { mapRate, median, quiet } from './workloads.js';

const group = 'observability';

/** Counts transitions: the least a transition plugin can do. */
class CountTransitions implements SchedulerPlugin {
  name = 'bench-count';
  count = 0;
  transition(): void {
    this.count++;
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const mapped = opts.quick ? 2000 : 20_000;
  const rounds = opts.quick ? 3 : 7;
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: false, dashboardAddress: false });
  try {
    const client = await Client.connect(cluster);
    try {
      for (let round = 0; round < 3; round++) await mapRate(client, 5000, -20_000_000 * (round + 1));
      const none: number[] = [];
      const withPlugin: number[] = [];
      const plugin = new CountTransitions();
      for (let round = 0; round < rounds; round++) {
        await quiet(client);
        none.push(await mapRate(client, mapped, round * 1_000_000));
        await cluster.scheduler.addPlugin(plugin);
        await quiet(client);
        withPlugin.push(await mapRate(client, mapped, round * 1_000_000 + 500_000));
        await cluster.scheduler.removePlugin(plugin.name);
      }
      if (plugin.count < mapped * 3) throw new Error(`the plugin saw only ${plugin.count} transitions`);
      return [
        {
          group,
          workload: `map of ${mapped}, one transition plugin`,
          ours: median(withPlugin),
          baseline: median(none),
          baselineName: 'no plugin',
          unit: 'tasks/s',
          higherIsBetter: true,
          target: '>= 95% of no plugin',
        },
      ];
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}
