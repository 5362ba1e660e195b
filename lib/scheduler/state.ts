/**
 * The scheduler's pure state (dask's `SchedulerState`): task, worker and
 * client records and the task state machine. No I/O, no timers: every public
 * stimulus method takes the event, moves records through transitions and
 * returns the messages the actor must send (SchedulerMessages).
 *
 * Transitions. A record's `state` changes only in `setState`, through
 * `schedulerTaskTable.move` (machines/scheduler-task.ts), so an edge the table
 * lacks throws InvalidTransitionError. A transition may recommend further
 * transitions (`recs`); `runTransitions` applies them until none are left. A
 * recommendation with no direct edge goes through `released` (dask's rule),
 * and what the release step recommends for the task itself wins over the
 * original target.
 *
 * Bookkeeping invariants (checked by `validate()`):
 * - `waiters` of T: dependents of T in waiting/queued/no-worker/processing;
 *   T's value may be dropped when it has neither waiters nor wanters.
 * - `waitingOn` of a waiting T: its dependencies not yet in memory.
 * - `whoHas` is set exactly for tasks in memory; sets are undefined, never empty
 *   (whoHas/whoWants hold a lone member inline: lib/scheduler/one-or-many.ts).
 * - A task is forgotten (its record dropped) when no client wants it and no
 *   task depends on it.
 */
import { schedulerTaskTable, type SchedulerTaskState } from '../../machines/scheduler-task.js';
import { DistributedError, InvalidGraphError, KilledWorker, LostDataError } from '../errors.js';
import { serializeError } from '../protocol/errors.js';
import type {
  AddKeysMsg,
  Blob,
  GraphTask,
  LongRunningMsg,
  MissingDataMsg,
  OpDict,
  ReleaseWorkerDataMsg,
  RescheduleMsg,
  SerializedError,
  StealResponseMsg,
  TaskErredFromWorkerMsg,
  TaskFinishedMsg,
  WorkerStatus,
} from '../protocol/messages.js';
import { parseDuration } from '../units.js';
import { ClientRecord, FIRE_AND_FORGET, NO_TASKS, normalizeRestrictions, runsBefore, TaskRecord, WorkerRecord, type WorkerInfo } from './records.js';
import { contains, count, toArray, withMember, withoutMember } from './one-or-many.js';
import { allowedOn, decideWorker, NO_VALID_WORKER, RESOURCES_BUSY, type WorkerDirectory } from './decide-worker.js';
import { orderNewTasks } from './graph-validation.js';
import { LostKeys } from './lost-keys.js';
import { Outbox, type SchedulerMessages, type SettledKey } from './outbox.js';
import { DEFAULT_QUEUING, ResourceWaitQueues, rootishSlotLimit, TaskQueue, type QueuingOptions } from './queuing.js';
import { planScatter } from './scatter-placement.js';
import { planSteals } from './stealing.js';
import { prefixName, TaskPrefixes } from './task-prefix.js';
import { TransitionLog } from './transition-log.js';

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
  /** Transitions kept for debugging (default 10,000). */
  transitionLogSize?: number;
  /** Transitions one stimulus may cause before it is considered a loop (default 10,000,000). */
  transitionCounterMax?: number;
  /** Check every invariant after each stimulus (slow; for tests). */
  validate?: boolean;
}

export interface RemoveWorkerOptions {
  /** A graceful departure: processing tasks are not counted as suspicious. */
  expected: boolean;
}

/** A value a worker reports it holds (registration after a scheduler restart, or a late result). */
export interface HeldEntry {
  key: string;
  nbytes: number;
  type?: string | undefined;
}

/** A value placed on workers by scatter (or found there). */
export interface PlacedData {
  key: string;
  nbytes: number;
  type?: string;
  /** Addresses of the workers now holding it. */
  workers: readonly string[];
}

interface InFlightSteal {
  victim: WorkerRecord;
  thief: WorkerRecord;
}

export interface WorkerSummary {
  name: string;
  nthreads: number;
  resources: Record<string, number>;
  memoryLimit: number;
  pid: number;
  host: string;
  status: WorkerStatus;
  nanny?: string;
  /** Memory figures of a worker with a memory limit (its last heartbeat): managed, spilled... */
  memory?: { managedBytes: number; spilledBytes: number; spilledKeys: number; processBytes: number };
}

/** Called after a task changed state, inside the stimulus (the task record is live). */
export type TransitionObserver = (ts: TaskRecord, start: SchedulerTaskState, finish: SchedulerTaskState, stimulusId: string) => void;

const EMPTY_RECORD: Readonly<Record<string, never>> = Object.freeze({});

/** States in which a victim has dropped a task it was asked to give up (worker states). */
const STOLEN_FROM_STATES: ReadonlySet<string> = new Set(['waiting', 'ready', 'constrained', 'released']);

export class SchedulerState implements WorkerDirectory {
  readonly tasks = new Map<string, TaskRecord>();
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
  readonly transitionLog: TransitionLog;
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
  private generationStart = -Infinity;
  private readonly now: () => number;
  private readonly fireAndForget: ClientRecord;

