/**
 * Everything a worker knows about its tasks, and every decision it makes,
 * with no I/O (dask's sans-IO WorkerState): `handle(...events)` mutates plain
 * task records and returns the instructions the actor must carry out.
 *
 * This file takes the events (logged, bounded, for `story(key)`), computes
 * (ready heaps, batches, secede/rejoin, outcomes), answers the scheduler's
 * requests and lands peer transfers; the records, their lifecycle table and
 * release are in the base class, worker-state-base.ts.
 *
 * Throughput: at most `nthreads` execute instructions are outstanding. Ready
 * tasks whose key prefix is known to take under `shortTaskMs` go several to
 * one instruction (one thread call), filling about `batchTargetMs`.
 */
import { workerTaskTable, type WorkerTaskState } from '../../machines/worker-task.js';
import type { StimulusKeys } from '../../machines/stimulus-log.js';
import type { AddKeysMsg, ComputeTaskMsg, HeldBlob, TaskErredFromWorkerMsg, TaskFinishedMsg, WorkerToScheduler } from '../protocol/messages.js';
import type { TaskToRun } from './execute.js';
import { FrameParts } from '../protocol/out-of-band.js';
import { INLINE_RESULT_BYTES, inlineValue } from '../protocol/inline-results.js';
import { keyPrefix } from './prefix-durations.js';
import { interned } from '../interned.js';
import { ByteSlab } from '../protocol/byte-slab.js';
import { storedBytes } from './spill-buffer.js';
import type { PriorityHeap } from './priority-heap.js';
import { hasAny, noItems } from './lazy-set.js';
import { validateEvent } from './validate-event.js';
import { comparePriority, NO_PRIORITY, WorkerStateBase, type QueueEntry, type WorkerTask, type WorkerStateOptions } from './worker-state-base.js';
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

export type { WorkerTask, WorkerStateOptions };

const computeQueueStates: ReadonlySet<WorkerTaskState> = new Set(['waiting', 'ready', 'constrained']);

export class WorkerState extends WorkerStateBase {
  /** Where results of a few bytes are kept (byte-slab.ts). */
  private readonly smallResults = new ByteSlab();

