/**
 * In one process, binary data is not copied (issue 15): 100 MB Buffer
 * scattered to an in-process worker (1 × 2 threads), then gathered back
 * (dask's "scatter + gather" figure: payload / total time), and the same with
 * a task reading it on a pool thread in between. Baseline: one memcpy of the
 * 100 MB into fresh memory in the same run (what one copy costs). Median of 5.
 */
import { performance } from 'node:perf_hooks';
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import type { BenchRow } from './report.js';

const group = 'zero-copy, in-process';

function touch(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 4096) sum += data[i]!;
  return sum;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const bytes = opts.quick ? 20_000_000 : 100_000_000;
  const mb = bytes / 1e6;
  const payload = Buffer.alloc(bytes, 7);
  const rounds = 5;
  const memcpy: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const copy = Buffer.allocUnsafeSlow(bytes);
    copy.set(payload);
    memcpy.push(mb / ((performance.now() - t0) / 1000));
  }
  const scatterGather: number[] = [];
  const withTask: number[] = [];
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: false });
  try {
    const client = await Client.connect(cluster);
    try {
      const expected = touch(payload);
      for (let i = 0; i < rounds; i++) {
        let t0 = performance.now();
        let future = await client.scatter(payload, { hash: false });
        let back = await client.gather(future);
        scatterGather.push(mb / ((performance.now() - t0) / 1000));
        if (back.byteLength !== bytes) throw new Error('scatter + gather: wrong size back');
        future.release();

        t0 = performance.now();
        future = await client.scatter(payload, { hash: false });
        const read = await client.submit(touch, future).result();
        back = await client.gather(future);
        withTask.push(mb / ((performance.now() - t0) / 1000));
        if (read !== expected || back.byteLength !== bytes) throw new Error('scatter, task, gather: wrong result');
        future.release();
      }
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
  process.stderr.write(`# zero-copy: memcpy ${memcpy.map((x) => x.toFixed(0)).join(' / ')}; scatter+gather ${scatterGather.map((x) => x.toFixed(0)).join(' / ')}; with a task ${withTask.map((x) => x.toFixed(0)).join(' / ')} MB/s\n`);
  const baseline = median(memcpy);
  return [
    { group, workload: `${mb} MB Buffer scatter + gather`, ours: median(scatterGather), baseline, baselineName: 'one memcpy', unit: 'MB/s', higherIsBetter: true, target: '≥ 5,000 MB/s' },
    { group, workload: `${mb} MB Buffer scatter, read by a task on a pool thread, gather`, ours: median(withTask), baseline, baselineName: 'one memcpy', unit: 'MB/s', higherIsBetter: true },
  ];
}
