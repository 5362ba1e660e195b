/**
 * Plain TCP beside mutual TLS, measured in the same run on two identical
 * clusters (LocalCluster, 2 worker processes × 1 thread, on 127.0.0.1; the
 * TLS one with Security.temporary()), each used by a client that dials the
 * scheduler's socket: submit -> result round trip, a map of 20,000, and a
 * 100 MB worker-to-worker transfer. The two clusters take turns workload by
 * workload (the transfer three times each, median reported), so drift in the
 * machine's load falls on both alike.
 */
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import { Security } from '../lib/comm/security.js';
import type { BenchRow } from './report.js';
import { transferMBps } from './processes.js';
import { mapRate, quiet, roundTripMicros } from './workloads.js';

const group = 'TLS vs TCP, processes';

interface Side {
  cluster: LocalCluster;
  client: Client;
  workers: [string, string];
}

/** Rounds of each transfer (median reported), the two sides taking turns. */
const TRANSFER_ROUNDS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function startSide(security?: Security): Promise<Side> {
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1, ...(security === undefined ? {} : { security }) });
  try {
    const client = await Client.connect(cluster.schedulerAddress, security === undefined ? {} : { security });
    return { cluster, client, workers: cluster.workerAddresses as [string, string] };
  } catch (error) {
    await cluster.close();
    throw error;
  }
}

async function closeSide(side: Side | undefined): Promise<void> {
  if (side === undefined) return;
  await side.client.close().catch(() => undefined);
  await side.cluster.close();
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const roundTrips = opts.quick ? 50 : 200;
  const mapped = opts.quick ? 2000 : 20_000;
  const megabytes = opts.quick ? 20 : 100;
  const security = await Security.temporary();
  let tcp: Side | undefined;
  let tls: Side | undefined;
  try {
    tcp = await startSide();
    tls = await startSide(security);
    const sides = [tcp, tls] as const;
    for (const side of sides) {
      // Warm-up: function loading, pool threads, JIT, and every connection (handshakes) made once.
      await mapRate(side.client, 3000, -10_000_000);
      await roundTripMicros(side.client, 30);
      await transferMBps(side.client, side.workers[0], side.workers[1], Math.min(10, megabytes));
      await quiet(side.client);
    }
    const figures = { rt: [0, 0], map: [0, 0], transfer: [0, 0] };
    for (const [i, side] of sides.entries()) {
      figures.rt[i] = await roundTripMicros(side.client, roundTrips);
      await quiet(side.client);
    }
    for (const [i, side] of sides.entries()) {
      figures.map[i] = await mapRate(side.client, mapped, 1_000_000 * (i + 1));
      await quiet(side.client);
    }
    const transfers: [number[], number[]] = [[], []];
    for (let round = 0; round < TRANSFER_ROUNDS; round++) {
      for (const [i, side] of sides.entries()) {
        transfers[i]!.push(await transferMBps(side.client, side.workers[0], side.workers[1], megabytes));
        await quiet(side.client);
      }
    }
    figures.transfer = transfers.map(median);
    return [
      { group, workload: 'submit -> result round trip (median), client over tls://', ours: figures.rt[1]!, baseline: figures.rt[0]!, baselineName: 'same over tcp://', unit: 'µs', higherIsBetter: false, target: '<= 1.5× TCP' },
      { group, workload: `map of ${mapped} then gather, client over tls://`, ours: figures.map[1]!, baseline: figures.map[0]!, baselineName: 'same over tcp://', unit: 'tasks/s', higherIsBetter: true },
      { group, workload: `${megabytes} MB worker-to-worker transfer over tls:// (median of ${TRANSFER_ROUNDS})`, ours: figures.transfer[1]!, baseline: figures.transfer[0]!, baselineName: 'same over tcp://', unit: 'MB/s', higherIsBetter: true, target: '>= 60% of TCP' },
    ];
  } finally {
    await closeSide(tls);
    await closeSide(tcp);
  }
}
