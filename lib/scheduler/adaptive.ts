/**
 * Adaptive scaling, the pure policy (dask's `Scheduler.adaptive_target` and
 * `AdaptiveCore.recommendations`):
 * - `adaptiveInputs` reads what the scheduler sees (queued and running work,
 *   the durations it knows per task prefix, memory held);
 * - `adaptiveTarget` turns that into a worker count;
 * - `recommend` decides, for a cluster, whether to start workers, retire some
 *   (only those idle for `wait`), or do nothing.
 * The cluster's Adaptive loop (actors/adaptive.ts) only moves messages.
 */
import type { SchedulerState } from './state.js';

export interface AdaptiveInputs {
  /** Registered workers (any status but closed). */
  workers: number;
  totalThreads: number;
  /** Expected ms of every processing task (the workers' occupancy). */
  occupancyMs: number;
  /** Expected ms of the tasks waiting for a worker (queued and no-worker). */
  queuedMs: number;
  /** Tasks that could run now or run already: queued + no-worker + processing. */
  runnable: number;
  /** Bytes held by workers, and the sum of their memory limits (0: unlimited). */
  storedBytes: number;
  memoryLimit: number;
}

/** Sampled to estimate the queue's work when it is long (dask looks at 100). */
const SAMPLE = 100;

export function adaptiveInputs(state: SchedulerState): AdaptiveInputs {
  let occupancyMs = 0;
  let processing = 0;
  let storedBytes = 0;
  let memoryLimit = 0;
  let unlimited = false;
  for (const ws of state.running) {
    occupancyMs += ws.occupancy;
    processing += ws.processing.size;
    storedBytes += ws.nbytes;
    if (ws.memoryLimit > 0) memoryLimit += ws.memoryLimit;
    else unlimited = true;
  }
  const waiting = state.queued.size + state.unrunnable.size;
  let queuedMs = 0;
  if (waiting > 0) {
    // A sample of the queue (the head of the queue and the unrunnable set), scaled up to the whole.
    const sample: string[] = [];
    const head = state.queued.peek();
    if (head !== undefined) sample.push(head.key);
    if (state.queued.size <= SAMPLE) for (const ts of state.queued.values()) sample.push(ts.key);
    for (const ts of state.unrunnable) {
      if (sample.length >= SAMPLE) break;
      sample.push(ts.key);
    }
    let sampledMs = 0;
    for (const key of sample) sampledMs += state.expectedDuration(key);
    queuedMs = (sampledMs / sample.length) * waiting;
  }
  return {
    workers: state.running.length,
    totalThreads: state.totalNthreads,
    occupancyMs,
    queuedMs,
    runnable: waiting + processing,
    storedBytes,
    memoryLimit: unlimited ? 0 : memoryLimit,
  };
}

export interface TargetOptions {
  /** Work each thread should have at most, ms (dask's target-duration, default 5 s). */
  targetDurationMs: number;
  /** Threads of a worker this cluster would start (used while there are no workers to average). */
  threadsPerWorker: number;
}

/**
 * Workers wanted: enough threads that the known work would finish within
 * `targetDurationMs`, never more threads than tasks that could run; twice the
 * workers when they hold over 60% of their memory limit; at least one while
 * any task waits.
 */
export function adaptiveTarget(inputs: AdaptiveInputs, options: TargetOptions): number {
  const target = Math.max(1, options.targetDurationMs);
  let cores = Math.ceil((inputs.occupancyMs + inputs.queuedMs) / target);
  cores = Math.min(cores, inputs.runnable);
  const threadsPerWorker = inputs.workers > 0 && inputs.totalThreads > 0 ? inputs.totalThreads / inputs.workers : Math.max(1, options.threadsPerWorker);
  let cpu = Math.ceil(cores / threadsPerWorker);
  if (inputs.runnable > 0) cpu = Math.max(cpu, 1);
  const memory = inputs.memoryLimit > 0 && inputs.storedBytes > 0.6 * inputs.memoryLimit ? 2 * inputs.workers : 0;
  return Math.max(cpu, memory);
}

export interface ObservedWorker {
  address: string;
  /** Tasks assigned to it right now. */
  processing: number;
  nbytes: number;
}

export interface RecommendInput {
  target: number;
  minimum: number;
  maximum: number;
  /** Workers the cluster started or is starting. */
  planned: number;
  /** Workers registered with the scheduler. */
  observed: readonly ObservedWorker[];
  /** When each worker was first seen idle (without a task), ms; from the previous call. */
  idleSince: ReadonlyMap<string, number>;
  now: number;
  /** Only workers idle this long may be retired, ms. */
  waitMs: number;
}

export type Recommendation =
  | { action: 'same' }
  | { action: 'up'; n: number }
  | { action: 'down'; workers: string[] };

/**
 * One adaptive step. Scale up at once to the clamped target; scale down only
 * while no started worker is still on its way (no churn), and only workers
 * that have been idle for `waitMs`, the ones holding the fewest bytes first.
 * Also returns the updated idle clocks for the next call.
 */
export function recommend(input: RecommendInput): { recommendation: Recommendation; idleSince: Map<string, number> } {
  const idleSince = new Map<string, number>();
  for (const ws of input.observed) {
    if (ws.processing === 0) idleSince.set(ws.address, input.idleSince.get(ws.address) ?? input.now);
  }
  const maximum = Math.max(input.minimum, input.maximum);
  const target = Math.min(maximum, Math.max(input.minimum, input.target));
  if (target > input.planned) return { recommendation: { action: 'up', n: target }, idleSince };
  if (target === input.planned || input.observed.length < input.planned) return { recommendation: { action: 'same' }, idleSince };
  const excess = input.planned - target;
  const candidates = input.observed
    .filter((ws) => {
      const since = idleSince.get(ws.address);
      return since !== undefined && input.now - since >= input.waitMs;
    })
    .sort((a, b) => a.nbytes - b.nbytes)
    .slice(0, excess)
    .map((ws) => ws.address);
  if (candidates.length === 0) return { recommendation: { action: 'same' }, idleSince };
  return { recommendation: { action: 'down', workers: candidates }, idleSince };
}
