/**
 * Scale (issue 6): how time and memory grow with the number of tasks, on an
 * in-process LocalCluster (1 worker × 2 threads, `processes: false`).
 *
 * - `client.map(inc, items)` of N tiny tasks for N = 10k, 100k, 1M (quick: 10k
 *   and 100k): time for `map` to return (building and sending the graph), tasks/s
 *   from the call to every result gathered, and heap per task. In-process the
 *   scheduler, the worker and the client share the main thread's heap, so the
 *   main-thread figures are all three together:
 *   - peak: the largest `used_heap_size` seen (sampled every 20 ms while the
 *     event loop turns, and at map return and at completion; garbage included),
 *     minus the settled heap before the run, over N;
 *   - retained: after full GCs with all N futures done and their values
 *     gathered (still held), minus the settled heap before, over N.
 *   The pure scheduler's share comes from a SchedulerState holding N finished
 *   tasks, measured the way benchmarks/scheduler-state.ts does.
 * - A random DAG (100k tasks; quick 10k): task i depends on 0–3 uniformly
 *   random earlier tasks (seeded PRNG), submitted one by one with
 *   `client.submit(node, i, ...depFutures)`; time from the first submit to
 *   every task done (`wait`), and tasks/s.
 *
 * Baselines: a bare piscina pool's throughput measured in this run for the
 * tasks/s rows; 1 KB/task (the bar) for the memory rows.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Client } from '../lib/client/client.js';
import type { Future } from '../lib/client/future.js';
import { wait } from '../lib/client/wait.js';
import { LocalCluster } from '../actors/local-cluster.js';
import { SchedulerState } from '../lib/scheduler/state.js';
import type { GraphTask, RunSpec } from '../lib/protocol/messages.js';
import { piscinaThroughput } from './baselines.js';
import type { BenchRow } from './report.js';
import { obtainGc, settledHeap } from './heap.js';
import { inc } from './workloads.js';

const group = 'scale';
const KB = 1024;

/** DAG node: depends on its inputs' values; `i` keeps root tasks' keys distinct. */
function node(i: number, ...inputs: number[]): number {
  let sum = i;
  for (const x of inputs) sum = (sum + x) % 1_000_003;
  return sum;
}

/** The largest heap in use seen while it runs: a 20 ms sampler plus explicit `mark()` calls. */
class HeapPeak {
  peak = 0;
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.mark();
    this.#timer = setInterval(() => this.mark(), 20);
  }

  mark(): void {
    const used = getHeapStatistics().used_heap_size;
    if (used > this.peak) this.peak = used;
  }

  stop(): number {
    clearInterval(this.#timer);
    this.mark();
    return this.peak;
  }
}

interface MapFigures {
  n: number;
  submitMs: number;
  totalMs: number;
  peakBytesPerTask: number;
  retainedBytesPerTask: number;
}

async function measureMap(client: Client, n: number, offset: number, gc: () => void): Promise<MapFigures> {
  const items = Array.from({ length: n }, (_, i) => offset + i);
  const before = settledHeap(gc);
  const sampler = new HeapPeak();
  const t0 = performance.now();
  let futures: Future<number>[] | undefined = client.map(inc, items);
  const submitMs = performance.now() - t0;
  sampler.mark();
  const values = await client.gather(futures);
  const totalMs = performance.now() - t0;
  const peak = sampler.stop();
  if (values.length !== n || values[n - 1] !== offset + n) throw new Error(`map of ${n}: wrong results`);
  const retained = settledHeap(gc);
  for (const future of futures) future.release();
  futures = undefined;
  return {
    n,
    submitMs,
    totalMs,
    peakBytesPerTask: (peak - before) / n,
    retainedBytesPerTask: (retained - before) / n,
  };
}

/** Park–Miller minimal standard generator: the same DAG every run. */
function seededRandom(seed: number): () => number {
  let state = seed % 2_147_483_647;
  if (state <= 0) state += 2_147_483_646;
  return () => {
    state = (state * 48_271) % 2_147_483_647;
    return (state - 1) / 2_147_483_646;
  };
}

async function randomDagSeconds(client: Client, n: number, seed: number): Promise<{ seconds: number; edges: number }> {
  const random = seededRandom(seed);
  const futures: Future<number>[] = new Array(n);
  let edges = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const fanIn = i === 0 ? 0 : Math.min(i, Math.floor(random() * 4));
    const deps: Future<number>[] = [];
    for (let d = 0; d < fanIn; d++) deps.push(futures[Math.floor(random() * i)]!);
    edges += fanIn;
    futures[i] = client.submit(node, seed * 10_000_000 + i, ...deps);
  }
  const { notDone } = await wait(futures);
  const seconds = (performance.now() - t0) / 1000;
  const erred = futures.filter((future) => future.status !== 'finished').length;
  for (const future of futures) future.release();
  if (notDone.size > 0 || erred > 0) throw new Error(`random DAG of ${n}: ${notDone.size} not done, ${erred} not finished`);
  return { seconds, edges };
}

const FN: RunSpec['fn'] = { kind: 'source', source: 'function inc(x) { return x + 1; }', name: 'inc' };

