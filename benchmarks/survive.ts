/**
 * Surviving the scheduler: how long after a scheduler comes back the cluster
 * computes again (workers and a client reconnecting with their default
 * back-off), and what `--state-dir` costs — on a Queue's put/get rate (every
 * op waits for its LMDB commit) and on plain task throughput (which never
 * touches the store). One scheduler and one 2-thread worker over TCP on
 * 127.0.0.1, all in this process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Scheduler } from '../actors/scheduler.js';
import { Worker } from '../actors/worker.js';
// The package root installs the client port the coordination handles use.
import { Client, Queue } from '../lib/index.js';
import type { BenchRow } from './report.js';
import { inc, median, submitRate } from './workloads.js';

const group = 'surviving the scheduler';

interface Cluster {
  scheduler: Scheduler;
  worker: Worker;
  client: Client;
  close(): Promise<void>;
}

async function cluster(stateDir?: string, port = 0): Promise<Cluster> {
  const scheduler = await Scheduler.start({ port, ...(stateDir === undefined ? {} : { stateDir }) });
  const worker = await Worker.start(scheduler.address, { nthreads: 2 });
  const client = await Client.connect(scheduler.address);
  return {
    scheduler,
    worker,
    client,
    async close() {
      await client.close();
      await worker.close();
      await scheduler.close();
    },
  };
}

/** Seconds from a new scheduler listening on the old port to the first task result, over `rounds` restarts. */
async function restartToFirstTaskSeconds(rounds: number): Promise<number> {
  let scheduler = await Scheduler.start({ port: 0 });
  const port = Number(new URL(scheduler.address.replace('tcp://', 'http://')).port);
  const worker = await Worker.start(scheduler.address, { nthreads: 2 });
  const client = await Client.connect(scheduler.address);
  const samples: number[] = [];
  try {
    await client.submit(inc, 0).result();
    for (let i = 1; i <= rounds; i++) {
      await scheduler.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const t0 = performance.now();
      scheduler = await Scheduler.start({ port });
      const value = await client.with({ pure: false }).submit(inc, i).result();
      samples.push((performance.now() - t0) / 1000);
      if (value !== i + 1) throw new Error(`after restart ${i} the task answered ${String(value)}`);
    }
  } finally {
    await client.close();
    await worker.close();
    await scheduler.close();
  }
  return median(samples);
}

/** Seconds from nothing to the first result: what a restart costs when nothing survives it. */
async function freshClusterSeconds(): Promise<number> {
  const t0 = performance.now();
  const fresh = await cluster();
  await fresh.client.submit(inc, 1).result();
  const seconds = (performance.now() - t0) / 1000;
  await fresh.close();
  return seconds;
}

async function queueOpsPerSecond(stateDir: string | undefined, n: number): Promise<number> {
  const c = await cluster(stateDir);
  try {
    const queue = new Queue<number>(`bench-${Math.random()}`, { client: c.client });
    for (let i = 0; i < 20; i++) {
      await queue.put(i);
      await queue.get();
    }
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await queue.put(i);
      await queue.get();
    }
    return (2 * n) / ((performance.now() - t0) / 1000);
  } finally {
    await c.close();
  }
}

/** `clients` clients doing put+get at once, each on its own Queue: writes of one event-loop turn share an LMDB commit. */
async function concurrentQueueOpsPerSecond(stateDir: string | undefined, clients: number, n: number): Promise<number> {
  const c = await cluster(stateDir);
  const others = await Promise.all(Array.from({ length: clients }, () => Client.connect(c.scheduler.address)));
  try {
    const queues = others.map((client, k) => new Queue<number>(`bench-${k}-${Math.random()}`, { client }));
    const loop = async (queue: Queue<number>, count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await queue.put(i);
        await queue.get();
      }
    };
    await Promise.all(queues.map((queue) => loop(queue, 10)));
    const t0 = performance.now();
    await Promise.all(queues.map((queue) => loop(queue, n)));
    return (2 * n * clients) / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(others.map((client) => client.close()));
    await c.close();
  }
}

async function taskRate(stateDir: string | undefined, n: number): Promise<number> {
  const c = await cluster(stateDir);
  try {
    await submitRate(c.client, 200, 0);
    return await submitRate(c.client, n, 1000);
  } finally {
    await c.close();
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dts-bench-state-'));
  try {
    const rounds = opts.quick ? 2 : 5;
    const queueOps = opts.quick ? 300 : 2000;
    const tasks = opts.quick ? 1000 : 5000;
    const restart = await restartToFirstTaskSeconds(rounds);
    const fresh = await freshClusterSeconds();
    const queueDurable = await queueOpsPerSecond(join(dir, 'queue'), queueOps);
    const queueMemory = await queueOpsPerSecond(undefined, queueOps);
    const concurrentDurable = await concurrentQueueOpsPerSecond(join(dir, 'queues'), 8, queueOps / 4);
    const concurrentMemory = await concurrentQueueOpsPerSecond(undefined, 8, queueOps / 4);
    // Alternated and the median kept: on a shared machine one run of each is mostly noise.
    const durableRates: number[] = [];
    const memoryRates: number[] = [];
    for (let i = 0; i < 3; i++) {
      durableRates.push(await taskRate(join(dir, `tasks-${i}`), tasks));
      memoryRates.push(await taskRate(undefined, tasks));
    }
    const tasksDurable = median(durableRates);
    const tasksMemory = median(memoryRates);
    return [
      {
        group, workload: 'scheduler restart → first task done again (median)', ours: restart, baseline: fresh,
        baselineName: 'fresh cluster to first result', unit: 's', higherIsBetter: false,
      },
      {
        group, workload: 'Queue put+get with --state-dir', ours: queueDurable, baseline: queueMemory,
        baselineName: 'without --state-dir', unit: 'ops/s', higherIsBetter: true,
      },
      {
        group, workload: 'Queue put+get from 8 clients at once with --state-dir', ours: concurrentDurable, baseline: concurrentMemory,
        baselineName: 'without --state-dir', unit: 'ops/s', higherIsBetter: true,
      },
      {
        group, workload: `${tasks} submits with --state-dir (median of 3)`, ours: tasksDurable, baseline: tasksMemory,
        baselineName: 'without --state-dir', unit: 'tasks/s', higherIsBetter: true, target: 'within noise (≥ 90%)',
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
