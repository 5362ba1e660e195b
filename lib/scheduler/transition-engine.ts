/**
 * The scheduler's records and its task lifecycle engine: the base of
 * SchedulerState (state.ts), which adds the stimuli and queries.
 *
 * Transitions. A record's `state` changes only in `setState`, through
 * `schedulerTaskTable.move` (machines/scheduler-task.ts), so an edge the
 * machine lacks throws InvalidTransitionError. Which code runs for an edge is
 * named in one table, `TransitionEngine.edges`, bound to the machine's edges
 * one for one (dask's `_TRANSITIONS_TABLE`). A transition may recommend
 * further transitions (`recs`); `runTransitions` applies them until none are
 * left. A recommendation with no direct edge goes through `released` (dask's
 * rule, `TransitionTable.route`), and what the release step recommends for the
 * task itself wins over the original target.
 *
 * Every stimulus runs in one frame (`frame`): a fresh outbox, the stimulus
 * logged (bounded, for `story(key)`), its body, then the recommended
 * transitions and what they unblocked.
 *
 * Bookkeeping invariants (checked by `validate()`, validate-state.ts):
 * - `waiters` of T: dependents of T in waiting/queued/no-worker/processing;
 *   T's value may be dropped when it has neither waiters nor wanters.
 * - `waitingOn` of a waiting T: its dependencies not yet in memory.
 * - `whoHas` is set exactly for tasks in memory; sets are undefined, never empty
 *   (whoHas/whoWants hold a lone member inline: lib/scheduler/one-or-many.ts).
 * - A task is forgotten (its record dropped) when no client wants it and no
 *   task depends on it.
 */
import { schedulerTaskTable, type SchedulerTaskState } from '../../machines/scheduler-task.js';
import { StimulusLog, type StimulusKeys } from '../../machines/stimulus-log.js';
import { TransitionLog } from '../../machines/transition-log.js';
import { DistributedError } from '../errors.js';
import type { Blob, OpDict } from '../protocol/messages.js';
import { parseDuration } from '../units.js';
import { ClientRecord, FIRE_AND_FORGET, NO_TASKS, runsBefore, TaskRecord, WorkerRecord } from './records.js';
import { contains, count, toArray, withMember, withoutMember } from './one-or-many.js';
import { decideWorker, NO_VALID_WORKER, RESOURCES_BUSY, type WorkerDirectory } from './decide-worker.js';
import { LostKeys } from './lost-keys.js';
import { Outbox, type SchedulerMessages, type SettledKey } from './outbox.js';
import { DEFAULT_QUEUING, ResourceWaitQueues, rootishSlotLimit, TaskQueue, type QueuingOptions } from './queuing.js';
import { TaskPrefixes } from './task-prefix.js';
import { validateSchedulerState } from './validate-state.js';
import { computeTaskMsg } from './compute-task-msg.js';
import { ShardedMap } from '../sharded-map.js';
import { interned } from '../interned.js';

/** Where a recommendation to compute a key leads; for a key in memory on some worker such advice is stale. */
const RECOMPUTING: ReadonlySet<SchedulerTaskState> = new Set(['waiting', 'processing', 'queued', 'no-worker']);

export type { SchedulerMessages, SettledKey };

export interface SchedulerStateOptions {
  /** Unexpected worker deaths a task survives; one more makes it err with KilledWorker (default 3). */
  allowedFailures?: number;
  /** Clock in ms (default performance.now). Read once per stimulus. */
  now?: () => number;
  /** Assumed network bandwidth, bytes per second (default 100 MB/s). */
  bandwidth?: number;
  /** Expected duration of a task whose prefix never finished, for occupancy (default 500 ms). */
  unknownTaskDuration?: number | string;
  /** Submissions closer together than this share a generation (priority); default 100 ms. */
  fifoTimeout?: number | string;
  queuing?: Partial<QueuingOptions>;
  /** Transitions kept for debugging and story(key) (default 10,000). */
  transitionLogSize?: number;
  /** Stimuli kept for story(key) (default 10,000). */
  stimulusLogSize?: number;
  /** Transitions one stimulus may cause before it is considered a loop (default 10,000,000). */
  transitionCounterMax?: number;
  /** Check every invariant after each stimulus (slow; for tests). */
  validate?: boolean;
}

interface InFlightSteal {
  victim: WorkerRecord;
  thief: WorkerRecord;
}

