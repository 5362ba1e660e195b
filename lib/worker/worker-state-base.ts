/**
 * The worker's task records and their lifecycle (dask's sans-IO WorkerState,
 * first half): the base of WorkerState (worker-state.ts), which adds the
 * events, computing and peer transfers.
 *
 * Records move between states only through `transition`, which runs the
 * handler the worker-task table names for the edge (`WorkerStateBase.edges`,
 * bound one for one to machines/worker-task.ts); the handler does what
 * entering or leaving a state means and ends in `move`, which checks the edge,
 * logs it and tells the observer. A record lives while the scheduler counts on
 * it (`held`: asked to compute it, to hold a replica, or it is in memory here)
 * or while a local task that still has to run depends on it.
 *
 * Executions and transfers cannot be aborted: releasing such a task makes it
 * `cancelled` (its outcome is then dropped); asking for it again reverts that,
 * and asking for the opposite (compute vs fetch) makes it `resumed`.
 */
import { workerTaskTable, type WorkerTaskState } from '../../machines/worker-task.js';
import { StimulusLog, storyOf } from '../../machines/stimulus-log.js';
import { TransitionLog } from '../../machines/transition-log.js';
import type { ComputeTaskMsg, HeldBlob, RunSpec, SerializedError, StoryRecord, WorkerToScheduler } from '../protocol/messages.js';
import { storedBytes, type DataStore } from './spill-buffer.js';
import { PriorityHeap } from './priority-heap.js';
import { keyPrefix, PrefixDurations } from './prefix-durations.js';
import { addTo, hasAny, noItems } from './lazy-set.js';
import type { Instruction } from './state-events.js';
import { ShardedMap } from '../sharded-map.js';

export interface WorkerTask {
  readonly key: string;
  readonly prefix: string;
  state: WorkerTaskState;
  /** The scheduler counts on this record: compute it, hold a replica, or it is in memory here. */
  held: boolean;
  runId: number;
  runSpec: RunSpec | undefined;
  /** Lexicographic, smaller runs first (the scheduler's priority tuple). */
  priority: readonly number[];
  /** Arrival order, breaking priority ties. */
  seq: number;
  resources: Record<string, number> | undefined;
  // The four sets below are undefined until their first member (see lazy-set.ts).
  dependencies: Set<WorkerTask> | undefined;
  /** Local tasks that still have to run and read this one. */
  dependents: Set<WorkerTask> | undefined;
  /** Dependencies not in memory yet. */
  waitingForData: Set<WorkerTask> | undefined;
  /** Peers known to hold this key. */
  whoHas: Set<string> | undefined;
  nbytes: number;
  type: string | undefined;
  exception: SerializedError | undefined;
  /** What a cancelled/resumed task is still doing. */
  previous: 'executing' | 'long-running' | 'flight' | undefined;
  /** What a resumed task becomes once `previous` ends without a usable result. */
  next: 'fetch' | 'waiting' | undefined;
  /** A compute request that arrived while the key was in flight (applied if the transfer fails). */
  deferredCompute: ComputeTaskMsg | undefined;
  /** The execute instruction running it. */
  batchId: number | undefined;
  /** The peer it is being fetched from. */
  flightWorker: string | undefined;
  /** Matches the heap entry that is current; older entries are stale. */
  queueStamp: number;
}

export interface WorkerStateOptions {
  /** This worker's own address (never fetched from). */
  address: string;
  nthreads: number;
  resources?: Record<string, number>;
  /** Most tasks in one thread call (default 32). */
  maxBatchSize?: number;
  /** A prefix averaging under this many milliseconds is batched (default 1). */
  shortTaskMs?: number;
  /** Batches are filled up to about this many milliseconds of estimated work (default 2). */
  batchTargetMs?: number;
  /** Bytes asked of one peer in one get_data, beyond the first key (default 50 MB). */
  transferMessageBytesLimit?: number;
  /** Concurrent get_data calls to peers (default 50). */
  transferIncomingCountLimit?: number;
  /** Where values are kept (default a Map in RAM; a SpillBuffer moves them to disk past its target). */
  data?: DataStore;
  /** Stimuli and transitions kept for story(key) (default 10,000 each). */
  logSize?: number;
  /** Clock in ms for the logs (default performance.now). */
  now?: () => number;
}

export interface QueueEntry {
  task: WorkerTask;
  stamp: number;
  /** The task's priority when queued: the task's own may change (a new compute-task, or in memory) while a stale entry waits. */
  priority: readonly number[];
}

export interface Batch {
  remaining: number;
  resources: Record<string, number> | undefined;
  /** A task of it seceded: the batch no longer holds a thread slot. */
  seceded: boolean;
}