/** Heap a bare SchedulerState holds per finished task (results wanted), as in scheduler-state.ts. */
function schedulerBytesPerTask(n: number, gc: () => void): number {
  const s = new SchedulerState();
  s.addWorker({ address: 'inproc://scale/0', nthreads: 2 }, 'add-0');
  const before = settledHeap(gc);
  const batch = 10_000;
  for (let from = 0; from < n; from += batch) {
    const count = Math.min(batch, n - from);
    const tasks: GraphTask[] = new Array(count);
    const keys: string[] = new Array(count);
    for (let i = 0; i < count; i++) {
      // Flat strings, as keys decoded from the wire are (a template literal is a cons-string).
      const key = JSON.parse(JSON.stringify(`inc-${(from + i).toString(16).padStart(32, '0')}`)) as string;
      keys[i] = key;
      tasks[i] = { key, dependencies: [], runSpec: { fn: FN, args: new Uint8Array(16) } };
    }
    s.updateGraph('scale-client', tasks, keys, 'scale-update');
    for (let progress = true; progress; ) {
      progress = false;
      for (const ws of s.running) {
        for (const ts of ws.processing) {
          s.taskFinished(ws.address, { key: ts.key, runId: ts.runId, nbytes: 8, type: 'number', duration: 0.01 }, 'scale-finished');
          progress = true;
          break;
        }
      }
    }
  }
  const after = settledHeap(gc);
  if (s.tasks.size !== n) throw new Error(`scheduler state: ${s.tasks.size} tasks held, expected ${n}`);
  return (after - before) / n;
}

function label(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const sizes = opts.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
  const dagSize = opts.quick ? 10_000 : 100_000;
  const gc = obtainGc();
  const log = (line: string): boolean => process.stderr.write(`# scale: ${line}\n`);

  const maps: MapFigures[] = [];
  let dag: { seconds: number; edges: number };
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: false });
  try {
    const client = await Client.connect(cluster);
    try {
      for (let round = 0; round < 2; round++) await measureMap(client, 5000, -10_000_000 * (round + 1), gc);
      await randomDagSeconds(client, 2000, 1);
      for (const [index, n] of sizes.entries()) {
        const figures = await measureMap(client, n, 100_000_000 * (index + 1), gc);
        log(`map ${label(n)}: submit ${figures.submitMs.toFixed(0)} ms, total ${figures.totalMs.toFixed(0)} ms, peak ${figures.peakBytesPerTask.toFixed(0)} B/task, retained ${figures.retainedBytesPerTask.toFixed(0)} B/task`);
        maps.push(figures);
      }
      dag = await randomDagSeconds(client, dagSize, 7);
      log(`random DAG ${label(dagSize)}: ${dag.seconds.toFixed(2)} s, ${dag.edges} edges`);
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }

  const schedulerBytes = new Map<number, number>();
  for (const n of sizes) schedulerBytes.set(n, schedulerBytesPerTask(n, gc));
  const pool = await piscinaThroughput({ tasks: opts.quick ? 20_000 : 100_000, inFlight: 10_000, threads: 2 });

  const rows: BenchRow[] = [];
  const memoryRow = (workload: string, bytes: number): BenchRow => ({
    group, workload, ours: bytes, baseline: KB, baselineName: 'budget', unit: 'B/task', higherIsBetter: false, target: '< 1 KB/task',
  });
  for (const m of maps) {
    const name = `map of ${label(m.n)}`;
    rows.push(
      { group, workload: `${name}: time to submit (map returns)`, ours: m.submitMs, baseline: 0, baselineName: '—', unit: 'ms', higherIsBetter: false },
      { group, workload: `${name}: submit -> all gathered`, ours: m.n / (m.totalMs / 1000), baseline: pool, baselineName: 'piscina', unit: 'tasks/s', higherIsBetter: true, target: '>= 15,000 tasks/s' },
      memoryRow(`${name}: main-thread heap, peak`, m.peakBytesPerTask),
      memoryRow(`${name}: main-thread heap, retained when done`, m.retainedBytesPerTask),
      memoryRow(`${name}: pure SchedulerState, ${label(m.n)} finished held`, schedulerBytes.get(m.n)!),
    );
  }
  rows.push({
    group,
    workload: `random DAG of ${label(dagSize)} (0-3 deps, ${dag.edges} edges): submit -> all done`,
    ours: dagSize / dag.seconds,
    baseline: pool,
    baselineName: 'piscina',
    unit: 'tasks/s',
    higherIsBetter: true,
  });
  const first = maps[0]!;
  const last = maps[maps.length - 1]!;
  const span = `${label(first.n)}→${label(last.n)}`;
  const perTaskMs = (m: MapFigures): number => m.totalMs / m.n;
  rows.push(
    { group, workload: `growth ${span}: time per task (end to end)`, ours: perTaskMs(last) / perTaskMs(first), baseline: 1, baselineName: 'linear', unit: '×', higherIsBetter: false },
    { group, workload: `growth ${span}: time per task to submit`, ours: last.submitMs / last.n / (first.submitMs / first.n), baseline: 1, baselineName: 'linear', unit: '×', higherIsBetter: false },
    { group, workload: `growth ${span}: peak heap per task`, ours: last.peakBytesPerTask / first.peakBytesPerTask, baseline: 1, baselineName: 'linear', unit: '×', higherIsBetter: false },
    { group, workload: `growth ${span}: retained heap per task`, ours: last.retainedBytesPerTask / first.retainedBytesPerTask, baseline: 1, baselineName: 'linear', unit: '×', higherIsBetter: false },
  );
  return rows;
}
