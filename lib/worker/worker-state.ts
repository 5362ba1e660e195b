/**
 * Everything a worker knows about its tasks, and every decision it makes,
 * with no I/O (dask's sans-IO WorkerState): `handle(...events)` mutates plain
 * task records and returns the instructions the actor must carry out.
 *
 * Records move between states only through `workerTaskTable.move` (an illegal
 * move throws). A record lives while the scheduler counts on it (`held`: asked
 * to compute it, to hold a replica, or it is in memory here) or while a local
 * task that still has to run depends on it.
 *
 * Executions and transfers cannot be aborted: releasing such a task makes it
 * `cancelled` (its outcome is then dropped); asking for it again reverts that,
 * and asking for the opposite (compute vs fetch) makes it `resumed`.
 *
 * Throughput: at most `nthreads` execute instructions are outstanding. Ready
 * tasks whose key prefix is known to take under `shortTaskMs` go several to
 * one instruction (one thread call), filling about `batchTargetMs`.
 */
import { workerTaskTable, type WorkerTaskState } from '../../machines/worker-task.js';
import type { AddKeysMsg, Blob, ComputeTaskMsg, RunSpec, SerializedError, TaskErredFromWorkerMsg, TaskFinishedMsg, WorkerToScheduler } from '../protocol/messages.js';
import type { TaskToRun } from './execute.js';
import { INLINE_RESULT_BYTES, inlineValue } from '../protocol/inline-results.js';
import { storedBytes, type DataStore } from './spill-buffer.js';
import { PriorityHeap } from './priority-heap.js';
import { keyPrefix, PrefixDurations } from './prefix-durations.js';
import { addTo, hasAny, noItems } from './lazy-set.js';
import type {
  ExecuteFailureEvent,
  ExecuteSuccessEvent,
  GatherDepBusyEvent,
  GatherDepFailureEvent,
  GatherDepSuccessEvent,
  Instruction,
  UpdateDataEvent,
  WorkerEvent,
} from './state-events.js';

export interface WorkerTask {
  readonly key: string;
  readonly prefix: string;
  state: WorkerTaskState;
  /** The scheduler counts on this record: compute it, hold a replica, or it is in memory here. */
  held: boolean;
  runId: number;
  runSpec: RunSpec | undefined;
  /** Lexicographic, smaller runs first (the scheduler's priority tuple). */
  priority: number[];
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
}

interface QueueEntry {
  task: WorkerTask;
  stamp: number;
}

interface Batch {
  remaining: number;
  resources: Record<string, number> | undefined;
  /** A task of it seceded: the batch no longer holds a thread slot. */
  seceded: boolean;
}

const computeQueueStates: ReadonlySet<WorkerTaskState> = new Set(['waiting', 'ready', 'constrained']);

function comparePriority(a: WorkerTask, b: WorkerTask): number {
  const pa = a.priority;
  const pb = b.priority;
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  }
  if (pa.length !== pb.length) return pa.length - pb.length;
  return a.seq - b.seq;
}

const entryBefore = (a: QueueEntry, b: QueueEntry): boolean => comparePriority(a.task, b.task) < 0;

function fail(event: { op: string }, what: string): never {
  throw new TypeError(`${event.op}: ${what}`);
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((k) => typeof k === 'string');
}

function isWhoHas(x: unknown): x is Record<string, string[]> {
  return typeof x === 'object' && x !== null && Object.values(x).every(isStringArray);
}