/** The priority of a task that is not waiting to run (in memory): a shared empty tuple. */
export const NO_PRIORITY: readonly number[] = Object.freeze([]) as readonly number[];

/** Lexicographic on the priority tuples, then arrival order. */
export function comparePriority(pa: readonly number[], seqA: number, pb: readonly number[], seqB: number): number {
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  }
  if (pa.length !== pb.length) return pa.length - pb.length;
  return seqA - seqB;
}

const entryBefore = (a: QueueEntry, b: QueueEntry): boolean => comparePriority(a.priority, a.task.seq, b.priority, b.task.seq) < 0;

/** The handler of one edge of the worker-task machine (`to` is the edge's target). */
type EdgeHandler = (s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState) => void;

export abstract class WorkerStateBase {
  readonly address: string;
  readonly nthreads: number;
  /** Sharded (sharded-map.ts): a million held results must not rehash one Map at once on a shared loop. */
  readonly tasks: Map<string, WorkerTask> = new ShardedMap<WorkerTask>();
  /** Told of every task state change; set only while a worker plugin wants them (lib/worker/plugins.ts). */
  transitionObserver: ((key: string, start: WorkerTaskState, finish: WorkerTaskState) => void) | undefined = undefined;
  /** Encoded values held here; `memoryBytes` is their total size. */
  readonly data: DataStore;
  memoryBytes = 0;
  /** Resources not taken by executing tasks. */
  readonly availableResources: Record<string, number>;
  readonly totalResources: Readonly<Record<string, number>>;
  readonly prefixDurations = new PrefixDurations();
  paused = false;

  protected readonly ready = new PriorityHeap<QueueEntry>(entryBefore);
  protected readonly constrained = new PriorityHeap<QueueEntry>(entryBefore);
  protected readonly batches = new Map<number, Batch>();
  /** Batches in `batches` that gave their slot back. */
  protected secededBatches = 0;
  /** Seceded tasks waiting for a slot, in request order. */
  protected readonly rejoinQueue: string[] = [];
  protected nextBatchId = 1;
  protected nextSeq = 0;
  protected nextStimulus = 0;
  /** Tasks in `fetch`, under every peer that holds them. */
  protected readonly fetchByWorker = new Map<string, Set<WorkerTask>>();
  /** Peers with a get_data outstanding. */
  protected readonly inFlightWorkers = new Set<string>();
  /** Peers that answered busy and are not to be asked again before their retry event. */
  protected readonly busyWorkers = new Set<string>();
  /** Busy answers in a row per peer, for back-off. */
  protected readonly busyAttempts = new Map<string, number>();
  protected readonly maxBatchSize: number;
  protected readonly shortTaskMs: number;
  protected readonly batchTargetMs: number;
  protected readonly transferMessageBytesLimit: number;
  protected readonly transferIncomingCountLimit: number;
  protected out: Instruction[] = [];
  protected fetchDirty = false;
  /** The last stimuli handled and transitions made, bounded: story(key). */
  readonly stimulusLog: StimulusLog;
  readonly transitionLog: TransitionLog<WorkerTaskState>;
  protected readonly now: () => number;
  /** Added to the clock's readings to make wall-clock ms (story). */
  protected readonly epoch: number;
  /** The event being handled (its stimulus id, or its op when it has none) and when the batch arrived. */
  protected stimulusId = '';
  protected stimulusTime = 0;

  constructor(options: WorkerStateOptions) {
    this.address = options.address;
    this.nthreads = options.nthreads;
    this.totalResources = { ...(options.resources ?? {}) };
    this.availableResources = { ...(options.resources ?? {}) };
    this.maxBatchSize = options.maxBatchSize ?? 32;
    this.shortTaskMs = options.shortTaskMs ?? 1;
    this.batchTargetMs = options.batchTargetMs ?? 2;
    this.transferMessageBytesLimit = options.transferMessageBytesLimit ?? 50e6;
    this.transferIncomingCountLimit = options.transferIncomingCountLimit ?? 50;
    this.data = options.data ?? new ShardedMap<HeldBlob>();
    this.stimulusLog = new StimulusLog(options.logSize ?? 10_000);
    this.transitionLog = new TransitionLog<WorkerTaskState>(options.logSize ?? 10_000);
    this.now = options.now ?? (() => performance.now());
    this.epoch = options.now === undefined ? performance.timeOrigin : 0;
  }

  /** What happened to `key` here, as far as the bounded logs remember: the events that named it and its transitions, oldest first. */
  story(key: string): StoryRecord[] {
    return storyOf(key, this.stimulusLog, this.transitionLog, this.address, this.epoch);
  }

