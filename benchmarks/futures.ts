/**
 * The futures API end to end on an in-process LocalCluster (1 worker × 2
 * threads): submit/result latency, submit and map throughput, a dependency
 * chain, a tree reduction and a large scatter + gather, each beside a bare
 * piscina pool (or a bare copy of the bytes) measured in the same run.
 */
import { performance } from 'node:perf_hooks';
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import { piscinaFirstResultSeconds, piscinaRoundTripMicros, piscinaThroughput } from './baselines.js';
import type { BenchRow } from './report.js';
import { chainMsPerTask, mapRate, measureCoreWorkloads, quiet, roundTripMicros, startUpSeconds, submitRate, treeSeconds } from './workloads.js';

const group = 'futures';

async function scatterGatherMBps(client: Client, megabytes: number): Promise<number> {
  const data = new Uint8Array(megabytes * 1_000_000);
  for (let i = 0; i < data.length; i += 4096) data[i] = i & 255;
  const t0 = performance.now();
  const future = await client.scatter(data, { hash: false });
  const back = await future.result();
  const seconds = (performance.now() - t0) / 1000;
  if (!(back instanceof Uint8Array) || back.byteLength !== data.byteLength) throw new Error('scatter+gather returned something else');
  future.release();
  return megabytes / seconds;
}

/** The same bytes copied twice (there and back) by structuredClone, as MessagePorts do. */
function structuredCloneMBps(megabytes: number): number {
  const data = new Uint8Array(megabytes * 1_000_000);
  structuredClone(data.subarray(0, 1_000_000));
  const t0 = performance.now();
  const there = structuredClone(data);
  const back = structuredClone(there);
  const seconds = (performance.now() - t0) / 1000;
  if (back.byteLength !== data.byteLength) throw new Error('structuredClone lost bytes');
  return megabytes / seconds;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const scale = opts.quick ? 0.1 : 1;
  const roundTrips = opts.quick ? 50 : 200;
  const submits = Math.round(5000 * scale);
  const mapped = Math.round(20_000 * scale);
  const chain = Math.round(2000 * scale);
  const leaves = opts.quick ? 512 : 4096;
  const megabytes = opts.quick ? 10 : 100;

  const startUp = await startUpSeconds({ nWorkers: 1, threadsPerWorker: 2, processes: false });
  const bareStart = await piscinaFirstResultSeconds({ threads: 2 });

  const rows: BenchRow[] = [];
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: false });
  try {
    const client = await Client.connect(cluster);
    try {
      // Warm up every path (function loading, pool threads, JIT) before measuring.
      for (let round = 0; round < 3; round++) {
        await mapRate(client, 5000, -10_000_000 * (round + 1));
        await submitRate(client, 2000, -10_000_000 * (round + 1) + 5000);
      }
      for (let round = 0; round < 3; round++) await chainMsPerTask(client, 2000, -5_000_000 - round * 10_000);
      await treeSeconds(client, 256, -6_000_000);
      await roundTripMicros(client, 50);

      const { roundTrip: rt, submit, map, chain: chainMs, tree } = await measureCoreWorkloads(client, { roundTrips, submits, mapped, chain, leaves });
      const mbps = await scatterGatherMBps(client, megabytes);

      const rawRt = await piscinaRoundTripMicros({ tasks: roundTrips * 5, threads: 2 });
      const rawSubmit = await piscinaThroughput({ tasks: submits, inFlight: submits, threads: 2 });
      const rawMap = await piscinaThroughput({ tasks: mapped, inFlight: mapped, threads: 2 });
      const rawTreeRate = await piscinaThroughput({ tasks: leaves * 2 - 1, inFlight: leaves, threads: 2 });
      const rawCopy = structuredCloneMBps(megabytes);

      rows.push(
        { group, workload: 'submit -> result round trip (median)', ours: rt, baseline: rawRt, baselineName: 'piscina run', unit: 'µs', higherIsBetter: false, target: '<= 250 µs' },
        { group, workload: `${submits} submits then gather`, ours: submit, baseline: rawSubmit, baselineName: 'piscina', unit: 'tasks/s', higherIsBetter: true, target: '>= 10,000 tasks/s' },
        { group, workload: `map of ${mapped} then gather`, ours: map, baseline: rawMap, baselineName: 'piscina', unit: 'tasks/s', higherIsBetter: true, target: '>= 15,000 tasks/s and >= 50% of piscina' },
        { group, workload: `${chain}-task dependency chain`, ours: chainMs, baseline: rawRt / 1000, baselineName: 'piscina run', unit: 'ms/task', higherIsBetter: false, target: '<= 0.15 ms/task' },
        { group, workload: `tree reduction, ${leaves} leaves (${leaves * 2 - 1} tasks)`, ours: tree, baseline: (leaves * 2 - 1) / rawTreeRate, baselineName: 'piscina', unit: 's', higherIsBetter: false, target: leaves === 4096 ? '< 0.6 s' : '' },
        { group, workload: `${megabytes} MB scatter + gather`, ours: mbps, baseline: rawCopy, baselineName: 'structuredClone ×2', unit: 'MB/s', higherIsBetter: true },
        { group, workload: 'cluster start-up to first result', ours: startUp, baseline: bareStart, baselineName: 'bare piscina pool, first task', unit: 's', higherIsBetter: false },
      );
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
  return rows;
}