/** Called after a task changed state, inside the stimulus (the task record is live). */
export type TransitionObserver = (ts: TaskRecord, start: SchedulerTaskState, finish: SchedulerTaskState, stimulusId: string) => void;


/**
 * Where a value now in memory is and what it is: a worker's report
 * (task-finished, held keys) or scatter. Only a transition to `memory` takes
 * one (dask passes these as the transition's keyword arguments).
 */
export interface MemoryReport {
  holders: WorkerRecord | readonly WorkerRecord[];
  nbytes: number;
  type: string | undefined;
  /** Compute time, ms, for the prefix's average (task-finished). */
  duration?: number | undefined;
  /** The small encoded result the worker sent along: passed on to wanting clients, not kept. */
  value?: Blob | undefined;
}

/** The handler of one edge of the scheduler-task machine. */
type EdgeHandler = (engine: TransitionEngine, ts: TaskRecord, report: MemoryReport | undefined) => void;

/** A stimulus body that changed nothing returns this: the frame ends without running transitions. */
export const UNCHANGED: unique symbol = Symbol('unchanged');

export abstract class TransitionEngine implements WorkerDirectory {
  /** Sharded (sharded-map.ts): at a million tasks one Map's growth would hold the loop 100-220 ms. */
  readonly tasks: Map<string, TaskRecord> = new ShardedMap<TaskRecord>();
  /** Scattered keys lost with their worker (lost-keys.ts). */
  readonly lostKeys = new LostKeys();
  /** Every known worker by address (also `byAddress`). */
  readonly workers = new Map<string, WorkerRecord>();
  readonly byName = new Map<string, WorkerRecord>();
  readonly byHost = new Map<string, Set<WorkerRecord>>();
  /** Workers in join order (any status but closed). */
  readonly running: WorkerRecord[] = [];
  readonly clients = new Map<string, ClientRecord>();
  readonly prefixes = new TaskPrefixes();
  /** Running workers with fewer busy tasks than threads. */
  readonly idle = new Set<WorkerRecord>();
  /** Workers with more busy tasks than threads. */
  readonly saturated = new Set<WorkerRecord>();
  /** Root-ish tasks waiting for a free worker slot. */
  readonly queued = new TaskQueue();
  /** Tasks no running worker may run (`no-worker`). */
  readonly unrunnable = new Set<TaskRecord>();
  /** Tasks whose resources are taken on every allowed worker (state `queued`, or `no-worker` until placed). */
  readonly waitingForResources = new ResourceWaitQueues();
  /** Tasks with a steal-request in flight. */
  readonly stealing = new Map<TaskRecord, InFlightSteal>();
  readonly transitionLog: TransitionLog<SchedulerTaskState>;
  /** The last stimuli handled (bounded like the transition log): with it, `story(key)`. */
  readonly stimulusLog: StimulusLog;
  /** Told of every task transition; set only while a plugin wants them (plugins.ts), so none costs one check. */
  transitionObserver: TransitionObserver | undefined = undefined;
  totalNthreads = 0;
  /** bytes per ms */
  readonly bandwidth: number;
  readonly allowedFailures: number;
  readonly unknownTaskDuration: number;
  readonly fifoTimeout: number;
  readonly queuing: QueuingOptions;
  readonly transitionCounterMax: number;
  readonly validateEachStimulus: boolean;
  /** Incremented when submissions are more than `fifoTimeout` apart. */
  generation = 0;
  protected generationStart = -Infinity;
  protected readonly now: () => number;
  /** Added to the clock's readings to make wall-clock ms (story). */
  protected readonly epoch: number;
  protected readonly fireAndForget: ClientRecord;

  protected readonly recs = new Map<TaskRecord, SchedulerTaskState>();
  /** Recommendations to compute a key already in memory somewhere, dropped (diagnostics and tests). */
  staleDecisions = 0;
  protected out = new Outbox('');
  protected stimulusId = '';
  protected stimulusTime = 0;
  protected active = false;
  protected readonly slotsOpened = new Set<WorkerRecord>();
  protected resourcesFreed = false;
  protected runIds = 0;
  protected taskOrder = 0;
  protected cursor = 0;
  protected scatterCursor = 0;
  protected stimulusCounter = 0;

