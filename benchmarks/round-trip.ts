/**
 * submit -> result round trip of a trivial task with worker processes, in the
 * two shapes a user meets, beside a bare TCP ping-pong measured in the same run:
 * - `LocalCluster({ processes: true })`: client and scheduler in this process
 *   (the client reaches the scheduler inproc), 1 worker process × 1 thread;
 * - fully separate: `dscheduler` and `dworker --no-nanny` each their own
 *   process, the client in this one over TCP (client -> scheduler -> worker ->
 *   pool thread -> worker -> scheduler -> client: four TCP hops).
 *
 * Each shape is measured twice: right after 240 warm-up round trips (what a
 * fresh cluster gives its first thousand tasks; V8 is still compiling the hot
 * paths), and again after `warm` more (optimized code: the steady state).
 *
 * Runnable alone, e.g. to profile all three processes:
 * `node --cpu-prof --cpu-prof-dir=DIR dist/benchmarks/round-trip.js --mode separate --n 5000 --profile DIR`
 * (`--profile DIR` starts the scheduler and worker with `--cpu-prof` too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import { tcpRoundTripMicros } from './baselines.js';
import { printTable, type BenchRow } from './report.js';
import { inc, roundTripMicros } from './workloads.js';

const group = 'round trip, processes';
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin');

interface Options {
  /** Round trips measured (after 20 warm-up ones). */
  n: number;
  /** Round trips between the first measurement and the second (default WARM_ROUND_TRIPS). */
  warm?: number;
  /** A directory: the scheduler and worker processes write `--cpu-prof` profiles there. */
  profile?: string;
}

function startProcess(script: string, args: string[], profile: string | undefined): ChildProcess {
  const flags = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  return spawn(process.execPath, [...flags, join(bin, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The first stdout line matching `pattern` (its first group). */
async function announced(child: ChildProcess, pattern: RegExp): Promise<string> {
  let text = '';
  return new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const match = pattern.exec(text);
      if (match !== null) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited (${String(code)}) before printing ${String(pattern)}`)));
  });
}

/** SIGTERM, then wait for the exit (a profiled process writes its profile on the way out). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Round trips after which V8 has optimized the hot paths of all processes (a fresh one needs 2,000-3,000). */
export const WARM_ROUND_TRIPS = 3000;

/** Medians in µs: `early` after 240 round trips, `warm` after `warm` more; `startMs`: cluster start to the first result. */
export interface RoundTrips {
  early: number;
  warm: number;
  startMs: number;
}

async function warmAndMeasure(client: Client, n: number, warm: number | undefined, startedAt: number): Promise<RoundTrips> {
  await client.with({ pure: false }).submit(inc, 0).result();
  const startMs = performance.now() - startedAt;
  await roundTripMicros(client, 200); // the function loaded on the pool thread, first compilations
  const early = await roundTripMicros(client, n);
  await roundTripMicros(client, warm ?? WARM_ROUND_TRIPS);
  return { early, warm: await roundTripMicros(client, n), startMs };
}

export async function separateMicros(opts: Options): Promise<RoundTrips> {
  const startedAt = performance.now();
  const scheduler = startProcess('dscheduler.js', ['--host', '127.0.0.1', '--port', '0', '--no-dashboard'], opts.profile);
  let worker: ChildProcess | undefined;
  try {
    const address = await announced(scheduler, /Start scheduler at (\S+)/);
    worker = startProcess('dworker.js', [address, '--no-nanny', '--nthreads', '1', '--host', '127.0.0.1'], opts.profile);
    const client = await Client.connect(address);
    try {
      await client.waitForWorkers(1, { timeout: '30s' });
      return await warmAndMeasure(client, opts.n, opts.warm, startedAt);
    } finally {
      await client.close();
    }
  } finally {
    if (worker !== undefined) await stop(worker);
    await stop(scheduler);
  }
}

export async function localClusterMicros(opts: Options): Promise<RoundTrips> {
  const startedAt = performance.now();
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 1, threadsPerWorker: 1 });
  try {
    const client = await Client.connect(cluster);
    try {
      return await warmAndMeasure(client, opts.n, opts.warm, startedAt);
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const n = opts.quick ? 200 : 1000;
  const warm = opts.quick ? 1000 : WARM_ROUND_TRIPS;
  const local = await localClusterMicros({ n, warm });
  const separate = await separateMicros({ n, warm });
  const ping = await tcpRoundTripMicros({ messages: n * 5 });
  const row = (workload: string, ours: number): BenchRow => ({ group, workload, ours, baseline: ping, baselineName: 'TCP ping-pong', unit: 'µs', higherIsBetter: false, target: '<= 300 µs' });
  return [
    row('submit -> result (median), LocalCluster: client+scheduler here, 1 worker process', local.early),
    row('submit -> result (median), client, scheduler, worker each a process', separate.early),
    row(`the same after ${warm} more round trips, LocalCluster`, local.warm),
    row(`the same after ${warm} more round trips, each a process`, separate.warm),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'both' },
      n: { type: 'string', default: '1000' },
      profile: { type: 'string' },
      // A running scheduler (with a worker) to measure against, e.g. one started under strace.
      scheduler: { type: 'string' },
      ping: { type: 'string' },
      warm: { type: 'string', default: String(WARM_ROUND_TRIPS) },
    },
    strict: true,
  });
  const n = Number(values.n);
  const warm = Number(values.warm);
  const rows: BenchRow[] = [];
  const starts: string[] = [];
  const both = (workload: string, measured: RoundTrips, ping: number): void => {
    rows.push({ group, workload, ours: measured.early, baseline: ping, baselineName: 'TCP ping-pong', unit: 'µs', higherIsBetter: false });
    rows.push({ group, workload: `${workload}, after ${warm} more`, ours: measured.warm, baseline: ping, baselineName: 'TCP ping-pong', unit: 'µs', higherIsBetter: false });
    starts.push(`${workload}: start to first result ${measured.startMs.toFixed(0)} ms`);
  };
  const ping = await tcpRoundTripMicros({ messages: Number(values.ping ?? n * 5) });
  if (values.scheduler !== undefined) {
    const client = await Client.connect(values.scheduler);
    try {
      await client.waitForWorkers(1, { timeout: '30s' });
      both(`at ${values.scheduler}`, await warmAndMeasure(client, n, warm, performance.now()), ping);
    } finally {
      await client.close();
    }
  }
  if (values.mode === 'both' || values.mode === 'local') {
    both('LocalCluster processes', await localClusterMicros({ n, warm }), ping);
  }
  if (values.mode === 'both' || values.mode === 'separate') {
    both('separate processes', await separateMicros({ n, warm, ...(values.profile !== undefined ? { profile: values.profile } : {}) }), ping);
  }
  printTable(rows);
  for (const line of starts) console.log(line);
}