/** Shape checks for what arrives from other processes, before anything changes. */
function validateEvent(event: WorkerEvent): void {
  if (typeof event !== 'object' || event === null) throw new TypeError(`WorkerState: event must be an object, got ${String(event)}`);
  switch (event.op) {
    case 'compute-task': {
      if (typeof event.key !== 'string') fail(event, 'key must be a string');
      if (typeof event.runId !== 'number') fail(event, `runId of ${event.key} must be a number`);
      const spec = event.runSpec as Partial<RunSpec> | undefined;
      if (typeof spec !== 'object' || spec === null || typeof spec.fn !== 'object' || !(spec.args instanceof Uint8Array)) {
        fail(event, `runSpec of ${event.key} must be { fn, args: bytes }`);
      }
      if (!isWhoHas(event.whoHas)) fail(event, `whoHas of ${event.key} must map keys to address arrays`);
      if (typeof event.nbytes !== 'object' || event.nbytes === null) fail(event, `nbytes of ${event.key} must be an object`);
      if (!Array.isArray(event.priority) || !event.priority.every((p) => typeof p === 'number')) {
        fail(event, `priority of ${event.key} must be an array of numbers`);
      }
      return;
    }
    case 'free-keys':
    case 'remove-replicas':
      if (!isStringArray(event.keys)) fail(event, 'keys must be an array of strings');
      return;
    case 'cancel-compute':
    case 'steal-request':
    case 'secede':
    case 'rejoin':
      if (typeof event.key !== 'string') fail(event, 'key must be a string');
      return;
    case 'acquire-replicas':
      if (!isWhoHas(event.whoHas)) fail(event, 'whoHas must map keys to address arrays');
      if (typeof event.nbytes !== 'object' || event.nbytes === null) fail(event, 'nbytes must be an object');
      return;
    case 'update-data':
      if (typeof event.data !== 'object' || event.data === null || !Object.values(event.data).every((v) => v instanceof Uint8Array)) {
        fail(event, 'data must map keys to bytes');
      }
      return;
    default:
      return;
  }
}

export class WorkerState {
  readonly address: string;
  readonly nthreads: number;
  readonly tasks = new Map<string, WorkerTask>();
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

  private readonly ready = new PriorityHeap<QueueEntry>(entryBefore);
  private readonly constrained = new PriorityHeap<QueueEntry>(entryBefore);
  private readonly batches = new Map<number, Batch>();
  /** Batches in `batches` that gave their slot back. */
  private secededBatches = 0;
  /** Seceded tasks waiting for a slot, in request order. */
  private readonly rejoinQueue: string[] = [];
  private nextBatchId = 1;
  private nextSeq = 0;
  private nextStimulus = 0;
  /** Tasks in `fetch`, under every peer that holds them. */
  private readonly fetchByWorker = new Map<string, Set<WorkerTask>>();
  /** Peers with a get_data outstanding. */
  private readonly inFlightWorkers = new Set<string>();
  /** Peers that answered busy and are not to be asked again before their retry event. */
  private readonly busyWorkers = new Set<string>();
  /** Busy answers in a row per peer, for back-off. */
  private readonly busyAttempts = new Map<string, number>();
  private readonly maxBatchSize: number;
  private readonly shortTaskMs: number;
  private readonly batchTargetMs: number;
  private readonly transferMessageBytesLimit: number;
  private readonly transferIncomingCountLimit: number;
  private out: Instruction[] = [];
  private fetchDirty = false;

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
    this.data = options.data ?? new Map<string, Blob>();
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

  /**
   * Applies the events in order and returns what to do. An event that is
   * malformed or illegal here does not stop the others: it yields an
   * `event-failed` instruction (checked before any record changes).
   */
  handle(...events: WorkerEvent[]): Instruction[] {
    this.out = [];
    for (const event of events) {
      try {
        validateEvent(event);
        this.handleOne(event);
      } catch (error) {
        this.out.push({ kind: 'event-failed', op: String((event as { op?: unknown } | null)?.op), error });
      }
    }
    this.ensureCommunicating();
    this.ensureComputing();
    const instructions = this.out;
    this.out = [];
    return instructions;
  }

  private handleOne(event: WorkerEvent): void {
    switch (event.op) {
      case 'compute-task':
        return this.computeTask(event);
      case 'free-keys':
        for (const key of event.keys) this.free(key);
        return;
      case 'cancel-compute': {
        const ts = this.tasks.get(event.key);
        if (ts !== undefined && computeQueueStates.has(ts.state)) this.free(event.key);
        return;
      }
      case 'acquire-replicas':
        return this.acquireReplicas(event.whoHas, event.nbytes);
      case 'remove-replicas':
        return this.removeReplicas(event.keys, event.stimulusId);
      case 'steal-request':
        return this.stealRequest(event.key, event.stimulusId);
      case 'execute-success':
        return this.executeSuccess(event);
      case 'execute-failure':
        return this.executeFailure(event);
      case 'gather-dep-success':
        return this.gatherDepSuccess(event);
      case 'gather-dep-busy':
        return this.gatherDepBusy(event);
      case 'gather-dep-failure':
        return this.gatherDepFailure(event);
      case 'retry-busy-worker':
        this.busyWorkers.delete(event.worker);
        this.fetchDirty = true;
        return;
      case 'update-data':
        return this.updateData(event);
      case 'secede':
        return this.secede(event.key, event.stimulusId);
      case 'rejoin':
        this.rejoinQueue.push(event.key);
        return;
      case 'pause':
        if (!this.paused) {
          this.paused = true;
          this.send({ op: 'worker-status-change', status: 'paused', stimulusId: event.stimulusId ?? this.stimulus('pause') });
        }
        return;
      case 'unpause':
        if (this.paused) {
          this.paused = false;
          this.fetchDirty = true;
          this.send({ op: 'worker-status-change', status: 'running', stimulusId: event.stimulusId ?? this.stimulus('unpause') });
        }
        return;
      default: {
        const unknown: never = event;
        throw new TypeError(`WorkerState: unknown event ${JSON.stringify((unknown as { op?: unknown }).op)}`);
      }
    }
  }