  /**
   * Applies the events in order and returns what to do. An event that is
   * malformed or illegal here does not stop the others: it yields an
   * `event-failed` instruction (checked before any record changes).
   */
  handle(...events: WorkerEvent[]): Instruction[] {
    this.out = [];
    this.stimulusTime = this.now();
    for (const event of events) {
      try {
        validateEvent(event);
        this.logStimulus(event);
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

  /** Records the event in the stimulus log; its stimulus id (or op) tags the transitions it causes. */
  private logStimulus(event: WorkerEvent): void {
    let keys: StimulusKeys;
    switch (event.op) {
      case 'compute-task':
      case 'cancel-compute':
      case 'steal-request':
      case 'execute-success':
      case 'execute-failure':
      case 'secede':
      case 'rejoin':
        keys = event.key;
        break;
      case 'free-keys':
      case 'remove-replicas':
      case 'gather-dep-success':
      case 'gather-dep-busy':
      case 'gather-dep-failure':
        keys = event.keys;
        break;
      case 'acquire-replicas':
        keys = Object.keys(event.whoHas);
        break;
      case 'update-data':
        keys = Object.keys(event.data);
        break;
      default:
        keys = undefined;
    }
    const id = (event as { stimulusId?: unknown }).stimulusId;
    this.stimulusId = typeof id === 'string' ? id : event.op;
    this.stimulusLog.record(event.op, this.stimulusId, keys, this.stimulusTime, this.transitionLog.total);
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
          this.transition(ts, 'resumed');
          ts.next = 'waiting';
          ts.deferredCompute = msg;
        } else {
          this.transition(ts, ts.previous ?? 'executing');
        }
        return;
      case 'resumed':
        if (ts.next === 'fetch') {
          // It is still executing here: let that finish and report it.
          this.transition(ts, 'cancelled');
          this.transition(ts, ts.previous ?? 'executing');
        } else {
          ts.deferredCompute = msg;
        }
        return;
      case 'flight':
        this.transition(ts, 'cancelled');
        this.transition(ts, 'resumed');
        ts.next = 'waiting';
        ts.deferredCompute = msg;
        return;
      case 'fetch':
      case 'error':
        this.transition(ts, 'released');
        break;
      case 'missing':
      case 'released':
        break;
      case 'forgotten':
        throw new Error(`WorkerState: forgotten task ${ts.key} still in the table`);
    }
    this.toWaiting(ts, msg);
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
        (ready === undefined || comparePriority(constrained.priority, constrained.task.seq, ready.priority, ready.task.seq) < 0)
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
      this.transition(ts, 'executing');
      ts.batchId = batchId;
      const deps = Object.create(null) as Record<string, HeldBlob>;
      for (const dep of ts.dependencies ?? noItems) {
        let blob = this.data.get(dep.key);
        if (blob instanceof FrameParts && !blob.inSharedMemory) {
          // Scattered in this process and held by reference: a pool thread cannot read the caller's
          // memory, so it is copied into shared memory once, and that copy is what is held from now on.
          blob = blob.shared();
          this.data.set(dep.key, blob);
        }
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
      this.transition(ts, 'long-running');
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
    // A result of a few bytes shares a chunk with its neighbours instead of an ArrayBuffer of its own (byte-slab.ts).
    const value = event.value instanceof Uint8Array ? this.smallResults.pack(event.value) : event.value;
    const type = interned(event.type);
    switch (ts.state) {
      case 'executing':
      case 'long-running': {
        this.putInMemory(ts, value, type);
        this.send(this.finishedMsg(ts, event.duration, this.stimulus('task-finished'), event));
        return;
      }
      case 'resumed':
        // Released and then wanted as a dependency: the result we made is as good as a fetched one.
        this.putInMemory(ts, value, type);
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
        this.transition(ts, 'error');
        ts.exception = event.error;
        ts.runSpec = undefined;
        this.releaseDependencies(ts);
        this.send(withTiming({ op: 'task-erred', key: ts.key, runId: ts.runId, exception: event.error, stimulusId: this.stimulus('task-erred') }, event));
        return;
      case 'resumed':
        this.transition(ts, 'released');
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

  private putInMemory(ts: WorkerTask, value: HeldBlob, type: string | undefined): void {
    if (workerTaskTable.can(ts.state, 'memory')) this.transition(ts, 'memory');
    else for (const step of workerTaskTable.route(ts.state, 'memory', 'released', ts.key)) this.transition(ts, step);
    this.memoryBytes -= storedBytes(this.data, ts.key);
    this.data.set(ts.key, value);
    this.memoryBytes += value.byteLength;
    ts.nbytes = value.byteLength;
    if (type !== undefined) ts.type = type;
    ts.held = true;
    ts.runSpec = undefined;
    // Read only while ready to run; a later compute-task brings its own.
    ts.priority = NO_PRIORITY;
    ts.flightWorker = undefined;
    ts.previous = undefined;
    ts.next = undefined;
    ts.deferredCompute = undefined;
    ts.exception = undefined;
    this.releaseDependencies(ts);
    for (const dependent of ts.dependents ?? noItems) {
      const waiting = dependent.waitingForData;
      if (waiting !== undefined && waiting.delete(ts) && waiting.size === 0 && dependent.state === 'waiting') {
        this.transition(dependent, dependent.resources !== undefined ? 'constrained' : 'ready');
      }
    }
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
      if (computeQueueStates.has(ts.state) || ts.state === 'missing' || ts.state === 'error') this.transition(ts, 'released');
      const blob = event.data[key]!;
      this.putInMemory(ts, blob, ts.type);
    }
  }

  /* ---------------------------------------------------------------- */
  /* peer transfers                                                    */
  /* ---------------------------------------------------------------- */

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
        this.transition(ts, 'flight');
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
          this.transition(ts, 'missing');
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
          this.transition(ts, 'fetch');
        } else {
          this.transition(ts, 'missing');
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
        this.transition(ts, 'fetch');
        return;
      case 'cancelled':
        this.finishCancelled(ts);
        return;
      case 'resumed':
        this.transition(ts, 'released');
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
