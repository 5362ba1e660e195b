/**
 * The futures workloads on `LocalCluster({ processes: true })` with 2 worker
 * processes × 1 thread over TCP on 127.0.0.1, plus a 100 MB worker-to-worker
 * transfer and a 100 MB result fetched by a client over TCP (both beside a
 * bare TCP socket measured in the same run) and cluster
 * start-up to the first result (beside starting a bare `node` process).
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Client } from '../lib/client/client.js';
import { wait } from '../lib/client/wait.js';
import { LocalCluster } from '../actors/local-cluster.js';
import { piscinaThroughput, tcpLoopbackMBps, tcpRoundTripMicros } from './baselines.js';
import type { BenchRow } from './report.js';
import { chainMsPerTask, mapRate, measureCoreWorkloads, quiet, roundTripMicros, startUpSeconds, submitRate, treeSeconds } from './workloads.js';

const group = 'futures, processes';

function produce(bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) data[i] = i & 255;
  return data;
}

/** The byte count, or -1 when a sampled byte is not what `produce` wrote (the data really arrived). */
function consume(data: Uint8Array): number {
  for (let i = 0; i < data.byteLength; i += 4096) if (data[i] !== (i & 255)) return -1;
  return data.byteLength;
}

/** A task on worker A makes the bytes; a task pinned to worker B reads them (B fetches from A directly). */
export async function transferMBps(client: Client, from: string, to: string, megabytes: number): Promise<number> {
  const bytes = megabytes * 1_000_000;
  const impure = client.with({ pure: false });
  const made = impure.with({ workers: [from] }).submit(produce, bytes);
  await made.result().catch(() => undefined);
  const who = await client.whoHas(made);
  if (!(who[made.key] ?? []).includes(from)) throw new Error(`the ${megabytes} MB value is not on ${from}`);
  const t0 = performance.now();
  const read = impure.with({ workers: [to] }).submit(consume, made);
  const length = await read.result();
  const seconds = (performance.now() - t0) / 1000;
  if (length !== bytes) throw new Error(`the consumer saw ${length} bytes, expected ${bytes}`);
  read.release();
  made.release();
  return megabytes / seconds;
}

/** A value made on a worker, fetched by a client connected over TCP (it reads from the worker directly). */
async function fetchOverTcpMBps(address: string, megabytes: number): Promise<number> {
  const remote = await Client.connect(address);
  try {
    const bytes = megabytes * 1_000_000;
    const made = remote.with({ pure: false }).submit(produce, bytes);
    await wait([made]);
    const t0 = performance.now();
    const value = await made.result();
    const seconds = (performance.now() - t0) / 1000;
    if (consume(value) !== bytes) throw new Error(`the client received ${value.byteLength} bytes, expected ${bytes}`);
    made.release();
    return megabytes / seconds;
  } finally {
    await remote.close();
  }
}

async function bareNodeStartSeconds(): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve());
  });
  return (performance.now() - t0) / 1000;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const scale = opts.quick ? 0.1 : 1;
  const roundTrips = opts.quick ? 50 : 200;
  const submits = Math.round(5000 * scale);
  const mapped = Math.round(20_000 * scale);
  const chain = Math.round(2000 * scale);
  const leaves = opts.quick ? 512 : 4096;
  const megabytes = opts.quick ? 20 : 100;

  const startUp = await startUpSeconds({ processes: true, nWorkers: 2, threadsPerWorker: 1 });
  const bareStart = await bareNodeStartSeconds();

  const rows: BenchRow[] = [];
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1 });
  try {
    const client = await Client.connect(cluster);
    try {
      const [a, b] = cluster.workerAddresses as [string, string];
      // Warm up every path (function loading, pool threads, JIT in the worker processes) before measuring.
      for (let round = 0; round < 2; round++) {
        await mapRate(client, 3000, -10_000_000 * (round + 1));
        await submitRate(client, 1000, -10_000_000 * (round + 1) + 5000);
      }
      await chainMsPerTask(client, 200, -5_000_000);
      await treeSeconds(client, 256, -6_000_000);
      await roundTripMicros(client, 30);
      await transferMBps(client, a, b, Math.min(10, megabytes));
      await fetchOverTcpMBps(cluster.schedulerAddress, Math.min(10, megabytes));

      const { roundTrip: rt, submit, map, chain: chainMs, tree } = await measureCoreWorkloads(client, { roundTrips, submits, mapped, chain, leaves });
      const transfer = await transferMBps(client, a, b, megabytes);
      await quiet(client);
      const fetched = await fetchOverTcpMBps(cluster.schedulerAddress, megabytes);

      const rawRt = await tcpRoundTripMicros({ messages: roundTrips * 5 });
      const rawSubmit = await piscinaThroughput({ tasks: submits, inFlight: submits, threads: 2 });
      const rawMap = await piscinaThroughput({ tasks: mapped, inFlight: mapped, threads: 2 });
      const rawTreeRate = await piscinaThroughput({ tasks: leaves * 2 - 1, inFlight: leaves, threads: 2 });
      const rawTcp = await tcpLoopbackMBps({ megabytes });

      rows.push(
        { group, workload: 'submit -> result round trip (median), 2 procs × 1 thread', ours: rt, baseline: rawRt, baselineName: 'TCP ping-pong', unit: 'µs', higherIsBetter: false },
        { group, workload: `${submits} submits then gather, 2 procs × 1 thread`, ours: submit, baseline: rawSubmit, baselineName: 'piscina', unit: 'tasks/s', higherIsBetter: true },
        { group, workload: `map of ${mapped} then gather, 2 procs × 1 thread`, ours: map, baseline: rawMap, baselineName: 'piscina', unit: 'tasks/s', higherIsBetter: true },
        { group, workload: `${chain}-task dependency chain, 2 procs × 1 thread`, ours: chainMs, baseline: rawRt / 1000, baselineName: 'TCP ping-pong', unit: 'ms/task', higherIsBetter: false },
        { group, workload: `tree reduction, ${leaves} leaves (${leaves * 2 - 1} tasks), 2 procs × 1 thread`, ours: tree, baseline: (leaves * 2 - 1) / rawTreeRate, baselineName: 'piscina', unit: 's', higherIsBetter: false },
        { group, workload: `${megabytes} MB worker-to-worker transfer`, ours: transfer, baseline: rawTcp, baselineName: 'bare TCP socket', unit: 'MB/s', higherIsBetter: true, target: '>= 50% of bare TCP' },
        { group, workload: `${megabytes} MB result fetched by a client over TCP`, ours: fetched, baseline: rawTcp, baselineName: 'bare TCP socket', unit: 'MB/s', higherIsBetter: true },
        { group, workload: 'cluster start-up (2 worker processes) to first result', ours: startUp, baseline: bareStart, baselineName: 'bare node start', unit: 's', higherIsBetter: false },
      );
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
  return rows;
}
