/**
 * What watching the cluster costs: map of 20,000 on an in-process LocalCluster
 * (1 worker × 2 threads) with one trivial transition plugin against none, and
 * with the dashboard's status page open (a WebSocket client receiving its
 * pushes) against no page open. Each pair alternates round by round on the
 * same cluster (the plugin is added and removed, the socket opened and closed
 * between rounds) and each figure is the median, so drift on a shared machine
 * hits both alike.
 */
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import type { SchedulerPlugin } from '../lib/scheduler/plugins.js';
import WebSocket from 'ws';
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
  const rounds = opts.quick ? 4 : 8;
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: false, dashboardAddress: ':0' });
  try {
    const client = await Client.connect(cluster);
    try {
      for (let round = 0; round < 3; round++) await mapRate(client, 5000, -20_000_000 * (round + 1));
      const none: number[] = [];
      const withPlugin: number[] = [];
      const plugin = new CountTransitions();
      // Which set-up goes first alternates: the second run of a round is faster (the first also pays for tidying).
      for (let round = 0; round < rounds; round++) {
        for (const withIt of round % 2 === 0 ? [false, true] : [true, false]) {
          if (withIt) await cluster.scheduler.addPlugin(plugin);
          await quiet(client);
          (withIt ? withPlugin : none).push(await mapRate(client, mapped, round * 1_000_000 + (withIt ? 500_000 : 0)));
          if (withIt) await cluster.scheduler.removePlugin(plugin.name);
        }
      }
      if (plugin.count < mapped * 3) throw new Error(`the plugin saw only ${plugin.count} transitions`);

      const closed: number[] = [];
      const open: number[] = [];
      let received = 0;
      for (let round = 0; round < rounds; round++) {
        for (const withIt of round % 2 === 0 ? [false, true] : [true, false]) {
          const socket = withIt ? await openStatusPage(cluster.dashboardAddress!, () => received++) : undefined;
          await quiet(client);
          (withIt ? open : closed).push(await mapRate(client, mapped, 30_000_000 + round * 1_000_000 + (withIt ? 500_000 : 0)));
          socket?.close();
        }
      }
      if (received < rounds) throw new Error(`the page received only ${received} updates`);
      return [
        {
          group,
          workload: `map of ${mapped}, dashboard status page open`,
          ours: median(open),
          baseline: median(closed),
          baselineName: 'no page open',
          unit: 'tasks/s',
          higherIsBetter: true,
          target: '>= 90% of no page open',
        },
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

/** A WebSocket client on the status page, as a browser tab would be; resolves once the first update arrived. */
function openStatusPage(base: string, onUpdate: () => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?page=status`);
    let first = true;
    socket.on('message', (data) => {
      JSON.parse(String(data));
      onUpdate();
      if (first) {
        first = false;
        resolve(socket);
      }
    });
    socket.on('error', reject);
  });
}