  constructor(options: SchedulerStateOptions = {}) {
    this.allowedFailures = options.allowedFailures ?? 3;
    if (!(Number.isInteger(this.allowedFailures) && this.allowedFailures >= 0)) {
      throw new RangeError(`allowedFailures must be a non-negative integer, got ${options.allowedFailures}`);
    }
    this.now = options.now ?? (() => performance.now());
    this.bandwidth = (options.bandwidth ?? 100e6) / 1000;
    this.unknownTaskDuration = parseDuration(options.unknownTaskDuration ?? 500);
    this.fifoTimeout = parseDuration(options.fifoTimeout ?? 100);
    this.queuing = { ...DEFAULT_QUEUING, ...options.queuing };
    this.transitionLog = new TransitionLog<SchedulerTaskState>(options.transitionLogSize ?? 10_000);
    this.stimulusLog = new StimulusLog(options.stimulusLogSize ?? 10_000);
    // The default clock is performance.now(): its origin turns log times into wall-clock ms for story().
    this.epoch = options.now === undefined ? performance.timeOrigin : 0;
    this.transitionCounterMax = options.transitionCounterMax ?? 10_000_000;
    this.validateEachStimulus = options.validate ?? false;
    this.fireAndForget = new ClientRecord(FIRE_AND_FORGET);
    this.clients.set(FIRE_AND_FORGET, this.fireAndForget);
  }

  get byAddress(): ReadonlyMap<string, WorkerRecord> {
    return this.workers;
  }

  /* ================================================================ */
  /* Stimulus frame                                                     */
  /* ================================================================ */

  /**
   * The frame every stimulus runs in: a fresh outbox and recommendations, the
   * body, then the recommended transitions and what they unblocked (free
   * slots, freed resources). Not re-entrant. `what` and `keys` go to the
   * bounded stimulus log (story). A body returning UNCHANGED ends at once:
   * nothing ran, nothing to transition or validate.
   */
  protected frame(what: string, stimulusId: string, keys: StimulusKeys, body: (out: Outbox) => void | typeof UNCHANGED): SchedulerMessages {
    if (this.active) throw new Error('SchedulerState: a stimulus is already being handled (re-entrant call)');
    this.active = true;
    try {
      this.stimulusId = stimulusId;
      this.stimulusTime = this.now();
      this.recs.clear();
      this.slotsOpened.clear();
      this.resourcesFreed = false;
      const out = (this.out = new Outbox(stimulusId));
      this.stimulusLog.record(what, stimulusId, keys, this.stimulusTime, this.transitionLog.total);
      if (body(out) === UNCHANGED) return out;
      this.runTransitions();
      if (this.slotsOpened.size > 0) {
        for (const ws of this.slotsOpened) this.fillWorker(ws);
        this.slotsOpened.clear();
      }
      if (this.resourcesFreed) {
        this.resourcesFreed = false;
        this.placeWaitingForResources();
      }
      if (this.validateEachStimulus) this.validate();
      return out;
    } finally {
      this.active = false;
    }
  }

  protected runTransitions(): void {
    const recs = this.recs;
    let count = 0;
    // A Map iterator visits entries added during the loop, and a key set again before
    // its turn keeps its place with the newer target (dask's dict of recommendations).
    for (const ts of recs.keys()) {
      const finish = recs.get(ts)!;
      recs.delete(ts);
      if (++count > this.transitionCounterMax) {
        recs.clear();
        throw new Error(`SchedulerState: more than ${this.transitionCounterMax} transitions for stimulus ${this.stimulusId}`);
      }
      this.transition(ts, finish);
    }
  }

  /**
   * dask's `_transition`: a direct edge runs the handler the table names for
   * it; otherwise the task goes through `released` (TransitionTable.route), and
   * what the release step recommends for the task itself wins over `finish`.
   */
  protected transition(ts: TaskRecord, finish: SchedulerTaskState, report?: MemoryReport): void {
    const start = ts.state;
    if (start === finish || start === 'forgotten') return;
    if (start === 'memory' && count(ts.whoHas) > 0 && RECOMPUTING.has(finish)) {
      // Stale advice: the value is here (a worker brought it back, a client placed it, it finished meanwhile).
      // Acting on it would release a good value and compute it again (dask #6228).
      this.staleDecisions++;
      return;
    }
    const handler = TransitionEngine.edges.handler(start, finish);
    if (handler !== undefined) return handler(this, ts, report);
    schedulerTaskTable.route(start, finish, 'released', ts.key); // throws InvalidTransitionError when neither path is legal
    TransitionEngine.edges.handler(start, 'released')!(this, ts, undefined);
    let next: SchedulerTaskState = finish;
    const again = this.recs.get(ts);
    if (again !== undefined) {
      this.recs.delete(ts);
      next = again;
    }
    if (ts.state === 'released' && next !== 'released') this.transition(ts, next);
  }