  /** Thread slots taken: thread calls outstanding (each may carry several tasks) minus seceded ones. */
  get slotsInUse(): number {
    return this.batches.size - this.secededBatches;
  }

  /** Tasks in `executing` right now (diagnostics and tests: counts every record). */
  get executingCount(): number {
    let n = 0;
    for (const ts of this.tasks.values()) if (ts.state === 'executing') n++;
    return n;
  }

  /** Keys in memory here. */
  get keysInMemory(): string[] {
    return [...this.data.keys()];
  }

  /* ---------------------------------------------------------------- */
  /* records                                                           */
  /* ---------------------------------------------------------------- */

  protected ensureTask(key: string): WorkerTask {
    let ts = this.tasks.get(key);
    if (ts === undefined) {
      ts = {
        key,
        prefix: keyPrefix(key),
        state: 'released',
        held: false,
        runId: -1,
        runSpec: undefined,
        priority: [],
        seq: this.nextSeq++,
        resources: undefined,
        dependencies: undefined,
        dependents: undefined,
        waitingForData: undefined,
        whoHas: undefined,
        nbytes: 0,
        type: undefined,
        exception: undefined,
        previous: undefined,
        next: undefined,
        deferredCompute: undefined,
        batchId: undefined,
        flightWorker: undefined,
        queueStamp: 0,
      };
      this.tasks.set(key, ts);
    }
    return ts;
  }

  /** Runs the handler the worker-task table names for `ts.state -> to`; throws InvalidTransitionError for an edge the machine lacks. */
  protected transition(ts: WorkerTask, to: WorkerTaskState): void {
    const handler = WorkerStateBase.edges.handler(ts.state, to);
    if (handler === undefined) workerTaskTable.move(ts.state, to, ts.key); // throws
    else handler(this, ts, to);
  }

  /** Every change of a record's state ends here: checked against the machine, logged, observed. */
  protected move(ts: WorkerTask, to: WorkerTaskState): void {
    const from = ts.state;
    ts.state = workerTaskTable.move(from, to, ts.key);
    this.transitionLog.record(ts.key, from, to, this.stimulusId, this.stimulusTime);
    if (this.transitionObserver !== undefined) this.transitionObserver(ts.key, from, to);
  }

  /** An edge with nothing to do but the move. */
  /** An edge with nothing to do but the move. */
  protected static plain(s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState): void {
    s.move(ts, to);
  }

  /** Into `fetch`: queued under every peer that holds it. */
  protected static toFetch(s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState): void {
    s.move(ts, to);
    s.addToFetchQueues(ts);
  }

  /** Out of `fetch`: off every peer's queue. */
  protected static fromFetch(s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState): void {
    s.removeFromFetchQueues(ts);
    s.move(ts, to);
  }

  /** Into `ready` or `constrained`: onto its heap (a fresh stamp makes older entries stale). */
  protected static toComputeQueue(s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState): void {
    const stamp = ++ts.queueStamp;
    s.move(ts, to);
    (to === 'ready' ? s.ready : s.constrained).push({ task: ts, stamp, priority: ts.priority });
  }

  /** An execution or transfer cannot be aborted: the release is remembered until it ends. */
  protected static toCancelled(s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState): void {
    ts.previous = ts.state as 'executing' | 'long-running' | 'flight';
    s.move(ts, to);
  }

  protected static uncancel(s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState): void {
    s.move(ts, to);
    ts.previous = undefined;
  }

  /** Nothing counts on it any more: the record goes. */
  protected static toForgotten(s: WorkerStateBase, ts: WorkerTask, to: WorkerTaskState): void {
    s.move(ts, to);
    s.tasks.delete(ts.key);
  }

