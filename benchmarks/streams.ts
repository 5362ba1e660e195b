/**
 * Streams in parallel (issue 15): `client.gather(client.map(sleep200, stream))`
 * where the stream yields 8 items as they arrive, on an in-process cluster of
 * 1 worker × 4 threads. One at a time would take 8 × 200 ms = 1.6 s; side by
 * side ≈ 2 × 200 ms. Baseline: the same 8 tasks mapped over an array in the
 * same run (everything known up front).
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import type { BenchRow } from './report.js';

async function sleepTask(ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
}

async function* arriving(items: readonly number[]): AsyncGenerator<number> {
  for (const item of items) {
    await turn();
    yield item;
  }
}

export async function run(): Promise<BenchRow[]> {
  const tasks = 8;
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 4, processes: false });
  try {
    const client = await Client.connect(cluster);
    try {
      // Distinct durations keep the keys apart (pure keys would reuse finished results).
      const durations = (round: number): number[] => Array.from({ length: tasks }, (_, i) => 200 + round * tasks + i);
      await client.gather(client.map(sleepTask, [1, 2, 3, 4]));
      const measureStream = async (round: number): Promise<number> => {
        const t0 = performance.now();
        let count = 0;
        for await (const _ of client.gather(client.map(sleepTask, arriving(durations(round))))) count++;
        if (count !== tasks) throw new Error(`stream map: ${count} of ${tasks} results`);
        return (performance.now() - t0) / 1000;
      };
      const measureArray = async (round: number): Promise<number> => {
        const t0 = performance.now();
        const values = await client.gather(client.map(sleepTask, durations(round)));
        if (values.length !== tasks) throw new Error('array map: wrong result count');
        return (performance.now() - t0) / 1000;
      };
      const stream: number[] = [];
      const array: number[] = [];
      for (let round = 1; round <= 3; round++) {
        stream.push(await measureStream(round * 2));
        array.push(await measureArray(round * 2 + 1));
      }
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      process.stderr.write(`# streams: stream ${stream.map((s) => s.toFixed(2)).join(' / ')} s, array ${array.map((s) => s.toFixed(2)).join(' / ')} s\n`);
      return [
        {
          group: 'streams',
          workload: `gather(map(200 ms task, async iterable of ${tasks})), 1 worker × 4 threads (median of 3)`,
          ours: median(stream),
          baseline: median(array),
          baselineName: 'same tasks, map over an array',
          unit: 's',
          higherIsBetter: false,
          target: '≈ 0.6 s or less (one at a time: 1.6 s)',
        },
      ];
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}