  /**
   * dask's `_TRANSITIONS_TABLE`: the handler of every edge of the
   * scheduler-task machine (machines/scheduler-task.ts), checked against the
   * machine one for one when this module loads. Every transition runs through it.
   */
  static readonly edges = schedulerTaskTable.dispatch<EdgeHandler>({
    released: {
      waiting: (s, ts) => s.releasedToWaiting(ts),
      forgotten: (s, ts) => s.forget(ts, false),
      erred: (s, ts) => s.toErred(ts),
    },
    waiting: {
      released: (s, ts) => {
        ts.waitingOn = undefined;
        s.setState(ts, 'released');
        s.propagateReleased(ts);
      },
      processing: (s, ts) => s.toProcessing(ts),
      queued: (s, ts) => s.toQueued(ts),
      'no-worker': (s, ts) => s.toNoWorker(ts),
      // Scatter, or a worker reporting a value it holds.
      memory: (s, ts, report) => s.enterMemory(ts, report),
    },
    queued: {
      released: (s, ts) => s.unqueuedToReleased(ts),
      processing: (s, ts) => s.toProcessing(ts),
      erred: (s, ts) => s.toErred(ts),
    },
    'no-worker': {
      released: (s, ts) => s.unqueuedToReleased(ts),
      processing: (s, ts) => s.toProcessing(ts),
      erred: (s, ts) => s.toErred(ts),
    },
    processing: {
      released: (s, ts) => {
        const ws = s.exitProcessing(ts);
        s.out.freeKey(ws, ts.key);
        s.setState(ts, 'released');
        s.propagateReleased(ts);
      },
      memory: (s, ts, report) => {
        s.exitProcessing(ts);
        s.enterMemory(ts, report);
      },
      erred: (s, ts) => s.toErred(ts),
    },
    memory: {
      released: (s, ts) => s.memoryToReleased(ts),
      erred: (s, ts) => s.toErred(ts),
      forgotten: (s, ts) => {
        s.removeAllReplicas(ts, true);
        s.forget(ts, true);
      },
    },
    erred: {
      released: (s, ts) => s.erredToReleased(ts),
    },
  });

  /** Every change of a record's state goes through here: checked against the machine, logged, observed. */
  protected setState(ts: TaskRecord, finish: SchedulerTaskState): void {
    const start = ts.state;
    ts.state = schedulerTaskTable.move(start, finish, ts.key);
    this.transitionLog.record(ts.key, start, finish, this.stimulusId, this.stimulusTime);
    if (this.transitionObserver !== undefined) this.transitionObserver(ts, start, finish, this.stimulusId);
  }

  /* ================================================================ */
  /* Edge handlers                                                      */
  /* ================================================================ */

  protected toQueued(ts: TaskRecord): void {
    this.setState(ts, 'queued');
    if (ts.rootish) this.queued.push(ts);
    else this.waitingForResources.add(ts);
  }

  protected toNoWorker(ts: TaskRecord): void {
    this.setState(ts, 'no-worker');
    this.unrunnable.add(ts);
  }

  protected unqueuedToReleased(ts: TaskRecord): void {
    this.dropFromQueues(ts);
    this.setState(ts, 'released');
    this.propagateReleased(ts);
  }

  /** Any state -> erred: leave where it was (processing, a queue, its holders), then tell the dependents and wanters. */
  protected toErred(ts: TaskRecord): void {
    if (ts.exceptionBlame === undefined) throw new DistributedError(`${ts.key}: cannot err without an exception to blame`);
    const start = ts.state;
    if (start === 'processing') this.exitProcessing(ts);
    else if (start === 'queued' || start === 'no-worker') this.dropFromQueues(ts);
    else if (start === 'memory') this.removeAllReplicas(ts, true);
    this.setState(ts, 'erred');
    this.afterErred(ts);
  }

  /* ================================================================ */
  /* Transitions                                                        */
  /* ================================================================ */