  /**
   * dask's `WorkerState._TRANSITIONS_TABLE`: the handler of every edge of the
   * worker-task machine (machines/worker-task.ts), checked against it one for
   * one at load. The event code picks the edge; the handler does what entering
   * or leaving a state means (fetch queues, ready heaps, what a cancelled task
   * was doing, dropping its data or its record).
   */
  static readonly edges = workerTaskTable.dispatch<EdgeHandler>({
    released: { error: WorkerStateBase.plain, fetch: WorkerStateBase.toFetch, forgotten: WorkerStateBase.toForgotten, memory: WorkerStateBase.plain, missing: WorkerStateBase.plain, waiting: WorkerStateBase.plain },
    waiting: { constrained: WorkerStateBase.toComputeQueue, ready: WorkerStateBase.toComputeQueue, released: WorkerStateBase.plain },
    ready: { executing: WorkerStateBase.plain, released: WorkerStateBase.plain },
    constrained: { executing: WorkerStateBase.plain, released: WorkerStateBase.plain },
    executing: { error: WorkerStateBase.plain, 'long-running': WorkerStateBase.plain, memory: WorkerStateBase.plain, released: WorkerStateBase.plain, cancelled: WorkerStateBase.toCancelled },
    'long-running': { error: WorkerStateBase.plain, memory: WorkerStateBase.plain, released: WorkerStateBase.plain, cancelled: WorkerStateBase.toCancelled },
    fetch: { flight: WorkerStateBase.fromFetch, missing: WorkerStateBase.fromFetch, released: WorkerStateBase.fromFetch },
    flight: { error: WorkerStateBase.plain, fetch: WorkerStateBase.toFetch, memory: WorkerStateBase.plain, missing: WorkerStateBase.plain, released: WorkerStateBase.plain, cancelled: WorkerStateBase.toCancelled },
    missing: { error: WorkerStateBase.plain, fetch: WorkerStateBase.toFetch, released: WorkerStateBase.plain, waiting: WorkerStateBase.plain },
    memory: { released: (s, ts, to) => { s.dropData(ts); s.move(ts, to); } },
    error: { released: WorkerStateBase.plain },
    cancelled: {
      error: WorkerStateBase.plain,
      fetch: WorkerStateBase.toFetch,
      memory: WorkerStateBase.plain,
      missing: WorkerStateBase.plain,
      waiting: WorkerStateBase.plain,
      resumed: WorkerStateBase.plain,
      // Asked again for what is in progress: the cancellation is forgotten.
      executing: WorkerStateBase.uncancel,
      'long-running': WorkerStateBase.uncancel,
      flight: WorkerStateBase.uncancel,
      // The execution or transfer ended: its outcome is dropped.
      released: (s, ts, to) => {
        ts.previous = undefined;
        ts.flightWorker = undefined;
        s.move(ts, to);
      },
    },
    resumed: {
      error: WorkerStateBase.plain,
      fetch: WorkerStateBase.toFetch,
      'long-running': WorkerStateBase.plain,
      memory: WorkerStateBase.plain,
      flight: WorkerStateBase.plain,
      // What was in progress ended without a usable result: `next` is decided by afterReleased.
      released: (s, ts, to) => {
        ts.previous = undefined;
        ts.next = undefined;
        s.move(ts, to);
      },
      // Released again: the pending request is dropped, what is in progress goes on cancelled.
      cancelled: (s, ts, to) => {
        s.move(ts, to);
        ts.next = undefined;
        ts.deferredCompute = undefined;
      },
    },
  });

  protected send(msg: WorkerToScheduler): void {
    this.out.push({ kind: 'send-to-scheduler', msg });
  }

  protected stimulus(what: string): string {
    return `${what}-${this.nextStimulus++}`;
  }

  /* ---------------------------------------------------------------- */
  /* waiting for dependencies                                          */
  /* ---------------------------------------------------------------- */

  /** From released or missing: link dependencies, fetch what is not here, queue when all are. */
  protected toWaiting(ts: WorkerTask, msg: ComputeTaskMsg): void {
    ts.exception = undefined;
    ts.runSpec = msg.runSpec;
    ts.priority = msg.priority;
    ts.resources = msg.resources !== undefined && Object.keys(msg.resources).length > 0 ? msg.resources : undefined;
    for (const depKey of Object.keys(msg.whoHas)) {
      const dep = this.ensureTask(depKey);
      const n = msg.nbytes[depKey];
      if (n !== undefined) dep.nbytes = n;
      for (const holder of msg.whoHas[depKey]!) this.addHolder(dep, holder);
      ts.dependencies = addTo(ts.dependencies, dep);
      dep.dependents = addTo(dep.dependents, ts);
      if (dep.state !== 'memory') {
        ts.waitingForData = addTo(ts.waitingForData, dep);
        this.needData(dep);
      }
    }
    this.transition(ts, 'waiting');
    if (!hasAny(ts.waitingForData)) this.transition(ts, ts.resources !== undefined ? 'constrained' : 'ready');
  }