  /* ---------------------------------------------------------------- */
  /* records                                                           */
  /* ---------------------------------------------------------------- */

  private ensureTask(key: string): WorkerTask {
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

  private move(ts: WorkerTask, to: WorkerTaskState): void {
    const from = ts.state;
    ts.state = workerTaskTable.move(from, to, ts.key);
    if (this.transitionObserver !== undefined) this.transitionObserver(ts.key, from, to);
  }

  private send(msg: WorkerToScheduler): void {
    this.out.push({ kind: 'send-to-scheduler', msg });
  }

  private stimulus(what: string): string {
    return `${what}-${this.nextStimulus++}`;
  }

  /* ---------------------------------------------------------------- */
  /* compute                                                           */
  /* ---------------------------------------------------------------- */

  private computeTask(msg: ComputeTaskMsg): void {
    const ts = this.ensureTask(msg.key);
    ts.held = true;
    ts.runId = msg.runId;
    switch (ts.state) {
      case 'memory':
        this.send(this.finishedMsg(ts, 0, msg.stimulusId));
        return;
      case 'waiting':
        // Perhaps sent again with new holders for dependencies that went missing.
        for (const depKey of Object.keys(msg.whoHas)) {
          const dep = this.tasks.get(depKey);
          if (dep === undefined || ts.dependencies?.has(dep) !== true) continue;
          for (const holder of msg.whoHas[depKey]!) this.addHolder(dep, holder);
          if (dep.state === 'missing') this.needData(dep);
        }
        return;
      case 'ready':
      case 'constrained':
      case 'executing':
      case 'long-running':
        return;
      case 'cancelled':
        if (ts.previous === 'flight') {
          this.move(ts, 'resumed');
          ts.next = 'waiting';
          ts.deferredCompute = msg;
        } else {
          this.move(ts, ts.previous ?? 'executing');
          ts.previous = undefined;
        }
        return;
      case 'resumed':
        if (ts.next === 'fetch') {
          // It is still executing here: let that finish and report it.
          this.move(ts, 'cancelled');
          this.move(ts, ts.previous ?? 'executing');
          ts.previous = undefined;
          ts.next = undefined;
        } else {
          ts.deferredCompute = msg;
        }
        return;
      case 'flight':
        this.move(ts, 'cancelled');
        ts.previous = 'flight';
        this.move(ts, 'resumed');
        ts.next = 'waiting';
        ts.deferredCompute = msg;
        return;
      case 'fetch':
        this.removeFromFetchQueues(ts);
        this.move(ts, 'released');
        break;
      case 'error':
      case 'rescheduled':
        this.move(ts, 'released');
        break;
      case 'missing':
      case 'released':
        break;
      case 'forgotten':
        throw new Error(`WorkerState: forgotten task ${ts.key} still in the table`);
    }
    this.toWaiting(ts, msg);
  }

  /** From released or missing: link dependencies, fetch what is not here, queue when all are. */
  private toWaiting(ts: WorkerTask, msg: ComputeTaskMsg): void {
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
    this.move(ts, 'waiting');
    if (!hasAny(ts.waitingForData)) this.enqueue(ts);
  }

  /** A dependency that is not in memory: make sure something is bringing it here. */
  private needData(dep: WorkerTask): void {
    switch (dep.state) {
      case 'released':
        this.requestFetch(dep);
        return;
      case 'missing':
        if (hasAny(dep.whoHas)) {
          this.move(dep, 'fetch');
          this.addToFetchQueues(dep);
        }
        return;
      case 'cancelled':
        if (dep.previous === 'flight') {
          this.move(dep, 'flight');
          dep.previous = undefined;
        } else {
          this.move(dep, 'resumed');
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
  private requestFetch(ts: WorkerTask): void {
    if (hasAny(ts.whoHas)) {
      this.move(ts, 'fetch');
      this.addToFetchQueues(ts);
    } else {
      this.move(ts, 'missing');
    }
  }

  private addHolder(ts: WorkerTask, holder: string): void {
    if (holder === this.address || ts.whoHas?.has(holder) === true) return;
    ts.whoHas = addTo(ts.whoHas, holder);
    if (ts.state === 'fetch') this.addToFetchQueue(ts, holder);
  }

  private enqueue(ts: WorkerTask): void {
    const stamp = ++ts.queueStamp;
    if (ts.resources !== undefined) {
      this.move(ts, 'constrained');
      this.constrained.push({ task: ts, stamp });
    } else {
      this.move(ts, 'ready');
      this.ready.push({ task: ts, stamp });
    }
  }

  /** The first entry of `heap` still current for a task in `state` (stale entries are dropped). */
  private peekValid(heap: PriorityHeap<QueueEntry>, state: WorkerTaskState): QueueEntry | undefined {
    for (;;) {
      const top = heap.peek();
      if (top === undefined) return undefined;
      if (top.task.state === state && top.stamp === top.task.queueStamp) return top;
      heap.pop();
    }
  }

  private resourcesAvailable(needed: Record<string, number>): boolean {
    for (const name of Object.keys(needed)) {
      if ((this.availableResources[name] ?? 0) < needed[name]!) return false;
    }
    return true;
  }

  private ensureComputing(): void {
    this.serveRejoins();
    while (!this.paused && this.slotsInUse < this.nthreads) {
      const constrained = this.peekValid(this.constrained, 'constrained');
      const ready = this.peekValid(this.ready, 'ready');
      if (
        constrained !== undefined &&
        this.resourcesAvailable(constrained.task.resources!) &&
        (ready === undefined || comparePriority(constrained.task, ready.task) < 0)
      ) {
        this.constrained.pop();
        this.startBatch([constrained.task], constrained.task.resources);
      } else if (ready !== undefined) {
        this.ready.pop();
        this.startBatch(this.fillBatch(ready.task), undefined);
      } else {
        return;
      }
    }
  }

  /** `first` plus, when its prefix is short, the next short ready tasks, split fairly over free slots. */
  private fillBatch(first: WorkerTask): WorkerTask[] {
    const batch = [first];
    const firstAverage = this.prefixDurations.average(first.prefix);
    if (firstAverage === undefined || firstAverage >= this.shortTaskMs || this.ready.size === 0) return batch;
    const freeSlots = this.nthreads - this.slotsInUse;
    const fairShare = Math.ceil((this.ready.size + 1) / freeSlots);
    const limit = Math.min(this.maxBatchSize, fairShare);
    let estimate = firstAverage;
    while (batch.length < limit && estimate < this.batchTargetMs) {
      const next = this.peekValid(this.ready, 'ready');
      if (next === undefined) break;
      const average = this.prefixDurations.average(next.task.prefix);
      if (average === undefined || average >= this.shortTaskMs) break;
      this.ready.pop();
      batch.push(next.task);
      estimate += average;
    }
    return batch;
  }

  private startBatch(tasks: WorkerTask[], resources: Record<string, number> | undefined): void {
    const batchId = this.nextBatchId++;
    if (resources !== undefined) {
      for (const name of Object.keys(resources)) this.availableResources[name] = (this.availableResources[name] ?? 0) - resources[name]!;
    }
    this.batches.set(batchId, { remaining: tasks.length, resources, seceded: false });
    const batch: TaskToRun[] = new Array(tasks.length);
    for (let i = 0; i < tasks.length; i++) {
      const ts = tasks[i]!;
      this.move(ts, 'executing');
      ts.batchId = batchId;
      const deps = Object.create(null) as Record<string, Blob>;
      for (const dep of ts.dependencies ?? noItems) {
        const blob = this.data.get(dep.key);
        if (blob !== undefined) deps[dep.key] = blob;
      }
      batch[i] = { key: ts.key, runSpec: ts.runSpec!, deps };
    }
    this.out.push({ kind: 'execute', batchId, batch });
  }

  private batchMemberDone(batchId: number): void {
    const batch = this.batches.get(batchId);
    if (batch === undefined) return;
    if (--batch.remaining > 0) return;
    this.batches.delete(batchId);
    if (batch.seceded) this.secededBatches--;
    if (batch.resources !== undefined) {
      for (const name of Object.keys(batch.resources)) this.availableResources[name] = (this.availableResources[name] ?? 0) + batch.resources[name]!;
    }
  }

  /**
   * A running task gives its slot back: its batch stops counting as a slot
   * (the rest of the batch waits behind it anyway) and the scheduler hears
   * `long-running`, so both may start more work here.
   */
  private secede(key: string, stimulusId: string | undefined): void {
    const ts = this.tasks.get(key);
    if (ts === undefined || ts.batchId === undefined) return;
    const batch = this.batches.get(ts.batchId);
    if (batch === undefined || batch.seceded) return;
    batch.seceded = true;
    this.secededBatches++;
    if (ts.state === 'executing') {
      this.move(ts, 'long-running');
      this.send({ op: 'long-running', key, runId: ts.runId, stimulusId: stimulusId ?? this.stimulus('secede') });
    } else if (ts.state === 'cancelled' && ts.previous === 'executing') {
      ts.previous = 'long-running';
    }
  }

  /** Seceded tasks take free slots before new tasks start (their work is further along). */
  private serveRejoins(): void {
    while (this.rejoinQueue.length > 0) {
      const key = this.rejoinQueue[0]!;
      const ts = this.tasks.get(key);
      const batch = ts?.batchId === undefined ? undefined : this.batches.get(ts.batchId);
      if (batch !== undefined && batch.seceded) {
        if (this.slotsInUse >= this.nthreads) return;
        batch.seceded = false;
        this.secededBatches--;
      }
      this.rejoinQueue.shift();
      this.out.push({ kind: 'rejoin-granted', key });
    }
  }

  /** The execution this outcome belongs to, or undefined if the record moved on. */
  private executionOf(event: { key: string; batchId: number; duration: number }): WorkerTask | undefined {
    this.batchMemberDone(event.batchId);
    const ts = this.tasks.get(event.key);
    if (ts === undefined || ts.batchId !== event.batchId) return undefined;
    ts.batchId = undefined;
    return ts;
  }

  private executeSuccess(event: ExecuteSuccessEvent): void {
    const ts = this.executionOf(event);
    this.prefixDurations.record(ts?.prefix ?? keyPrefix(event.key), event.duration);
    if (ts === undefined) return;
    switch (ts.state) {
      case 'executing':
      case 'long-running': {
        this.putInMemory(ts, event.value, event.type);
        this.send(this.finishedMsg(ts, event.duration, this.stimulus('task-finished'), event));
        return;
      }
      case 'resumed':
        // Released and then wanted as a dependency: the result we made is as good as a fetched one.
        this.putInMemory(ts, event.value, event.type);
        this.send({ op: 'add-keys', keys: [ts.key], stimulusId: this.stimulus('add-keys') });
        return;
      case 'cancelled':
        this.finishCancelled(ts);
        return;
      default:
        return;
    }
  }

  private executeFailure(event: ExecuteFailureEvent): void {
    const ts = this.executionOf(event);
    if (ts === undefined) return;
    switch (ts.state) {
      case 'executing':
      case 'long-running':
        this.move(ts, 'error');
        ts.exception = event.error;
        ts.runSpec = undefined;
        this.releaseDependencies(ts);
        this.send(withTiming({ op: 'task-erred', key: ts.key, runId: ts.runId, exception: event.error, stimulusId: this.stimulus('task-erred') }, event));
        return;
      case 'resumed':
        ts.previous = undefined;
        ts.next = undefined;
        this.move(ts, 'released');
        this.afterReleased(ts);
        return;
      case 'cancelled':
        this.finishCancelled(ts);
        return;
      default:
        return;
    }
  }

  private finishedMsg(ts: WorkerTask, duration: number, stimulusId: string, timing?: ExecuteSuccessEvent): WorkerToScheduler {
    const msg: TaskFinishedMsg = {
      op: 'task-finished',
      key: ts.key,
      runId: ts.runId,
      nbytes: ts.nbytes,
      type: ts.type ?? 'unknown',
      duration,
      stimulusId,
    };
    // Only small values travel inline: a large one is not read back from disk for nothing.
    const value = ts.nbytes <= INLINE_RESULT_BYTES ? inlineValue(this.data.get(ts.key)) : undefined;
    if (value !== undefined) msg.value = value;
    return timing === undefined ? msg : withTiming(msg, timing);
  }

  private putInMemory(ts: WorkerTask, value: Blob, type: string | undefined): void {
    if (ts.state === 'fetch') this.removeFromFetchQueues(ts);
    if (ts.state !== 'released' && !this.canEnterMemoryDirectly(ts.state)) this.move(ts, 'released');
    this.move(ts, 'memory');
    this.memoryBytes -= storedBytes(this.data, ts.key);
    this.data.set(ts.key, value);
    this.memoryBytes += value.byteLength;
    ts.nbytes = value.byteLength;
    if (type !== undefined) ts.type = type;
    ts.held = true;
    ts.runSpec = undefined;
    ts.flightWorker = undefined;
    ts.previous = undefined;
    ts.next = undefined;
    ts.deferredCompute = undefined;
    ts.exception = undefined;
    this.releaseDependencies(ts);
    for (const dependent of ts.dependents ?? noItems) {
      const waiting = dependent.waitingForData;
      if (waiting !== undefined && waiting.delete(ts) && waiting.size === 0 && dependent.state === 'waiting') {
        this.enqueue(dependent);
      }
    }
  }

  private canEnterMemoryDirectly(state: WorkerTaskState): boolean {
    return workerTaskTable.can(state, 'memory');
  }

  /* ---------------------------------------------------------------- */
  /* release                                                           */
  /* ---------------------------------------------------------------- */

  /** The scheduler no longer counts on this key here. */
  private free(key: string): void {
    const ts = this.tasks.get(key);
    if (ts === undefined) return;
    ts.held = false;
    this.releaseIfUnneeded(ts);
  }

  private releaseIfUnneeded(ts: WorkerTask): void {
    if (ts.held || hasAny(ts.dependents)) return;
    this.release(ts);
  }

  private release(ts: WorkerTask): void {
    switch (ts.state) {
      case 'executing':
      case 'long-running':
      case 'flight':
        ts.previous = ts.state;
        this.move(ts, 'cancelled');
        return;
      case 'resumed':
        this.move(ts, 'cancelled');
        ts.next = undefined;
        ts.deferredCompute = undefined;
        return;
      case 'cancelled':
      case 'forgotten':
        return;
      case 'memory':
        this.dropData(ts);
        break;
      case 'fetch':
        this.removeFromFetchQueues(ts);
        break;
      default:
        break;
    }
    if (ts.state !== 'released') this.move(ts, 'released');
    this.afterReleased(ts);
  }

  /** A record just reached `released`: refetch for waiting dependents, recompute if asked, or forget it. */
  private afterReleased(ts: WorkerTask): void {
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
    this.move(ts, 'forgotten');
    this.tasks.delete(ts.key);
  }

  /** A cancelled execution or transfer ended: drop its outcome. */
  private finishCancelled(ts: WorkerTask): void {
    ts.previous = undefined;
    ts.flightWorker = undefined;
    this.move(ts, 'released');
    this.afterReleased(ts);
  }

  /** `ts` no longer needs its dependencies; those nobody else needs are released. */
  private releaseDependencies(ts: WorkerTask): void {
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

  private dropData(ts: WorkerTask): void {
    const bytes = storedBytes(this.data, ts.key);
    if (this.data.delete(ts.key)) this.memoryBytes -= bytes;
  }

  /* ---------------------------------------------------------------- */
  /* scheduler requests                                                */
  /* ---------------------------------------------------------------- */

  private stealRequest(key: string, stimulusId: string): void {
    const ts = this.tasks.get(key);
    const state = ts?.state ?? null;
    if (ts !== undefined && computeQueueStates.has(ts.state)) {
      ts.held = false;
      this.releaseIfUnneeded(ts);
    }
    this.send({ op: 'steal-response', key, state, stimulusId });
  }

  private acquireReplicas(whoHas: Record<string, string[]>, nbytes: Record<string, number>): void {
    for (const key of Object.keys(whoHas)) {
      const ts = this.ensureTask(key);
      const n = nbytes[key];
      if (n !== undefined) ts.nbytes = n;
      for (const holder of whoHas[key]!) this.addHolder(ts, holder);
      ts.held = true;
      if (ts.state === 'released' || ts.state === 'missing' || ts.state === 'cancelled' || ts.state === 'resumed') {
        this.needData(ts);
      }
    }
  }

  private removeReplicas(keys: string[], stimulusId: string): void {
    const rejected: string[] = [];
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (ts === undefined || ts.state !== 'memory') continue;
      if (hasAny(ts.dependents)) {
        rejected.push(key);
        continue;
      }
      ts.held = false;
      this.release(ts);
    }
    if (rejected.length > 0) this.send({ op: 'add-keys', keys: rejected, stimulusId });
  }

  private updateData(event: UpdateDataEvent): void {
    for (const key of Object.keys(event.data)) {
      const ts = this.ensureTask(key);
      if (computeQueueStates.has(ts.state) || ts.state === 'missing' || ts.state === 'error' || ts.state === 'rescheduled') {
        this.move(ts, 'released');
      }
      const blob = event.data[key]!;
      this.putInMemory(ts, blob, ts.type);
    }
  }

  /* ---------------------------------------------------------------- */
  /* peer transfers                                                    */
  /* ---------------------------------------------------------------- */

  private addToFetchQueues(ts: WorkerTask): void {
    for (const holder of ts.whoHas ?? noItems) this.addToFetchQueue(ts, holder);
  }

  private addToFetchQueue(ts: WorkerTask, holder: string): void {
    let queue = this.fetchByWorker.get(holder);
    if (queue === undefined) {
      queue = new Set();
      this.fetchByWorker.set(holder, queue);
    }
    queue.add(ts);
    this.fetchDirty = true;
  }

  private removeFromFetchQueues(ts: WorkerTask): void {
    for (const holder of ts.whoHas ?? noItems) {
      const queue = this.fetchByWorker.get(holder);
      if (queue === undefined) continue;
      queue.delete(ts);
      if (queue.size === 0) this.fetchByWorker.delete(holder);
    }
  }

  private ensureCommunicating(): void {
    if (!this.fetchDirty || this.paused) return;
    this.fetchDirty = false;
    for (const [worker, queue] of this.fetchByWorker) {
      if (this.inFlightWorkers.size >= this.transferIncomingCountLimit) return;
      if (this.inFlightWorkers.has(worker) || this.busyWorkers.has(worker)) continue;
      const selected: WorkerTask[] = [];
      let totalBytes = 0;
      for (const ts of queue) {
        if (selected.length > 0 && totalBytes + ts.nbytes > this.transferMessageBytesLimit) break;
        selected.push(ts);
        totalBytes += ts.nbytes;
      }
      const keys: string[] = new Array(selected.length);
      for (let i = 0; i < selected.length; i++) {
        const ts = selected[i]!;
        this.removeFromFetchQueues(ts);
        this.move(ts, 'flight');
        ts.flightWorker = worker;
        keys[i] = ts.key;
      }
      this.inFlightWorkers.add(worker);
      this.out.push({ kind: 'gather-dep', worker, keys, totalBytes });
    }
  }

  /** The in-flight record for `key` from `worker`, or undefined if it moved on. */
  private landed(key: string, worker: string): WorkerTask | undefined {
    const ts = this.tasks.get(key);
    if (ts === undefined || ts.flightWorker !== worker) return undefined;
    ts.flightWorker = undefined;
    return ts;
  }

  private gatherDepSuccess(event: GatherDepSuccessEvent): void {
    this.inFlightWorkers.delete(event.worker);
    this.busyAttempts.delete(event.worker);
    this.fetchDirty = true;
    const added: string[] = [];
    for (const key of event.keys) {
      const ts = this.landed(key, event.worker);
      if (ts === undefined) continue;
      const blob = event.data[key];
      if (blob === undefined) {
        // The peer does not have it (any more).
        this.dropHolder(ts, event.worker);
        this.transferFailed(ts, event.worker);
        continue;
      }
      switch (ts.state) {
        case 'flight':
          this.putInMemory(ts, blob, undefined);
          added.push(ts.key);
          break;
        case 'resumed': {
          // Asked to compute it meanwhile; the fetched value is the answer.
          this.putInMemory(ts, blob, undefined);
          this.send(this.finishedMsg(ts, 0, this.stimulus('task-finished')));
          break;
        }
        case 'cancelled':
          this.finishCancelled(ts);
          break;
        default:
          break;
      }
    }
    if (added.length > 0) {
      const msg: AddKeysMsg = { op: 'add-keys', keys: added, stimulusId: this.stimulus('gather-dep-success') };
      if (event.start !== undefined && event.stop !== undefined) {
        let nbytes = 0;
        for (const key of added) nbytes += event.data[key]?.byteLength ?? 0;
        msg.transfer = { action: 'transfer', start: event.start, stop: event.stop, source: event.worker, nbytes };
      }
      this.send(msg);
    }
  }

  private gatherDepBusy(event: GatherDepBusyEvent): void {
    this.inFlightWorkers.delete(event.worker);
    const attempt = (this.busyAttempts.get(event.worker) ?? 0) + 1;
    this.busyAttempts.set(event.worker, attempt);
    this.busyWorkers.add(event.worker);
    for (const key of event.keys) {
      const ts = this.landed(key, event.worker);
      if (ts === undefined) continue;
      this.backToFetch(ts);
    }
    this.fetchDirty = true;
    this.out.push({ kind: 'retry-busy-worker-later', worker: event.worker, attempt });
  }

  private gatherDepFailure(event: GatherDepFailureEvent): void {
    const worker = event.worker;
    this.inFlightWorkers.delete(worker);
    this.busyWorkers.delete(worker);
    this.busyAttempts.delete(worker);
    // The peer is gone for everything it held, not just these keys.
    const queued = this.fetchByWorker.get(worker);
    this.fetchByWorker.delete(worker);
    if (queued !== undefined) {
      for (const ts of queued) {
        ts.whoHas?.delete(worker);
        if (!hasAny(ts.whoHas) && ts.state === 'fetch') {
          this.move(ts, 'missing');
          this.send({ op: 'missing-data', key: ts.key, worker, stimulusId: this.stimulus('gather-dep-failure') });
        }
      }
    }
    for (const key of event.keys) {
      const ts = this.landed(key, worker);
      if (ts === undefined) continue;
      this.dropHolder(ts, worker);
      this.transferFailed(ts, worker);
    }
    this.fetchDirty = true;
  }

  private dropHolder(ts: WorkerTask, worker: string): void {
    ts.whoHas?.delete(worker);
    const queue = this.fetchByWorker.get(worker);
    if (queue !== undefined) {
      queue.delete(ts);
      if (queue.size === 0) this.fetchByWorker.delete(worker);
    }
  }

  /** A transfer of `ts` from `worker` ended without the value. */
  private transferFailed(ts: WorkerTask, worker: string): void {
    switch (ts.state) {
      case 'flight':
        if (hasAny(ts.whoHas)) {
          this.move(ts, 'fetch');
          this.addToFetchQueues(ts);
        } else {
          this.move(ts, 'missing');
          this.send({ op: 'missing-data', key: ts.key, worker, stimulusId: this.stimulus('missing-data') });
        }
        return;
      case 'resumed':
      case 'cancelled':
        this.backToFetch(ts);
        return;
      default:
        return;
    }
  }

  /** A transfer ended without the value but may be retried: flight -> fetch; cancelled/resumed settle. */
  private backToFetch(ts: WorkerTask): void {
    switch (ts.state) {
      case 'flight':
        this.move(ts, 'fetch');
        this.addToFetchQueues(ts);
        return;
      case 'cancelled':
        this.finishCancelled(ts);
        return;
      case 'resumed':
        ts.previous = undefined;
        ts.next = undefined;
        this.move(ts, 'released');
        this.afterReleased(ts);
        return;
      default:
        return;
    }
  }
}

/** Adds the thread and compute start/stop of an execution to its report (the scheduler's task stream). */
function withTiming<M extends TaskFinishedMsg | TaskErredFromWorkerMsg>(msg: M, event: { start?: number; thread?: number; duration: number }): M {
  if (event.start === undefined) return msg;
  if (event.thread !== undefined) msg.thread = event.thread;
  msg.startstops = [{ action: 'compute', start: event.start, stop: event.start + event.duration }];
  return msg;
}
