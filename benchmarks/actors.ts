/**
 * Actor calls on an in-process cluster (client and worker talk over inproc
 * MessagePorts): µs per sequential call and calls/s with 100 in flight,
 * beside a bare MessagePort round trip / pipelined echo measured in the same run.
 */
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import type { Actor } from '../lib/client/actor.js';
import { messagePortPipelinedRate, messagePortRoundTripMicros } from './baselines.js';
import type { BenchRow } from './report.js';

class BenchCounter {
  n = 0;
  increment(): number {
    return ++this.n;
  }
}

async function sequentialMicros(counter: Actor<BenchCounter>, calls: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await counter.increment();
  return ((performance.now() - t0) * 1000) / calls;
}

async function inFlightRate(counter: Actor<BenchCounter>, calls: number, window: number): Promise<number> {
  const t0 = performance.now();
  let issued = 0;
  const lane = async (): Promise<void> => {
    while (issued < calls) {
      issued++;
      await counter.increment();
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return calls / ((performance.now() - t0) / 1000);
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const sequentialCalls = opts.quick ? 2_000 : 20_000;
  const pipelinedCalls = opts.quick ? 10_000 : 100_000;
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
  const client = await Client.connect(cluster);
  let latency: number;
  let rate: number;
  try {
    const counter = await client.with({ actor: true }).submit(BenchCounter).result();
    // V8 needs a few thousand calls before the call path is optimised.
    await sequentialMicros(counter, 5000);
    latency = await sequentialMicros(counter, sequentialCalls);
    await inFlightRate(counter, Math.min(5000, pipelinedCalls), 100);
    rate = await inFlightRate(counter, pipelinedCalls, 100);
  } finally {
    await client.close();
    await cluster.close();
  }
  const portLatency = await messagePortRoundTripMicros({ messages: sequentialCalls });
  const portRate = await messagePortPipelinedRate({ messages: pipelinedCalls, window: 100 });
  return [
    {
      group: 'actors',
      workload: 'actor call, sequential (inproc)',
      ours: latency,
      baseline: portLatency,
      baselineName: 'bare MessagePort round trip',
      unit: 'µs',
      higherIsBetter: false,
    },
    {
      group: 'actors',
      workload: 'actor calls, 100 in flight (inproc)',
      ours: rate,
      baseline: portRate,
      baselineName: 'bare MessagePort echo, 100 in flight',
      unit: 'calls/s',
      higherIsBetter: true,
    },
  ];
}