  private readonly recs = new Map<TaskRecord, SchedulerTaskState>();
  private out = new Outbox('');
  private stimulusId = '';
  private stimulusTime = 0;
  private active = false;
  private readonly slotsOpened = new Set<WorkerRecord>();
  private resourcesFreed = false;
  private runIds = 0;
  private taskOrder = 0;
  private cursor = 0;
  private scatterCursor = 0;
  private stimulusCounter = 0;

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
    this.transitionLog = new TransitionLog(options.transitionLogSize ?? 10_000);
    this.transitionCounterMax = options.transitionCounterMax ?? 10_000_000;
    this.validateEachStimulus = options.validate ?? false;
    this.fireAndForget = new ClientRecord(FIRE_AND_FORGET);
    this.clients.set(FIRE_AND_FORGET, this.fireAndForget);
  }

  get byAddress(): ReadonlyMap<string, WorkerRecord> {
    return this.workers;
  }

  /** A fresh stimulus id for events that do not carry one. */
  nextStimulusId(name: string): string {
    return `${name}-${++this.stimulusCounter}`;
  }

  /* ================================================================ */
  /* Client stimuli                                                     */
  /* ================================================================ */

  registerClient(client: string, name?: string): void {
    const cs = this.ensureClient(client);
    if (name !== undefined) cs.name = name;
  }

  /**
   * New tasks and the keys `client` wants. An invalid graph (cycle, unknown
   * dependency, malformed task) changes nothing: the client gets `task-erred`
   * with an InvalidGraphError for every key of the update it did not already have.
   */
  updateGraph(client: string, tasks: readonly GraphTask[], keys: readonly string[], stimulusId: string): SchedulerMessages {
    const out = this.begin(stimulusId);
    try {
      const cs = this.ensureClient(client);
      let fresh: GraphTask[];
      try {
        fresh = orderNewTasks(tasks, keys, (k) => this.tasks.has(k), (k) => this.lostKeys.has(k));
      } catch (error) {
        if (!(error instanceof InvalidGraphError) && !(error instanceof LostDataError)) throw error;
        this.refuseGraph(cs, tasks, keys, error);
        return out;
      }
      if (this.stimulusTime - this.generationStart > this.fifoTimeout) {
        this.generation += 1;
        this.generationStart = this.stimulusTime;
      }
      const created: TaskRecord[] = [];
      for (let i = 0; i < fresh.length; i++) {
        const ts = this.createTask(fresh[i]!);
        if (ts !== undefined) created.push(ts);
      }
      for (let i = 0; i < keys.length; i++) {
        const ts = this.tasks.get(keys[i]!)!;
        this.addWanter(ts, cs);
        this.reportOrStart(ts, cs);
      }
      this.runTransitions();
      // Tasks sent along that nobody wants and nothing reads will never be needed.
      for (const ts of created) {
        if (ts.state === 'released' && ts.whoWants === undefined && ts.dependents === undefined) this.recs.set(ts, 'forgotten');
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** The client holds futures for `keys` (known keys only; unknown ones are reported cancelled). */
  clientDesiresKeys(client: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    const out = this.begin(stimulusId);
    try {
      const cs = this.ensureClient(client);
      let unknown: string[] | undefined;
      for (const key of keys) {
        const ts = this.tasks.get(key);
        if (ts === undefined) (unknown ??= []).push(key);
        else {
          this.addWanter(ts, cs);
          this.reportOrStart(ts, cs);
        }
      }
      if (unknown !== undefined) out.client(cs, { op: 'cancelled-keys', keys: unknown, reason: 'unknown to the scheduler' });
      return this.end();
    } finally {
      this.active = false;
    }
  }

  clientReleasesKeys(client: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const cs = this.clients.get(client);
      if (cs !== undefined) {
        for (const key of keys) {
          const ts = this.tasks.get(key);
          if (ts !== undefined) this.releaseKeyForClient(ts, cs);
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** The client is gone: everything it wanted is released from it. */
  removeClient(client: string, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const cs = this.clients.get(client);
      if (cs !== undefined && cs !== this.fireAndForget) {
        for (const ts of [...cs.wantsWhat]) this.releaseKeyForClient(ts, cs);
        this.clients.delete(client);
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /**
   * Cancel `keys` for `client`: a key is cancelled only when this client is its
   * only wanter (or `force`), and so are its dependents under the same rule.
   * Every client that loses a future gets `cancelled-keys`.
   */
  cancelKeys(client: string, keys: readonly string[], force: boolean, stimulusId: string): SchedulerMessages {
    const out = this.begin(stimulusId);
    try {
      const cs = this.ensureClient(client);
      const notices = new Map<ClientRecord, string[]>();
      const visited = new Set<TaskRecord>();
      for (const key of keys) {
        const ts = this.tasks.get(key);
        if (ts !== undefined) this.cancelTask(ts, cs, force, notices, visited);
        else pushTo(notices, cs, key);
      }
      for (const [c, cancelled] of notices) out.client(c, { op: 'cancelled-keys', keys: cancelled, reason: 'cancelled' });
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** Erred keys (and the erred dependencies they blame) run again. */
  retry(client: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      void client;
      const stack: TaskRecord[] = [];
      for (const key of keys) {
        const ts = this.tasks.get(key);
        if (ts !== undefined) stack.push(ts);
      }
      const seen = new Set<TaskRecord>();
      while (stack.length > 0) {
        const ts = stack.pop()!;
        if (seen.has(ts)) continue;
        seen.add(ts);
        let erredDeps = false;
        for (const dep of ts.dependencies) {
          if (dep.state === 'erred') {
            erredDeps = true;
            stack.push(dep);
          }
        }
        if (!erredDeps && ts.state === 'erred') this.recs.set(ts, 'waiting');
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /**
   * Values placed on workers from outside (scatter), wanted by `client`. A
   * new key's record is born `released` and moves `waiting -> memory` at once.
   */
  addData(client: string, placed: readonly PlacedData[], stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const cs = this.ensureClient(client);
      for (const item of placed) {
        const holders: WorkerRecord[] = [];
        for (const address of item.workers) {
          const ws = this.workers.get(address);
          if (ws !== undefined && ws.status !== 'closed') holders.push(ws);
        }
        if (holders.length === 0) continue;
        let ts = this.tasks.get(item.key);
        if (ts === undefined) {
          ts = new TaskRecord(item.key, this.prefixes.get(item.key), undefined, undefined);
          ts.order = ++this.taskOrder;
          ts.generation = this.generation;
          this.tasks.set(item.key, ts);
        }
        switch (ts.state) {
          case 'memory':
            for (const ws of holders) this.addReplica(ts, ws);
            this.addWanter(ts, cs);
            this.reportOrStart(ts, cs);
            break;
          case 'released':
          case 'waiting': {
            this.addWanter(ts, cs);
            if (ts.state === 'released') this.setState(ts, 'waiting');
            for (const dep of ts.dependencies) this.dropWaiter(dep, ts);
            ts.waitingOn = undefined;
            ts.nbytes = item.nbytes;
            ts.type = item.type;
            for (const ws of holders) this.addReplica(ts, ws);
            this.setState(ts, 'memory');
            this.afterMemory(ts); // tells the wanters, this client included
            break;
          }
          default:
            // Being computed or erred under the same key: keep the scheduler's version.
            for (const ws of holders) this.out.freeKey(ws, item.key);
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /**
   * Values a worker holds that it reports after (re)meeting this scheduler:
   * registration after a scheduler restart or a lost connection, or a task
   * the previous scheduler started that has finished since. Every value is
   * taken as `memory` on that worker — a key this scheduler does not know
   * (its records died with the old scheduler) becomes a recipe-less record
   * wanted by `holder`, a pseudo-client the caller lets go of later unless a
   * client claims the key first; a key waiting, queued or being computed
   * elsewhere is done already. An erred key keeps its error (the worker drops
   * its copy). The whole report is checked before anything changes.
   */
  adoptHeld(worker: string, held: readonly HeldEntry[], holder: string, stimulusId: string): SchedulerMessages {
    for (const entry of held) {
      if (typeof entry?.key !== 'string' || !(typeof entry.nbytes === 'number' && entry.nbytes >= 0)) {
        throw new DistributedError(`held keys from ${worker}: each entry needs a string key and nbytes >= 0`);
      }
      if (entry.type !== undefined && typeof entry.type !== 'string') throw new DistributedError(`held keys from ${worker}: type of ${entry.key} must be a string`);
    }
    this.begin(stimulusId);
    try {
      const ws = this.workers.get(worker);
      if (ws === undefined || ws.status === 'closed') return this.end();
      const holderCs = this.ensureClient(holder);
      for (const { key, nbytes, type } of held) {
        let ts = this.tasks.get(key);
        if (ts === undefined) {
          ts = new TaskRecord(key, this.prefixes.get(key), undefined, undefined);
          ts.order = ++this.taskOrder;
          ts.generation = this.generation;
          this.tasks.set(key, ts);
          this.addWanter(ts, holderCs);
        }
        switch (ts.state) {
          case 'memory':
            this.addReplica(ts, ws);
            continue;
          case 'erred':
            this.out.freeKey(ws, key);
            continue;
          case 'processing':
            if (ts.processingOn !== ws) this.out.freeKey(this.exitProcessing(ts), key);
            else this.exitProcessing(ts);
            break;
          case 'queued':
          case 'no-worker':
            this.dropFromQueues(ts);
            this.setState(ts, 'released');
            this.setState(ts, 'waiting');
            break;
          case 'released':
            this.setState(ts, 'waiting');
            break;
          default:
            break;
        }
        for (const dep of ts.dependencies) this.dropWaiter(dep, ts);
        ts.waitingOn = undefined;
        // An earlier held key of this report may have made it ready ('processing' recommended):
        // the value is here now, and acting on that stale advice would release it and run it again.
        this.recs.delete(ts);
        ts.nbytes = nbytes;
        ts.type = type;
        this.addReplica(ts, ws);
        this.setState(ts, 'memory');
        this.afterMemory(ts);
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /* ================================================================ */
  /* Worker stimuli                                                     */
  /* ================================================================ */

  addWorker(info: WorkerInfo & { keys?: readonly string[] }, stimulusId: string): SchedulerMessages {
    if (typeof info.address !== 'string' || info.address === '') throw new DistributedError('register-worker: address is required');
    if (!(Number.isFinite(info.nthreads) && info.nthreads >= 1)) {
      throw new DistributedError(`register-worker ${info.address}: nthreads must be >= 1, got ${String(info.nthreads)}`);
    }
    if (this.workers.has(info.address)) throw new DistributedError(`worker ${info.address} is already registered`);
    if (info.name !== undefined && this.byName.has(info.name)) {
      throw new DistributedError(`a worker named ${info.name} is already registered (${this.byName.get(info.name)!.address})`);
    }
    if (info.resources !== undefined) {
      for (const [name, amount] of Object.entries(info.resources)) {
        if (!(typeof amount === 'number' && amount >= 0)) throw new DistributedError(`register-worker ${info.address}: resource ${name} must be a number >= 0`);
      }
    }
    const out = this.begin(stimulusId);
    try {
      const ws = new WorkerRecord(info);
      this.workers.set(ws.address, ws);
      this.byName.set(ws.name, ws);
      let sameHost = this.byHost.get(ws.host);
      if (sameHost === undefined) this.byHost.set(ws.host, (sameHost = new Set()));
      sameHost.add(ws);
      ws.index = this.running.length;
      this.running.push(ws);
      this.totalNthreads += ws.nthreads;
      this.checkIdleSaturated(ws);
      let stale: string[] | undefined;
      for (const key of info.keys ?? []) {
        const ts = this.tasks.get(key);
        if (ts !== undefined && ts.state === 'memory') this.addReplica(ts, ws);
        else if (ts === undefined) (stale ??= []).push(key);
      }
      if (stale !== undefined) out.worker(ws, { op: 'free-keys', keys: stale, stimulusId });
      this.capacityAppeared(ws);
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /**
   * A worker left. Its processing tasks are rescheduled; unless the departure
   * was expected each counts a suspicious death, and a task with more than
   * `allowedFailures` errs with KilledWorker. Values only it held are
   * recomputed when they have a recipe and are needed, or forgotten
   * (scattered data: wanting clients get `lost-data`).
   */
  removeWorker(address: string, options: RemoveWorkerOptions, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ws = this.workers.get(address);
      if (ws !== undefined) {
        ws.status = 'closed';
        this.workers.delete(address);
        if (this.byName.get(ws.name) === ws) this.byName.delete(ws.name);
        const sameHost = this.byHost.get(ws.host);
        if (sameHost !== undefined) {
          sameHost.delete(ws);
          if (sameHost.size === 0) this.byHost.delete(ws.host);
        }
        this.running.splice(ws.index, 1);
        for (let i = ws.index; i < this.running.length; i++) this.running[i]!.index = i;
        this.totalNthreads -= ws.nthreads;
        this.idle.delete(ws);
        this.saturated.delete(ws);
        this.slotsOpened.delete(ws);
        for (const ts of [...ws.processing]) {
          if (!options.expected) {
            ts.suspicious += 1;
            ts.prefix.suspicious += 1;
            if (ts.suspicious > this.allowedFailures) {
              this.exitProcessing(ts);
              const error = new KilledWorker(ts.key, address, this.allowedFailures);
              ts.exception = serializeError(error);
              ts.exceptionBlame = ts;
              this.setState(ts, 'erred');
              this.afterErred(ts);
              continue;
            }
          }
          this.recs.set(ts, 'released');
        }
        for (const ts of [...ws.hasWhat]) {
          this.removeReplica(ts, ws);
          if (ts.whoHas === undefined && ts.state === 'memory') this.recs.set(ts, ts.runSpec === undefined ? 'forgotten' : 'released');
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  taskFinished(worker: string, msg: Pick<TaskFinishedMsg, 'key' | 'runId' | 'nbytes' | 'type' | 'duration' | 'value'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ws = this.workers.get(worker);
      const ts = this.tasks.get(msg.key);
      if (ws !== undefined) {
        if (ts !== undefined && ts.state === 'processing' && ts.processingOn === ws && ts.runId === msg.runId) {
          this.finishTask(ts, ws, msg.nbytes, msg.type, msg.duration, msg.value instanceof Uint8Array ? msg.value : undefined);
        } else if (ts !== undefined && ts.state === 'memory') {
          // Computed twice (a race with a steal or a reschedule): keep the extra copy.
          this.addReplica(ts, ws);
        } else if (ts === undefined || ts.processingOn !== ws) {
          this.out.freeKey(ws, msg.key);
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** A task raised. With retries left it runs again; otherwise it and everything waiting on it err. */
  taskErred(worker: string, msg: Pick<TaskErredFromWorkerMsg, 'key' | 'runId' | 'exception'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ws = this.workers.get(worker);
      const ts = this.tasks.get(msg.key);
      if (ws !== undefined && ts !== undefined && ts.state === 'processing' && ts.processingOn === ws && ts.runId === msg.runId) {
        if (ts.retries > 0) {
          ts.retries -= 1;
          this.recs.set(ts, 'waiting');
        } else {
          this.exitProcessing(ts);
          ts.exception = msg.exception ?? { name: 'Error', message: 'task failed without an exception' };
          ts.exceptionBlame = ts;
          ts.erredOn = ws;
          this.setState(ts, 'erred');
          this.afterErred(ts);
        }
      } else if (ws !== undefined && (ts === undefined || ts.processingOn !== ws)) {
        this.out.freeKey(ws, msg.key);
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** A task seceded from its thread (e.g. it waits on other tasks): its slot is free for others. */
  longRunning(worker: string, msg: Pick<LongRunningMsg, 'key' | 'runId'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ws = this.workers.get(worker);
      const ts = this.tasks.get(msg.key);
      if (ws !== undefined && ts !== undefined && ts.processingOn === ws && !ts.longRunning && msg.runId === ts.runId) {
        ts.longRunning = true;
        ws.longRunning += 1;
        ws.occupancy = Math.max(0, ws.occupancy - ts.expectedDuration);
        ts.expectedDuration = 0;
        if (this.stealing.size > 0) this.dropSteal(ts);
        this.checkIdleSaturated(ws);
        if (ws.status === 'running') this.slotsOpened.add(ws);
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** The worker asks for the task to run elsewhere. */
  reschedule(worker: string, msg: Pick<RescheduleMsg, 'key'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ts = this.tasks.get(msg.key);
      const ws = this.workers.get(worker);
      if (ts !== undefined && ws !== undefined && ts.processingOn === ws) this.recs.set(ts, 'waiting');
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /**
   * `worker` could not get `key` from `msg.worker` (the holder it tried last).
   * That replica is dropped; if none is left the value is recomputed (or, for
   * scattered data, lost). If others remain, the asking worker's tasks that need
   * it are sent again with fresh locations.
   */
  missingData(worker: string, msg: Pick<MissingDataMsg, 'key' | 'worker'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ts = this.tasks.get(msg.key);
      if (ts !== undefined) {
        const errant = this.workers.get(msg.worker);
        if (errant !== undefined && errant.address !== worker) this.removeReplica(ts, errant);
        if (ts.state === 'memory' && ts.whoHas === undefined) {
          this.recs.set(ts, ts.runSpec === undefined ? 'forgotten' : 'released');
        } else if (ts.waiters !== undefined) {
          const asking = this.workers.get(worker);
          for (const dts of ts.waiters) if (dts.state === 'processing' && dts.processingOn === asking) this.recs.set(dts, 'waiting');
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** The worker dropped its copy of `key` on its own. */
  releaseWorkerData(worker: string, msg: Pick<ReleaseWorkerDataMsg, 'key'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ts = this.tasks.get(msg.key);
      const ws = this.workers.get(worker);
      if (ts !== undefined && ws !== undefined) {
        this.removeReplica(ts, ws);
        if (ts.state === 'memory' && ts.whoHas === undefined) this.recs.set(ts, ts.runSpec === undefined ? 'forgotten' : 'released');
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** The worker holds copies of `keys` (e.g. fetched dependencies). Unknown keys: it is told to free them. */
  addKeys(worker: string, msg: Pick<AddKeysMsg, 'keys'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ws = this.workers.get(worker);
      if (ws !== undefined) {
        for (const key of msg.keys) {
          const ts = this.tasks.get(key);
          if (ts !== undefined && ts.state === 'memory') this.addReplica(ts, ws);
          else if (ts === undefined) this.out.freeKey(ws, key);
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /**
   * Drop `worker`'s copies of `keys` that some other worker also holds
   * (rebalance); it gets `remove-replicas` and answers `add-keys` for any it keeps.
   */
  dropReplicas(worker: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    const out = this.begin(stimulusId);
    try {
      const ws = this.workers.get(worker);
      const dropped: string[] = [];
      if (ws !== undefined) {
        for (const key of keys) {
          const ts = this.tasks.get(key);
          if (ts === undefined || ts.state !== 'memory' || !ws.hasWhat.has(ts) || ts.holders().length < 2) continue;
          this.removeReplica(ts, ws);
          dropped.push(key);
        }
        if (dropped.length > 0) out.worker(ws, { op: 'remove-replicas', keys: dropped, stimulusId });
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  workerStatusChange(worker: string, status: WorkerStatus, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ws = this.workers.get(worker);
      const known = status === 'running' || status === 'paused' || status === 'closing';
      if (ws !== undefined && known && ws.status !== status) {
        ws.status = status;
        this.checkIdleSaturated(ws);
        if (status === 'running') this.capacityAppeared(ws);
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /* ================================================================ */
  /* Work stealing                                                      */
  /* ================================================================ */

  /** True when a balance pass could move something: some worker idle and another saturated. */
  get stealingUseful(): boolean {
    return this.idle.size > 0 && this.saturated.size > 0;
  }

  /** One work-stealing pass: `steal-request` to victims for tasks worth moving. */
  balance(stimulusId: string): SchedulerMessages {
    const out = this.begin(stimulusId);
    try {
      // Safety net: idle workers pull queued tasks even if no event opened a slot.
      if (this.queued.size > 0) for (const ws of this.idle) this.slotsOpened.add(ws);
      if (this.stealingUseful) {
        const plans = planSteals({ idle: this.idle, saturated: this.saturated, stealing: this.stealing, bandwidth: this.bandwidth });
        for (const { task, victim, thief } of plans) {
          this.stealing.set(task, { victim, thief });
          victim.stealsOut += 1;
          thief.stealsIn += 1;
          out.worker(victim, { op: 'steal-request', key: task.key, stimulusId });
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /** The victim's answer: if it had not started the task, the task moves to the thief. */
  stealResponse(worker: string, msg: Pick<StealResponseMsg, 'key' | 'state'>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      const ts = this.tasks.get(msg.key);
      const steal = ts === undefined ? undefined : this.stealing.get(ts);
      if (ts !== undefined && steal !== undefined && steal.victim.address === worker) {
        this.dropSteal(ts);
        const victim = steal.victim;
        if (ts.state === 'processing' && ts.processingOn === victim && (msg.state === null || STOLEN_FROM_STATES.has(msg.state))) {
          const thief = steal.thief;
          const resources = ts.restrictions?.resources;
          if (thief.status === 'running' && allowedOn(ts, thief) && (resources === undefined || thief.hasFreeResources(resources))) {
            this.exitProcessing(ts);
            this.addToProcessing(ts, thief);
            this.transitionLog.record(ts.key, 'processing', 'processing', this.stimulusId, this.stimulusTime);
          } else {
            this.recs.set(ts, 'waiting');
          }
        }
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /* ================================================================ */
  /* Generic transitions (tests, tools)                                 */
  /* ================================================================ */

  /**
   * Apply recommendations `{ key: finish }` and everything they lead to.
   * Transitions that need a worker's report (to memory) cannot be recommended.
   */
  transitions(recommendations: Iterable<readonly [string, SchedulerTaskState]>, stimulusId: string): SchedulerMessages {
    this.begin(stimulusId);
    try {
      for (const [key, finish] of recommendations) {
        const ts = this.tasks.get(key);
        if (ts !== undefined) this.recs.set(ts, finish);
      }
      return this.end();
    } finally {
      this.active = false;
    }
  }

  /* ================================================================ */
  /* Queries                                                            */
  /* ================================================================ */

  /**
   * Report in `settled` the next time `key` reaches memory, errs or is forgotten
   * (once: watch again for the next time). False when the key is unknown.
   */
  watch(key: string): boolean {
    const ts = this.tasks.get(key);
    if (ts === undefined) return false;
    ts.watched = true;
    return true;
  }

  whoHas(keys?: readonly string[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    const list = keys ?? [...this.tasks.keys()];
    for (const key of list) {
      const ts = this.tasks.get(key);
      out[key] = toArray(ts?.whoHas).map((ws) => ws.address);
    }
    return out;
  }

  hasWhat(workers?: readonly string[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const ws of this.selectWorkers(workers)) out[ws.address] = [...ws.hasWhat].map((ts) => ts.key);
    return out;
  }

  ncores(workers?: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const ws of this.selectWorkers(workers)) out[ws.address] = ws.nthreads;
    return out;
  }

  /** A worker's heartbeat metrics: its memory figures are kept for schedulerInfo() and the dashboard. */
  workerMetrics(address: string, metrics: unknown): void {
    const ws = this.workers.get(address);
    if (ws === undefined || typeof metrics !== 'object' || metrics === null) return;
    const m = metrics as Record<string, unknown>;
    const figure = (name: string): number => (typeof m[name] === 'number' && Number.isFinite(m[name]) ? (m[name] as number) : 0);
    if (typeof m.spilledBytes !== 'number') return;
    ws.memory = {
      managedBytes: figure('managedBytes'),
      spilledBytes: figure('spilledBytes'),
      spilledKeys: figure('spilledKeys'),
      processBytes: figure('processBytes'),
    };
  }

  workerSummaries(): Record<string, WorkerSummary> {
    const out: Record<string, WorkerSummary> = {};
    for (const ws of this.running) {
      const summary: WorkerSummary = {
        name: ws.name,
        nthreads: ws.nthreads,
        resources: { ...ws.resources },
        memoryLimit: ws.memoryLimit,
        pid: ws.pid,
        host: ws.host,
        status: ws.status,
      };
      if (ws.nanny !== undefined) summary.nanny = ws.nanny;
      if (ws.memory !== undefined) summary.memory = { ...ws.memory };
      out[ws.address] = summary;
    }
    return out;
  }

  /** Workers matching addresses, names or hosts (all running ones when `workers` is undefined). */
  selectWorkers(workers?: readonly string[]): WorkerRecord[] {
    if (workers === undefined) return [...this.running];
    const out = new Set<WorkerRecord>();
    for (const w of workers) {
      const byAddress = this.workers.get(w);
      if (byAddress !== undefined) out.add(byAddress);
      const byName = this.byName.get(w);
      if (byName !== undefined) out.add(byName);
      for (const ws of this.byHost.get(w) ?? []) out.add(ws);
    }
    return [...out];
  }

  /** Where to put scattered values (round-robin over threads, or everywhere). Throws when there are no workers. */
  planScatter(keys: readonly string[], options: { workers?: readonly string[]; broadcast?: boolean } = {}): Map<string, string[]> {
    const candidates = this.selectWorkers(options.workers).filter((ws) => ws.status === 'running');
    if (candidates.length === 0) {
      throw new DistributedError(options.workers === undefined ? 'no workers to scatter to' : `no running worker matches ${options.workers.join(', ')}`);
    }
    const plan = planScatter(keys, candidates, options.broadcast === true, this.scatterCursor);
    this.scatterCursor = plan.nextCursor;
    const out = new Map<string, string[]>();
    for (const [ws, ks] of plan.byWorker) out.set(ws.address, ks);
    return out;
  }

  /** The expected duration of a task of this key's prefix, ms (the unknown-duration default if none finished). */
  expectedDuration(key: string): number {
    const avg = this.prefixes.lookup(prefixName(key))?.durationAverage ?? -1;
    return avg >= 0 ? avg : this.unknownTaskDuration;
  }

  /* ================================================================ */
  /* Stimulus frame                                                     */
  /* ================================================================ */

  private begin(stimulusId: string): Outbox {
    if (this.active) throw new Error('SchedulerState: a stimulus is already being handled (re-entrant call)');
    this.active = true;
    this.stimulusId = stimulusId;
    this.stimulusTime = this.now();
    this.recs.clear();
    this.slotsOpened.clear();
    this.resourcesFreed = false;
    this.out = new Outbox(stimulusId);
    return this.out;
  }

  private end(): Outbox {
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
    return this.out;
  }

  private runTransitions(): void {
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

  private transition(ts: TaskRecord, finish: SchedulerTaskState): void {
    const start = ts.state;
    if (start === finish || start === 'forgotten') return;
    if (schedulerTaskTable.can(start, finish)) {
      this.direct(ts, start, finish);
      return;
    }
    if (start === 'released' || finish === 'released') {
      schedulerTaskTable.move(start, finish, ts.key); // throws InvalidTransitionError
      return;
    }
    this.direct(ts, start, 'released');
    let next: SchedulerTaskState = finish;
    const again = this.recs.get(ts);
    if (again !== undefined) {
      this.recs.delete(ts);
      next = again;
    }
    if (ts.state === 'released' && next !== 'released') this.transition(ts, next);
  }

  private direct(ts: TaskRecord, start: SchedulerTaskState, finish: SchedulerTaskState): void {
    switch (finish) {
      case 'waiting':
        if (start === 'released') return this.releasedToWaiting(ts);
        break;
      case 'processing':
        return this.toProcessing(ts);
      case 'queued':
        this.setState(ts, 'queued');
        if (ts.rootish) this.queued.push(ts);
        else this.waitingForResources.add(ts);
        return;
      case 'no-worker':
        this.setState(ts, 'no-worker');
        this.unrunnable.add(ts);
        return;
      case 'released':
        switch (start) {
          case 'waiting':
            ts.waitingOn = undefined;
            this.setState(ts, 'released');
            return this.propagateReleased(ts);
          case 'queued':
          case 'no-worker':
            this.dropFromQueues(ts);
            this.setState(ts, 'released');
            return this.propagateReleased(ts);
          case 'processing': {
            const ws = this.exitProcessing(ts);
            this.out.freeKey(ws, ts.key);
            this.setState(ts, 'released');
            return this.propagateReleased(ts);
          }
          case 'memory':
            return this.memoryToReleased(ts);
          case 'erred':
            return this.erredToReleased(ts);
        }
        break;
      case 'erred':
        if (ts.exceptionBlame === undefined) throw new DistributedError(`${ts.key}: cannot err without an exception to blame`);
        if (start === 'processing') this.exitProcessing(ts);
        else if (start === 'queued' || start === 'no-worker') this.dropFromQueues(ts);
        else if (start === 'memory') this.removeAllReplicas(ts, true);
        this.setState(ts, 'erred');
        return this.afterErred(ts);
      case 'forgotten':
        if (start === 'memory') this.removeAllReplicas(ts, true);
        return this.forget(ts, start === 'memory');
      case 'memory':
        throw new DistributedError(`${ts.key}: ${start} -> memory needs a worker's report (task-finished or scatter)`);
    }
    schedulerTaskTable.move(start, finish, ts.key);
    throw new DistributedError(`${ts.key}: no handler for ${start} -> ${finish}`);
  }

  private setState(ts: TaskRecord, finish: SchedulerTaskState): void {
    const start = ts.state;
    ts.state = schedulerTaskTable.move(start, finish, ts.key);
    this.transitionLog.record(ts.key, start, finish, this.stimulusId, this.stimulusTime);
    if (this.transitionObserver !== undefined) this.transitionObserver(ts, start, finish, this.stimulusId);
  }

  /* ================================================================ */
  /* Transitions                                                        */
  /* ================================================================ */

  private releasedToWaiting(ts: TaskRecord): void {
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
  private toProcessing(ts: TaskRecord): void {
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
      if (ts.state === 'waiting') this.direct(ts, 'waiting', fallback);
      return;
    }
    if (ts.state !== 'waiting') this.dropFromQueues(ts);
    this.setState(ts, 'processing');
    this.addToProcessing(ts, ws);
  }

  /** `value`: the small encoded result the worker sent along, passed on to wanting clients and not kept. */
  private finishTask(ts: TaskRecord, ws: WorkerRecord, nbytes: number, type: string | undefined, duration: number, value?: Blob): void {
    this.exitProcessing(ts);
    ts.nbytes = typeof nbytes === 'number' && nbytes >= 0 ? nbytes : 0;
    ts.type = type;
    this.addReplica(ts, ws);
    if (typeof duration === 'number') ts.prefix.addDuration(duration);
    this.setState(ts, 'memory');
    this.afterMemory(ts, value);
  }

  private afterMemory(ts: TaskRecord, value?: Blob): void {
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

  private afterErred(ts: TaskRecord): void {
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

  private erredToReleased(ts: TaskRecord): void {
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
  private propagateReleased(ts: TaskRecord): void {
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

  private memoryToReleased(ts: TaskRecord): void {
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

  private forget(ts: TaskRecord, wasInMemory: boolean): void {
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

  private addToProcessing(ts: TaskRecord, ws: WorkerRecord): void {
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
    this.out.worker(ws, this.computeTaskMsg(ts));
  }

  private exitProcessing(ts: TaskRecord): WorkerRecord {
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

  private computeTaskMsg(ts: TaskRecord): OpDict {
    const deps = ts.dependencies;
    let whoHas: Record<string, string[]> = EMPTY_RECORD;
    let nbytes: Record<string, number> = EMPTY_RECORD;
    if (deps.length > 0) {
      // Keyed by task keys: null-prototype objects skip V8's per-new-key hidden classes.
      whoHas = Object.create(null) as Record<string, string[]>;
      nbytes = Object.create(null) as Record<string, number>;
      for (let i = 0; i < deps.length; i++) {
        const dep = deps[i]!;
        const holders: string[] = [];
        const on = dep.whoHas;
        if (on instanceof Set) for (const h of on) holders.push(h.address);
        else if (on !== undefined) holders.push(on.address);
        whoHas[dep.key] = holders;
        nbytes[dep.key] = dep.nbytes;
      }
    }
    const msg: OpDict = {
      op: 'compute-task',
      key: ts.key,
      runId: ts.runId,
      runSpec: ts.runSpec,
      whoHas,
      nbytes,
      priority: ts.priority,
      stimulusId: this.stimulusId,
    };
    const resources = ts.restrictions?.resources;
    if (resources !== undefined) msg.resources = resources;
    return msg;
  }

  private checkIdleSaturated(ws: WorkerRecord): void {
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

  private freeRootishSlots(ws: WorkerRecord, ts: TaskRecord): number {
    return rootishSlotLimit(ws.nthreads, ts.prefix.durationAverage, this.queuing) - ws.busy;
  }

  /**
   * Idle workers first, round-robin (a worker that stays idle after taking a
   * task goes to the back); then any worker with a free root-ish slot, from a
   * rotating cursor. While tasks are queued, new ones queue behind them so
   * priority order holds.
   */
  private pickRootishWorker(ts: TaskRecord): WorkerRecord | undefined {
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
  private fillWorker(ws: WorkerRecord): void {
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
  private capacityAppeared(ws: WorkerRecord): void {
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

  private placeWaitingForResources(): void {
    if (this.waitingForResources.size === 0) return;
    this.waitingForResources.drain((ts) => {
      const decision = decideWorker(ts, this);
      if (decision === NO_VALID_WORKER || decision === RESOURCES_BUSY) return false;
      this.setState(ts, 'processing');
      this.addToProcessing(ts, decision);
      return true;
    });
  }

  private dropFromQueues(ts: TaskRecord): void {
    this.queued.remove(ts);
    this.unrunnable.delete(ts);
    this.waitingForResources.delete(ts);
  }

  private dropSteal(ts: TaskRecord): void {
    const steal = this.stealing.get(ts);
    if (steal === undefined) return;
    this.stealing.delete(ts);
    steal.victim.stealsOut -= 1;
    steal.thief.stealsIn -= 1;
  }

  /* ================================================================ */
  /* Replicas, wanters, dependents                                      */
  /* ================================================================ */

  private addReplica(ts: TaskRecord, ws: WorkerRecord): void {
    if (contains(ts.whoHas, ws)) return;
    ts.whoHas = withMember(ts.whoHas, ws);
    ws.hasWhat.add(ts);
    if (ts.nbytes > 0) ws.nbytes += ts.nbytes;
  }

  private removeReplica(ts: TaskRecord, ws: WorkerRecord): void {
    if (!contains(ts.whoHas, ws)) return;
    ts.whoHas = withoutMember(ts.whoHas, ws);
    ws.hasWhat.delete(ts);
    if (ts.nbytes > 0) ws.nbytes -= ts.nbytes;
  }

  private removeAllReplicas(ts: TaskRecord, tellWorkers: boolean): void {
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
  private dropWaiter(dep: TaskRecord, ts: TaskRecord): void {
    const waiters = dep.waiters;
    if (waiters === undefined || !waiters.delete(ts)) return;
    if (waiters.size > 0) return;
    dep.waiters = undefined;
    if (dep.whoWants === undefined && dep.state !== 'erred' && dep.state !== 'released') this.recs.set(dep, 'released');
  }

  private ensureClient(id: string): ClientRecord {
    let cs = this.clients.get(id);
    if (cs === undefined) {
      cs = new ClientRecord(id);
      this.clients.set(id, cs);
    }
    return cs;
  }

  /** Returns false when `cs` already wanted `ts`. */
  private addWanter(ts: TaskRecord, cs: ClientRecord): boolean {
    if (contains(ts.whoWants, cs)) return false;
    ts.whoWants = withMember(ts.whoWants, cs);
    cs.wantsWhat.add(ts);
    return true;
  }

  private releaseKeyForClient(ts: TaskRecord, cs: ClientRecord): void {
    if (!contains(ts.whoWants, cs)) return;
    ts.whoWants = withoutMember(ts.whoWants, cs);
    cs.wantsWhat.delete(ts);
    if (ts.whoWants !== undefined) return;
    if (ts.dependents === undefined) this.recs.set(ts, 'forgotten');
    else if (ts.state !== 'erred' && ts.waiters === undefined) this.recs.set(ts, 'released');
  }

  /** Tell a client that now wants `ts` where it stands, or start computing it. */
  private reportOrStart(ts: TaskRecord, cs: ClientRecord): void {
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

  private cancelTask(ts: TaskRecord, cs: ClientRecord, force: boolean, notices: Map<ClientRecord, string[]>, visited: Set<TaskRecord>): void {
    if (visited.has(ts)) return;
    visited.add(ts);
    const wanters = ts.whoWants;
    if (wanters === undefined) return;
    if (!force && wanters !== cs) return;
    if (ts.dependents !== undefined) for (const dts of [...ts.dependents]) this.cancelTask(dts, cs, force, notices, visited);
    const losing = force ? toArray(wanters) : [cs];
    for (const c of losing) {
      pushTo(notices, c, ts.key);
      this.releaseKeyForClient(ts, c);
    }
  }

  private createTask(gt: GraphTask): TaskRecord | undefined {
    const key = gt.key;
    if (this.tasks.has(key)) return undefined; // repeated in the message: the first wins
    const ts = new TaskRecord(key, this.prefixes.get(key), gt.runSpec, normalizeRestrictions(gt.restrictions));
    const depKeys = gt.dependencies;
    if (depKeys !== undefined && depKeys.length > 0) {
      const deps: TaskRecord[] = [];
      for (let i = 0; i < depKeys.length; i++) {
        const dep = this.tasks.get(depKeys[i]!)!;
        if (dep.dependents === undefined) dep.dependents = new Set();
        else if (dep.dependents.has(ts)) continue;
        dep.dependents.add(ts);
        deps.push(dep);
      }
      ts.dependencies = deps;
    }
    if (gt.retries !== undefined) ts.retries = gt.retries;
    if (gt.priority !== undefined) ts.userPriority = gt.priority;
    ts.generation = this.generation;
    ts.order = ++this.taskOrder;
    this.tasks.set(key, ts);
    return ts;
  }

  private refuseGraph(cs: ClientRecord, tasks: readonly GraphTask[], keys: readonly string[], error: InvalidGraphError | LostDataError): void {
    const exception: SerializedError = serializeError(error);
    const refused = new Set<string>();
    if (Array.isArray(tasks)) {
      for (const task of tasks as readonly unknown[]) {
        const key = (task as { key?: unknown } | null)?.key;
        if (typeof key === 'string' && !this.tasks.has(key)) refused.add(key);
      }
    }
    if (Array.isArray(keys)) for (const key of keys) if (typeof key === 'string' && !this.tasks.has(key)) refused.add(key);
    for (const key of refused) this.out.client(cs, { op: 'task-erred', key, exception });
  }

  private settle(ts: TaskRecord, state: SettledKey['state']): void {
    if (!ts.watched) return;
    ts.watched = false;
    const entry: SettledKey = { key: ts.key, state };
    if (state === 'erred' && ts.exceptionBlame?.exception !== undefined) entry.exception = ts.exceptionBlame.exception;
    this.out.settle(entry);
  }

  /* ================================================================ */
  /* Validation                                                         */
  /* ================================================================ */

  /** Checks every invariant; throws an Error naming the first broken one. O(tasks + workers). */
  validate(): void {
    const fail = (what: string): never => {
      throw new Error(`SchedulerState invariant broken: ${what}`);
    };
    const pending = new Set(['waiting', 'queued', 'no-worker', 'processing']);
    for (const [key, ts] of this.tasks) {
      if (ts.key !== key) fail(`${key} stored under another key`);
      if (ts.state === 'forgotten') fail(`${key} is forgotten but still stored`);
      for (const set of [ts.dependents, ts.waitingOn, ts.waiters] as (Set<unknown> | undefined)[]) {
        if (set !== undefined && set.size === 0) fail(`${key} keeps an empty set`);
      }
      for (const many of [ts.whoHas, ts.whoWants] as unknown[]) {
        if (many instanceof Set && many.size < 2) fail(`${key} keeps a Set of ${many.size} instead of the inline form`);
      }
      if ((ts.whoHas !== undefined) !== (ts.state === 'memory')) fail(`${key} in ${ts.state} with ${count(ts.whoHas)} holders`);
      if ((ts.processingOn !== undefined) !== (ts.state === 'processing')) fail(`${key} in ${ts.state} with processingOn`);
      if (ts.processingOn !== undefined && !ts.processingOn.processing.has(ts)) fail(`${key} not in its worker's processing`);
      if (ts.state === 'queued' && !this.queued.has(ts) && !this.waitingForResources.has(ts)) fail(`${key} queued but in no queue`);
      if (ts.state === 'no-worker' && !this.unrunnable.has(ts) && !this.waitingForResources.has(ts)) fail(`${key} no-worker but not unrunnable`);
      if (ts.state !== 'waiting' && ts.waitingOn !== undefined) fail(`${key} in ${ts.state} has waitingOn`);
      if (ts.state === 'waiting') {
        for (const dep of ts.waitingOn ?? []) {
          if (!ts.dependencies.includes(dep)) fail(`${key} waits on non-dependency ${dep.key}`);
          if (dep.whoHas !== undefined) fail(`${key} waits on ${dep.key} which is in memory`);
        }
        for (const dep of ts.dependencies) {
          if (dep.whoHas === undefined && !ts.waitingOn?.has(dep)) fail(`${key} does not wait on missing ${dep.key}`);
        }
      }
      if (pending.has(ts.state)) {
        for (const dep of ts.dependencies) if (!dep.waiters?.has(ts)) fail(`${key} (${ts.state}) missing from ${dep.key}.waiters`);
      }
      for (const w of ts.waiters ?? []) {
        if (!w.dependencies.includes(ts)) fail(`${key}.waiters has non-dependent ${w.key}`);
        if (!pending.has(w.state)) fail(`${key}.waiters has ${w.key} in ${w.state}`);
      }
      for (const d of ts.dependents ?? []) if (!d.dependencies.includes(ts)) fail(`${key}.dependents has ${d.key} which does not depend on it`);
      for (const dep of ts.dependencies) if (!ts.hasLostDependencies && !dep.dependents?.has(ts)) fail(`${key} missing from ${dep.key}.dependents`);
      for (const cs of toArray(ts.whoWants)) if (!cs.wantsWhat.has(ts)) fail(`${key} wanted by ${cs.id} without the inverse`);
      for (const ws of toArray(ts.whoHas)) if (!ws.hasWhat.has(ts)) fail(`${key} on ${ws.address} without the inverse`);
      if (ts.state === 'erred' && ts.exceptionBlame?.exception === undefined) fail(`${key} erred without an exception`);
      if (ts.whoWants === undefined && ts.dependents === undefined && ts.state !== 'processing' && ts.state !== 'memory' && ts.state !== 'erred') {
        fail(`${key} in ${ts.state} is wanted by nobody and read by nothing`);
      }
    }
    for (const ts of this.queued.values()) if (ts.state !== 'queued') fail(`${ts.key} in the queue while ${ts.state}`);
    for (const ts of this.unrunnable) if (ts.state !== 'no-worker') fail(`${ts.key} unrunnable while ${ts.state}`);
    for (const ts of this.waitingForResources.values()) if (ts.state !== 'queued' && ts.state !== 'no-worker') fail(`${ts.key} waits for resources while ${ts.state}`);
    let threads = 0;
    for (let i = 0; i < this.running.length; i++) {
      const ws = this.running[i]!;
      if (ws.index !== i) fail(`${ws.address} has index ${ws.index}, expected ${i}`);
      if (this.workers.get(ws.address) !== ws) fail(`${ws.address} not in workers`);
      threads += ws.nthreads;
      let occupancy = 0;
      let longRunning = 0;
      for (const ts of ws.processing) {
        if (ts.processingOn !== ws || ts.state !== 'processing') fail(`${ws.address} processing ${ts.key} in ${ts.state}`);
        occupancy += ts.expectedDuration;
        if (ts.longRunning) longRunning += 1;
      }
      if (longRunning !== ws.longRunning) fail(`${ws.address} long-running count ${ws.longRunning} != ${longRunning}`);
      if (Math.abs(occupancy - ws.occupancy) > 1e-6 * Math.max(1, occupancy)) fail(`${ws.address} occupancy ${ws.occupancy} != ${occupancy}`);
      for (const ts of ws.hasWhat) if (!contains(ts.whoHas, ws)) fail(`${ws.address} has ${ts.key} without the inverse`);
      const shouldIdle = ws.status === 'running' && ws.busy < ws.nthreads;
      if (this.idle.has(ws) !== shouldIdle) fail(`${ws.address} idle membership wrong`);
      if (ws.usedResources !== undefined && ws.resources !== undefined) {
        for (const [name, used] of Object.entries(ws.usedResources)) {
          if (used > ws.resources[name]! + 1e-9) fail(`${ws.address} oversubscribes ${name}: ${used} > ${ws.resources[name]}`);
        }
      }
    }
    if (threads !== this.totalNthreads) fail(`totalNthreads ${this.totalNthreads} != ${threads}`);
    if (this.running.length !== this.workers.size) fail('running list and workers map differ');
  }
}

function pushTo<K>(map: Map<K, string[]>, k: K, key: string): void {
  const list = map.get(k);
  if (list === undefined) map.set(k, [key]);
  else list.push(key);
}

function sortedByPriority(tasks: Iterable<TaskRecord>): TaskRecord[] {
  return [...tasks].sort((a, b) => (runsBefore(a, b) ? -1 : runsBefore(b, a) ? 1 : 0));
}
