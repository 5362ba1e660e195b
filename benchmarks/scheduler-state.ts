/**
 * The scheduler's pure state on its own (no comms, no workers): what one task
 * costs the scheduler, and what a finished task costs in memory.
 *
 * - Lifecycle: a 20,000-task map on 4 workers × 2 threads, every task going
 *   update-graph -> compute-task -> task-finished -> client release (forgotten,
 *   free-keys). Workers report one task at a time, as a real worker's stream
 *   would, so root-task queuing and slot refills are part of the cost.
 * - Memory: heap held per finished task while N small results stay wanted
 *   (record, key, holders, wanters, the task's RunSpec with a 16-byte args Blob).
 *   Method: force full GCs (global.gc; if node was not started with
 *   --expose-gc, the flag is switched on at run time and gc is taken from a
 *   fresh context), then heapUsed after building the tasks minus heapUsed
 *   before, divided by N. The args Blob's bytes live outside the heap on
 *   some Node versions; its Uint8Array object is counted.
 */
import { performance } from 'node:perf_hooks';
import { SchedulerState } from '../lib/scheduler/state.js';
import { obtainGc, settledHeap } from './heap.js';
import type { GraphTask, RunSpec } from '../lib/protocol/messages.js';
import type { BenchRow } from './report.js';

const FN: RunSpec['fn'] = { kind: 'source', source: 'function inc(x) { return x + 1; }', name: 'inc' };

function flatString(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

function graph(from: number, count: number): { tasks: GraphTask[]; keys: string[] } {
  const tasks: GraphTask[] = new Array(count);
  const keys: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    // Keys arrive decoded from the wire as flat strings; a template literal would make a
    // cons-string (two heap objects), so flatten it as a decoder would.
    const key = flatString(`inc-${(from + i).toString(16).padStart(32, '0')}`);
    keys[i] = key;
    tasks[i] = { key, dependencies: [], runSpec: { fn: FN, args: new Uint8Array(16) } };
  }
  return { tasks, keys };
}

function newState(workers: number, nthreads: number): SchedulerState {
  const s = new SchedulerState();
  for (let w = 0; w < workers; w++) s.addWorker({ address: `inproc://bench/${w}`, nthreads }, `add-${w}`);
  return s;
}

/** Finishes everything processing, one task-finished per stimulus, until nothing is left. */
function drain(s: SchedulerState, durationMs: number): number {
  let finished = 0;
  let progress = true;
  while (progress) {
    progress = false;
    for (const ws of s.running) {
      for (const ts of ws.processing) {
        s.taskFinished(ws.address, { key: ts.key, runId: ts.runId, nbytes: 8, type: 'number', duration: durationMs }, 'bench-finished');
        finished += 1;
        progress = true;
        break;
      }
    }
  }
  return finished;
}

function lifecycle(n: number): number {
  const s = newState(4, 2);
  const { tasks, keys } = graph(0, n);
  const t0 = performance.now();
  s.updateGraph('bench-client', tasks, keys, 'bench-update');
  const finished = drain(s, 0.01);
  s.clientReleasesKeys('bench-client', keys, 'bench-release');
  const ms = performance.now() - t0;
  if (finished !== n || s.tasks.size !== 0) throw new Error(`lifecycle: finished ${finished}/${n}, ${s.tasks.size} left`);
  return ms;
}

function heapPerFinishedTask(n: number): number {
  const gc = obtainGc();
  const s = newState(4, 2);
  const before = settledHeap(gc);
  const batch = 10_000;
  for (let from = 0; from < n; from += batch) {
    const { tasks, keys } = graph(from, Math.min(batch, n - from));
    s.updateGraph('bench-client', tasks, keys, 'bench-update');
    drain(s, 0.01);
  }
  const after = settledHeap(gc);
  if (s.tasks.size !== n) throw new Error(`memory: ${s.tasks.size} tasks held, expected ${n}`);
  return (after - before) / n;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const n = 20_000;
  lifecycle(n); // warm-up: JIT and inline caches
  const rounds = opts.quick ? 2 : 5;
  let best = Infinity;
  for (let r = 0; r < rounds; r++) best = Math.min(best, lifecycle(n));
  const tasksPerSecond = n / (best / 1000);
  const held = opts.quick ? 100_000 : 1_000_000;
  const bytesPerTask = heapPerFinishedTask(held);
  return [
    {
      group: 'scheduler',
      workload: `pure state: ${n.toLocaleString('en-US')}-task map, submit -> finish -> release`,
      ours: tasksPerSecond,
      baseline: 5000,
      baselineName: 'dask scheduler, ~200 µs/task (docs)',
      unit: 'tasks/s',
      higherIsBetter: true,
      target: '≥ 100,000 tasks/s (< 10 µs/task)',
    },
    {
      group: 'scheduler',
      workload: `heap per finished task, ${held.toLocaleString('en-US')} held`,
      ours: bytesPerTask,
      baseline: 1024,
      baselineName: 'budget',
      unit: 'B/task',
      higherIsBetter: false,
      target: '< 1 KB/task',
    },
  ];
}