  protected releasedToWaiting(ts: TaskRecord): void {
    if (ts.runSpec === undefined || ts.hasLostDependencies) {
      this.recs.set(ts, 'forgotten');
      return;
    }
    const deps = ts.dependencies;
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i]!;
      if (dep.state === 'erred') {
        ts.exceptionBlame = dep.exceptionBlame ?? dep;
        this.recs.set(ts, 'erred');
        return;
      }
    }
    this.setState(ts, 'waiting');
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i]!;
      (dep.waiters ??= new Set()).add(ts);
      if (dep.whoHas === undefined) {
        (ts.waitingOn ??= new Set()).add(dep);
        if (dep.state === 'released') this.recs.set(dep, 'waiting');
      }
    }
    // Nothing to wait for: go on at once (what recommending `processing` would do next).
    if (ts.waitingOn === undefined) this.toProcessing(ts);
  }

  /** waiting|queued|no-worker -> processing, or waiting -> queued|no-worker when no worker fits now. */
  protected toProcessing(ts: TaskRecord): void {
    let ws: WorkerRecord | undefined;
    let fallback: 'queued' | 'no-worker' = 'queued';
    if (ts.rootish) {
      ws = this.pickRootishWorker(ts);
    } else {
      const decision = decideWorker(ts, this);
      if (decision === NO_VALID_WORKER) fallback = 'no-worker';
      else if (decision !== RESOURCES_BUSY) ws = decision;
    }
    if (ws === undefined) {
      if (ts.state === 'waiting') this.transition(ts, fallback);
      return;
    }
    if (ts.state !== 'waiting') this.dropFromQueues(ts);
    this.setState(ts, 'processing');
    this.addToProcessing(ts, ws);
  }

  /** The value is held by `report.holders`: record it, then tell waiters and wanters. */
  private enterMemory(ts: TaskRecord, report: MemoryReport | undefined): void {
    if (report === undefined) throw new DistributedError(`${ts.key}: ${ts.state} -> memory needs a worker's report (task-finished or scatter)`);
    ts.nbytes = report.nbytes;
    ts.type = interned(report.type);
    const holders = report.holders;
    if (holders instanceof WorkerRecord) this.addReplica(ts, holders);
    else for (const ws of holders) this.addReplica(ts, ws);
    if (report.duration !== undefined) ts.prefix.addDuration(report.duration);
    this.setState(ts, 'memory');
    this.afterMemory(ts, report.value);
  }

  protected afterMemory(ts: TaskRecord, value?: Blob): void {
    const waiters = ts.waiters;
    if (waiters !== undefined) {
      for (const dts of waiters) {
        const on = dts.waitingOn;
        if (dts.state === 'waiting' && on !== undefined && on.delete(ts) && on.size === 0) {
          dts.waitingOn = undefined;
          this.recs.set(dts, 'processing');
        }
      }
    }
    const deps = ts.dependencies;
    for (let i = 0; i < deps.length; i++) this.dropWaiter(deps[i]!, ts);
    const wanters = ts.whoWants;
    if (wanters === undefined) {
      if (ts.waiters === undefined) this.recs.set(ts, 'released');
    } else {
      const msg: OpDict = { op: 'key-in-memory', key: ts.key, type: ts.type, nbytes: ts.nbytes };
      if (value !== undefined) msg.value = value;
      if (wanters instanceof Set) for (const cs of wanters) this.out.client(cs, msg);
      else this.out.client(wanters, msg);
      if (contains(wanters, this.fireAndForget)) this.releaseKeyForClient(ts, this.fireAndForget);
    }
    this.settle(ts, 'memory');
  }

  protected afterErred(ts: TaskRecord): void {
    const blame = ts.exceptionBlame!;
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) {
        const s = dts.state;
        if (s !== 'memory' && s !== 'erred' && s !== 'forgotten') {
          dts.exceptionBlame = blame;
          this.recs.set(dts, 'erred');
        }
      }
    }
    const deps = ts.dependencies;
    for (let i = 0; i < deps.length; i++) this.dropWaiter(deps[i]!, ts);
    ts.waiters = undefined;
    ts.waitingOn = undefined;
    const wanters = ts.whoWants;
    if (wanters !== undefined) {
      const msg: OpDict = { op: 'task-erred', key: ts.key, exception: blame.exception };
      for (const cs of toArray(wanters)) this.out.client(cs, msg);
      if (contains(wanters, this.fireAndForget)) this.releaseKeyForClient(ts, this.fireAndForget);
    }
    this.settle(ts, 'erred');
  }

  protected erredToReleased(ts: TaskRecord): void {
    ts.exception = undefined;
    ts.exceptionBlame = undefined;
    if (ts.erredOn !== undefined) {
      this.out.freeKey(ts.erredOn, ts.key);
      ts.erredOn = undefined;
    }
    this.setState(ts, 'released');
    if (ts.dependents !== undefined) for (const dts of ts.dependents) if (dts.state === 'erred') this.recs.set(dts, 'waiting');
    if (ts.whoWants !== undefined) {
      const msg: OpDict = { op: 'task-retried', key: ts.key };
      for (const cs of toArray(ts.whoWants)) this.out.client(cs, msg);
    }
  }

  /** After X -> released: run again if needed, forget if nothing refers to it, let go of dependencies otherwise. */
  protected propagateReleased(ts: TaskRecord): void {
    let rec: SchedulerTaskState | undefined;
    if (ts.hasLostDependencies) rec = 'forgotten';
    else if (ts.exceptionBlame === undefined && (ts.whoWants !== undefined || ts.waiters !== undefined)) rec = 'waiting';
    else if (ts.whoWants === undefined && ts.dependents === undefined) rec = 'forgotten';
    if (rec !== undefined) this.recs.set(ts, rec);
    if (rec !== 'waiting') {
      const deps = ts.dependencies;
      for (let i = 0; i < deps.length; i++) this.dropWaiter(deps[i]!, ts);
      ts.waiters = undefined;
    }
  }

  protected memoryToReleased(ts: TaskRecord): void {
    if (ts.waiters !== undefined) {
      for (const dts of ts.waiters) {
        const s = dts.state;
        if (s === 'processing' || s === 'queued' || s === 'no-worker') this.recs.set(dts, 'waiting');
        else if (s === 'waiting') (dts.waitingOn ??= new Set()).add(ts);
      }
    }
    this.removeAllReplicas(ts, true);
    this.setState(ts, 'released');
    if (ts.whoWants !== undefined) {
      const msg: OpDict = { op: 'lost-data', key: ts.key };
      for (const cs of toArray(ts.whoWants)) this.out.client(cs, msg);
    }
    if (ts.runSpec === undefined || ts.hasLostDependencies) this.recs.set(ts, 'forgotten');
    else if (ts.whoWants !== undefined || ts.waiters !== undefined) this.recs.set(ts, 'waiting');
    else if (ts.dependents === undefined) this.recs.set(ts, 'forgotten');
  }

  protected forget(ts: TaskRecord, wasInMemory: boolean): void {
    this.setState(ts, 'forgotten');
    // Scattered data gone with its worker: later graphs naming it get a LostDataError.
    if (wasInMemory && ts.runSpec === undefined && ts.whoWants !== undefined) this.lostKeys.add(ts.key);
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) {
        dts.hasLostDependencies = true;
        const on = dts.waitingOn;
        if (on !== undefined && on.delete(ts) && on.size === 0) dts.waitingOn = undefined;
        if (dts.state !== 'memory' && dts.state !== 'erred') this.recs.set(dts, 'forgotten');
      }
    }
    ts.dependents = undefined;
    ts.waiters = undefined;
    ts.waitingOn = undefined;
    const deps = ts.dependencies;
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i]!;
      const dependents = dep.dependents;
      if (dependents !== undefined && dependents.delete(ts) && dependents.size === 0) dep.dependents = undefined;
      const waiters = dep.waiters;
      if (waiters !== undefined && waiters.delete(ts) && waiters.size === 0) dep.waiters = undefined;
      if (dep.whoWants === undefined) {
        if (dep.dependents === undefined) this.recs.set(dep, 'forgotten');
        else if (dep.waiters === undefined && dep.state === 'memory') this.recs.set(dep, 'released');
      }
    }
    ts.dependencies = NO_TASKS;
    if (ts.whoWants !== undefined) {
      const msg: OpDict = wasInMemory
        ? { op: 'lost-data', key: ts.key }
        : { op: 'cancelled-keys', keys: [ts.key], reason: ts.hasLostDependencies ? 'a dependency was lost' : 'forgotten by the scheduler' };
      for (const cs of toArray(ts.whoWants)) {
        cs.wantsWhat.delete(ts);
        this.out.client(cs, msg);
      }
      ts.whoWants = undefined;
    }
    if (this.tasks.get(ts.key) === ts) this.tasks.delete(ts.key);
    this.settle(ts, 'forgotten');
  }

  /* ================================================================ */
  /* Processing bookkeeping                                             */
  /* ================================================================ */

  protected addToProcessing(ts: TaskRecord, ws: WorkerRecord): void {
    ts.processingOn = ws;
    ts.runId = ++this.runIds;
    const avg = ts.prefix.durationAverage;
    const duration = avg >= 0 ? avg : this.unknownTaskDuration;
    ts.expectedDuration = duration;
    ws.occupancy += duration;
    ws.processing.add(ts);
    const resources = ts.restrictions?.resources;
    if (resources !== undefined) ws.takeResources(resources);
    this.checkIdleSaturated(ws);
    this.out.worker(ws, computeTaskMsg(ts, this.stimulusId));
  }

  protected exitProcessing(ts: TaskRecord): WorkerRecord {
    const ws = ts.processingOn!;
    ws.processing.delete(ts);
    if (ts.longRunning) {
      ts.longRunning = false;
      ws.longRunning -= 1;
    }
    ws.occupancy = ws.processing.size === 0 ? 0 : Math.max(0, ws.occupancy - ts.expectedDuration);
    ts.expectedDuration = 0;
    ts.processingOn = undefined;
    const resources = ts.restrictions?.resources;
    if (resources !== undefined) {
      ws.returnResources(resources);
      this.resourcesFreed = true;
    }
    if (this.stealing.size > 0) this.dropSteal(ts);
    this.checkIdleSaturated(ws);
    if (ws.status === 'running') this.slotsOpened.add(ws);
    return ws;
  }


  protected checkIdleSaturated(ws: WorkerRecord): void {
    if (ws.status !== 'running') {
      this.idle.delete(ws);
      this.saturated.delete(ws);
      return;
    }
    const busy = ws.busy;
    if (busy < ws.nthreads) this.idle.add(ws);
    else this.idle.delete(ws);
    if (busy > ws.nthreads) this.saturated.add(ws);
    else this.saturated.delete(ws);
  }

  protected freeRootishSlots(ws: WorkerRecord, ts: TaskRecord): number {
    return rootishSlotLimit(ws.nthreads, ts.prefix.durationAverage, this.queuing) - ws.busy;
  }

  /**
   * Idle workers first, round-robin (a worker that stays idle after taking a
   * task goes to the back); then any worker with a free root-ish slot, from a
   * rotating cursor. While tasks are queued, new ones queue behind them so
   * priority order holds.
   */
  protected pickRootishWorker(ts: TaskRecord): WorkerRecord | undefined {
    if (this.queued.size > 0) return undefined;
    for (const ws of this.idle) {
      this.idle.delete(ws);
      this.idle.add(ws);
      return ws;
    }
    const running = this.running;
    const n = running.length;
    for (let i = 0; i < n; i++) {
      const j = (this.cursor + i) % n;
      const ws = running[j]!;
      if (ws.status === 'running' && this.freeRootishSlots(ws, ts) > 0) {
        this.cursor = (j + 1) % n;
        return ws;
      }
    }
    return undefined;
  }

  /** Hand queued root-ish tasks to `ws` while it has free slots, best priority first. */
  protected fillWorker(ws: WorkerRecord): void {
    if (ws.status !== 'running') return;
    const queue = this.queued;
    while (queue.size > 0) {
      const head = queue.peek()!;
      if (this.freeRootishSlots(ws, head) <= 0) return;
      queue.pop();
      this.setState(head, 'processing');
      this.addToProcessing(head, ws);
    }
  }

  /** A worker joined or resumed: fill it, and retry tasks that had no valid worker. */
  protected capacityAppeared(ws: WorkerRecord): void {
    this.fillWorker(ws);
    if (this.unrunnable.size > 0) {
      for (const ts of sortedByPriority(this.unrunnable)) {
        const decision = decideWorker(ts, this);
        if (decision === NO_VALID_WORKER) continue;
        this.unrunnable.delete(ts);
        if (decision === RESOURCES_BUSY) {
          this.waitingForResources.add(ts);
          continue;
        }
        this.setState(ts, 'processing');
        this.addToProcessing(ts, decision);
      }
    }
    this.placeWaitingForResources();
  }

  protected placeWaitingForResources(): void {
    if (this.waitingForResources.size === 0) return;
    this.waitingForResources.drain((ts) => {
      const decision = decideWorker(ts, this);
      if (decision === NO_VALID_WORKER || decision === RESOURCES_BUSY) return false;
      this.setState(ts, 'processing');
      this.addToProcessing(ts, decision);
      return true;
    });
  }

  protected dropFromQueues(ts: TaskRecord): void {
    this.queued.remove(ts);
    this.unrunnable.delete(ts);
    this.waitingForResources.delete(ts);
  }

  protected dropSteal(ts: TaskRecord): void {
    const steal = this.stealing.get(ts);
    if (steal === undefined) return;
    this.stealing.delete(ts);
    steal.victim.stealsOut -= 1;
    steal.thief.stealsIn -= 1;
  }

  /* ================================================================ */
  /* Replicas, wanters, dependents                                      */
  /* ================================================================ */

  protected addReplica(ts: TaskRecord, ws: WorkerRecord): void {
    if (contains(ts.whoHas, ws)) return;
    ts.whoHas = withMember(ts.whoHas, ws);
    ws.hasWhat.add(ts);
    if (ts.nbytes > 0) ws.nbytes += ts.nbytes;
  }

  protected removeReplica(ts: TaskRecord, ws: WorkerRecord): void {
    if (!contains(ts.whoHas, ws)) return;
    ts.whoHas = withoutMember(ts.whoHas, ws);
    ws.hasWhat.delete(ts);
    if (ts.nbytes > 0) ws.nbytes -= ts.nbytes;
  }

  protected removeAllReplicas(ts: TaskRecord, tellWorkers: boolean): void {
    const holders = ts.whoHas;
    if (holders === undefined) return;
    for (const ws of holders instanceof Set ? holders : [holders]) {
      if (tellWorkers) this.out.freeKey(ws, ts.key);
      ws.hasWhat.delete(ts);
      if (ts.nbytes > 0) ws.nbytes -= ts.nbytes;
    }
    ts.whoHas = undefined;
  }

  /** `ts` no longer needs `dep`'s value; a value nobody needs any more is released. */
  protected dropWaiter(dep: TaskRecord, ts: TaskRecord): void {
    const waiters = dep.waiters;
    if (waiters === undefined || !waiters.delete(ts)) return;
    if (waiters.size > 0) return;
    dep.waiters = undefined;
    if (dep.whoWants === undefined && dep.state !== 'erred' && dep.state !== 'released') this.recs.set(dep, 'released');
  }

  protected ensureClient(id: string): ClientRecord {
    let cs = this.clients.get(id);
    if (cs === undefined) {
      cs = new ClientRecord(id);
      this.clients.set(id, cs);
    }
    return cs;
  }

  /** Returns false when `cs` already wanted `ts`. */
  protected addWanter(ts: TaskRecord, cs: ClientRecord): boolean {
    if (contains(ts.whoWants, cs)) return false;
    ts.whoWants = withMember(ts.whoWants, cs);
    cs.wantsWhat.add(ts);
    return true;
  }

  protected releaseKeyForClient(ts: TaskRecord, cs: ClientRecord): void {
    if (!contains(ts.whoWants, cs)) return;
    ts.whoWants = withoutMember(ts.whoWants, cs);
    cs.wantsWhat.delete(ts);
    if (ts.whoWants !== undefined) return;
    if (ts.dependents === undefined) this.recs.set(ts, 'forgotten');
    else if (ts.state !== 'erred' && ts.waiters === undefined) this.recs.set(ts, 'released');
  }

  /** Tell a client that now wants `ts` where it stands, or start computing it. */
  protected reportOrStart(ts: TaskRecord, cs: ClientRecord): void {
    switch (ts.state) {
      case 'memory':
        this.out.client(cs, { op: 'key-in-memory', key: ts.key, type: ts.type, nbytes: ts.nbytes });
        return;
      case 'erred':
        this.out.client(cs, { op: 'task-erred', key: ts.key, exception: ts.exceptionBlame?.exception });
        return;
      case 'released':
        // At once rather than recommended: the same transition, without a trip through `recs`.
        this.transition(ts, 'waiting');
        return;
      default:
        return;
    }
  }

  protected settle(ts: TaskRecord, state: SettledKey['state']): void {
    if (!ts.watched) return;
    ts.watched = false;
    const entry: SettledKey = { key: ts.key, state };
    if (state === 'erred' && ts.exceptionBlame?.exception !== undefined) entry.exception = ts.exceptionBlame.exception;
    this.out.settle(entry);
  }

  /** Checks every invariant; throws an Error naming the first broken one. O(tasks + workers). */
  validate(): void {
    validateSchedulerState(this);
  }
}

function sortedByPriority(tasks: Iterable<TaskRecord>): TaskRecord[] {
  return [...tasks].sort((a, b) => (runsBefore(a, b) ? -1 : runsBefore(b, a) ? 1 : 0));
}
