/**
 * The futures workloads both cluster benchmarks run (in-process and with
 * worker processes): each takes a connected Client and returns its figure.
 */
import { performance } from 'node:perf_hooks';
import { Client } from '../lib/client/client.js';
import type { Future } from '../lib/client/future.js';
import { LocalCluster, type LocalClusterOptions } from '../actors/local-cluster.js';

/**
 * Lets the previous workload's clean-up finish before the next is timed: its
 * released futures reach the scheduler (which has answered once it has
 * processed them and told the workers to free their data), then a pause for
 * the collector. Without it a 2,000-task chain timed right after a
 * 20,000-task map also paid for forgetting the map (about 0.08 ms per link).
 */
export async function quiet(client: Client): Promise<void> {
  await client.schedulerInfo();
  await new Promise((resolve) => setTimeout(resolve, 100));
}

export function inc(x: number): number {
  return x + 1;
}

export function add(x: number, y: number): number {
  return x + y;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function roundTripMicros(client: Client, n: number): Promise<number> {
  const samples: number[] = [];
  const impure = client.with({ pure: false });
  for (let i = 0; i < n + 20; i++) {
    const t0 = performance.now();
    const future = impure.submit(inc, i);
    await future.result();
    const elapsed = performance.now() - t0;
    future.release();
    if (i >= 20) samples.push(elapsed * 1000);
  }
  return median(samples);
}

export async function submitRate(client: Client, n: number, offset: number): Promise<number> {
  const t0 = performance.now();
  const futures: Future<number>[] = [];
  for (let i = 0; i < n; i++) futures.push(client.submit(inc, offset + i));
  await client.gather(futures);
  const seconds = (performance.now() - t0) / 1000;
  for (const future of futures) future.release();
  return n / seconds;
}

export async function mapRate(client: Client, n: number, offset: number): Promise<number> {
  const items = Array.from({ length: n }, (_, i) => offset + i);
  const t0 = performance.now();
  const futures = client.map(inc, items);
  await client.gather(futures);
  const seconds = (performance.now() - t0) / 1000;
  for (const future of futures) future.release();
  return n / seconds;
}

export async function chainMsPerTask(client: Client, n: number, start: number): Promise<number> {
  const t0 = performance.now();
  let current: Future<number> = client.submit(inc, start);
  const all = [current];
  for (let i = 1; i < n; i++) {
    current = client.submit(inc, current);
    all.push(current);
  }
  const value = await current.result();
  const ms = performance.now() - t0;
  if (value !== start + n) throw new Error(`chain computed ${value}, expected ${start + n}`);
  for (const future of all) future.release();
  return ms / n;
}

export async function treeSeconds(client: Client, leaves: number, offset: number): Promise<number> {
  const t0 = performance.now();
  let level: Future<number>[] = client.map(inc, Array.from({ length: leaves }, (_, i) => offset + i));
  const all = [...level];
  while (level.length > 1) {
    const next: Future<number>[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(client.submit(add, level[i]!, level[i + 1]!));
    all.push(...next);
    level = next;
  }
  const total = await level[0]!.result();
  const seconds = (performance.now() - t0) / 1000;
  const expected = leaves * offset + (leaves * (leaves + 1)) / 2;
  if (total !== expected) throw new Error(`tree computed ${total}, expected ${expected}`);
  for (const future of all) future.release();
  return seconds;
}

/** Seconds from starting a fresh cluster (and connecting a client) to its first result. */
export async function startUpSeconds(options: LocalClusterOptions): Promise<number> {
  const t0 = performance.now();
  const cluster = await LocalCluster.start(options);
  try {
    const client = await Client.connect(cluster);
    try {
      if ((await client.submit(inc, 1).result()) !== 2) throw new Error('first result was wrong');
      return (performance.now() - t0) / 1000;
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

export interface CoreSizes {
  roundTrips: number;
  submits: number;
  mapped: number;
  chain: number;
  leaves: number;
}

export interface CoreFigures {
  /** µs, median */
  roundTrip: number;
  /** tasks/s */
  submit: number;
  /** tasks/s */
  map: number;
  /** ms per task */
  chain: number;
  /** s */
  tree: number;
}

/** The core issue's five workloads, in order, each started on a quiet cluster (values offset so no key repeats). */
export async function measureCoreWorkloads(client: Client, sizes: CoreSizes): Promise<CoreFigures> {
  await quiet(client);
  const roundTrip = await roundTripMicros(client, sizes.roundTrips);
  await quiet(client);
  const submit = await submitRate(client, sizes.submits, 1_000_000);
  await quiet(client);
  const map = await mapRate(client, sizes.mapped, 2_000_000);
  await quiet(client);
  const chain = await chainMsPerTask(client, sizes.chain, 3_000_000);
  await quiet(client);
  const tree = await treeSeconds(client, sizes.leaves, 4_000_000);
  await quiet(client);
  return { roundTrip, submit, map, chain, tree };
}