  /** A dependency that is not in memory: make sure something is bringing it here. */
  protected needData(dep: WorkerTask): void {
    switch (dep.state) {
      case 'released':
        this.requestFetch(dep);
        return;
      case 'missing':
        if (hasAny(dep.whoHas)) this.transition(dep, 'fetch');
        return;
      case 'cancelled':
        if (dep.previous === 'flight') {
          this.transition(dep, 'flight');
        } else {
          this.transition(dep, 'resumed');
          dep.next = 'fetch';
        }
        return;
      case 'resumed':
        // Executing (its result will be used) or in flight with a compute request pending
        // (the fetched value answers both): on its way either way.
        return;
      case 'error':
        // The scheduler sent a dependent of a failed task; it will sort this out.
        return;
      default:
        // fetch, flight, waiting, ready, constrained, executing, long-running: on its way.
        return;
    }
  }

  /** From released: fetch when a peer holds it, else missing. */
  protected requestFetch(ts: WorkerTask): void {
    this.transition(ts, hasAny(ts.whoHas) ? 'fetch' : 'missing');
  }

  protected addHolder(ts: WorkerTask, holder: string): void {
    if (holder === this.address || ts.whoHas?.has(holder) === true) return;
    ts.whoHas = addTo(ts.whoHas, holder);
    if (ts.state === 'fetch') this.addToFetchQueue(ts, holder);
  }

  /* ---------------------------------------------------------------- */
  /* release                                                           */
  /* ---------------------------------------------------------------- */

  /** The scheduler no longer counts on this key here. */
  protected free(key: string): void {
    const ts = this.tasks.get(key);
    if (ts === undefined) return;
    ts.held = false;
    this.releaseIfUnneeded(ts);
  }

  protected releaseIfUnneeded(ts: WorkerTask): void {
    if (ts.held || hasAny(ts.dependents)) return;
    this.release(ts);
  }

  protected release(ts: WorkerTask): void {
    switch (ts.state) {
      case 'executing':
      case 'long-running':
      case 'flight':
      case 'resumed':
        this.transition(ts, 'cancelled');
        return;
      case 'cancelled':
      case 'forgotten':
        return;
      case 'released':
        break;
      default:
        this.transition(ts, 'released');
        break;
    }
    this.afterReleased(ts);
  }

  /** A record just reached `released`: refetch for waiting dependents, recompute if asked, or forget it. */
  protected afterReleased(ts: WorkerTask): void {
    ts.runSpec = ts.held ? ts.runSpec : undefined;
    this.releaseDependencies(ts);
    if (ts.deferredCompute !== undefined) {
      const msg = ts.deferredCompute;
      ts.deferredCompute = undefined;
      this.toWaiting(ts, msg);
      return;
    }
    if (hasAny(ts.dependents)) {
      for (const dependent of ts.dependents) {
        if (dependent.state === 'waiting') dependent.waitingForData = addTo(dependent.waitingForData, ts);
      }
      this.requestFetch(ts);
      return;
    }
    if (ts.held) {
      // Asked to hold a replica that we could not get: keep looking.
      this.requestFetch(ts);
      return;
    }
    this.transition(ts, 'forgotten');
  }

  /** A cancelled execution or transfer ended: drop its outcome. */
  protected finishCancelled(ts: WorkerTask): void {
    this.transition(ts, 'released');
    this.afterReleased(ts);
  }

  /** `ts` no longer needs its dependencies; those nobody else needs are released. */
  protected releaseDependencies(ts: WorkerTask): void {
    const deps = ts.dependencies;
    if (deps === undefined) return;
    ts.dependencies = undefined;
    ts.waitingForData = undefined;
    for (const dep of deps) {
      dep.dependents?.delete(ts);
      if (hasAny(dep.dependents)) continue;
      dep.dependents = undefined;
      if (!dep.held) this.release(dep);
    }
  }

  protected dropData(ts: WorkerTask): void {
    const bytes = storedBytes(this.data, ts.key);
    if (this.data.delete(ts.key)) this.memoryBytes -= bytes;
  }

  /* ---------------------------------------------------------------- */
  /* peer transfers                                                    */
  /* ---------------------------------------------------------------- */

  protected addToFetchQueues(ts: WorkerTask): void {
    for (const holder of ts.whoHas ?? noItems) this.addToFetchQueue(ts, holder);
  }

  protected addToFetchQueue(ts: WorkerTask, holder: string): void {
    let queue = this.fetchByWorker.get(holder);
    if (queue === undefined) {
      queue = new Set();
      this.fetchByWorker.set(holder, queue);
    }
    queue.add(ts);
    this.fetchDirty = true;
  }

  protected removeFromFetchQueues(ts: WorkerTask): void {
    for (const holder of ts.whoHas ?? noItems) {
      const queue = this.fetchByWorker.get(holder);
      if (queue === undefined) continue;
      queue.delete(ts);
      if (queue.size === 0) this.fetchByWorker.delete(holder);
    }
  }
}
