/**
 * The scheduler's pure state (dask's `SchedulerState`): task, worker and
 * client records and the task state machine. No I/O, no timers: every public
 * stimulus method takes the event, moves records through transitions and
 * returns the messages the actor must send (SchedulerMessages).
 *
 * This file holds the stimuli (client and worker events, work stealing) and
 * the queries; the records, the frame every stimulus runs in and the
 * lifecycle's edge handlers are in its base class, transition-engine.ts.
 */
import type { SchedulerTaskState } from '../../machines/scheduler-task.js';
import { storyOf } from '../../machines/stimulus-log.js';
import { DistributedError, InvalidGraphError, KilledWorker, LostDataError } from '../errors.js';
import { serializeError } from '../protocol/errors.js';
import type {
  AddKeysMsg,
  GraphTask,
  LongRunningMsg,
  MissingDataMsg,
  ReleaseWorkerDataMsg,
  RescheduleMsg,
  RunSpec,
  SerializedError,
  StealResponseMsg,
  StoryRecord,
  TaskErredFromWorkerMsg,
  TaskFinishedMsg,
  WorkerStatus,
} from '../protocol/messages.js';
import { ClientRecord, normalizeRestrictions, TaskRecord, WorkerRecord, type WorkerRegistration } from './records.js';
import { toArray } from './one-or-many.js';
import { ByteSlab } from '../protocol/byte-slab.js';
import { allowedOn } from './decide-worker.js';
import { orderNewTasks } from './graph-validation.js';
import { planScatter } from './scatter-placement.js';
import { planSteals } from './stealing.js';
import { prefixName } from './task-prefix.js';
import { recordWorkerMemory, summarizeWorkers, type WorkerSummary } from './worker-summary.js';
import { TransitionEngine, UNCHANGED, type MemoryReport, type SchedulerMessages, type SettledKey, type SchedulerStateOptions, type TransitionObserver } from './transition-engine.js';

export type { SchedulerMessages, SettledKey, SchedulerStateOptions, TransitionObserver, WorkerSummary };

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

/** States in which a victim has dropped a task it was asked to give up (worker states). */
const STOLEN_FROM_STATES: ReadonlySet<string> = new Set(['waiting', 'ready', 'constrained', 'released']);

export class SchedulerState extends TransitionEngine {
  /** Where the argument bytes of small recipes are kept for recomputation (byte-slab.ts). */
  private readonly recipeBytes = new ByteSlab();

  /** What happened to `key` here, as far as the bounded logs remember: the stimuli that named it and its transitions, oldest first. */
  story(key: string): StoryRecord[] {
    return storyOf(key, this.stimulusLog, this.transitionLog, 'scheduler', this.epoch);
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
    return this.frame('update-graph', stimulusId, keys, () => {
      const cs = this.ensureClient(client);
      let fresh: GraphTask[];
      try {
        fresh = orderNewTasks(tasks, keys, (k) => this.tasks.has(k), (k) => this.lostKeys.has(k));
      } catch (error) {
        if (!(error instanceof InvalidGraphError) && !(error instanceof LostDataError)) throw error;
        this.refuseGraph(cs, tasks, keys, error);
        return UNCHANGED;
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
    });
  }

  /** The client holds futures for `keys` (known keys only; unknown ones are reported cancelled). */
  clientDesiresKeys(client: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    return this.frame('client-desires-keys', stimulusId, keys, (out) => {
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
    });
  }

  clientReleasesKeys(client: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    return this.frame('client-releases-keys', stimulusId, keys, () => {
      const cs = this.clients.get(client);
      if (cs !== undefined) {
        for (const key of keys) {
          const ts = this.tasks.get(key);
          if (ts !== undefined) this.releaseKeyForClient(ts, cs);
        }
      }
    });
  }

  /** The client is gone: everything it wanted is released from it. */
  removeClient(client: string, stimulusId: string): SchedulerMessages {
    return this.frame('remove-client', stimulusId, undefined, () => {
      const cs = this.clients.get(client);
      if (cs !== undefined && cs !== this.fireAndForget) {
        for (const ts of [...cs.wantsWhat]) this.releaseKeyForClient(ts, cs);
        this.clients.delete(client);
      }
    });
  }

  /**
   * Cancel `keys` for `client`: a key is cancelled only when this client is its
   * only wanter (or `force`), and so are its dependents under the same rule.
   * Every client that loses a future gets `cancelled-keys`.
   */
  cancelKeys(client: string, keys: readonly string[], force: boolean, stimulusId: string): SchedulerMessages {
    return this.frame('cancel-keys', stimulusId, keys, (out) => {
      const cs = this.ensureClient(client);
      const notices = new Map<ClientRecord, string[]>();
      const visited = new Set<TaskRecord>();
      for (const key of keys) {
        const ts = this.tasks.get(key);
        if (ts !== undefined) this.cancelTask(ts, cs, force, notices, visited);
        else pushTo(notices, cs, key);
      }
      for (const [c, cancelled] of notices) out.client(c, { op: 'cancelled-keys', keys: cancelled, reason: 'cancelled' });
    });
  }

  /** Erred keys (and the erred dependencies they blame) run again. */
  retry(client: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    return this.frame('retry', stimulusId, keys, () => {
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
    });
  }

  /**
   * Values placed on workers from outside (scatter), wanted by `client`. A
   * new key's record is born `released` and moves `waiting -> memory` at once.
   */
  addData(client: string, placed: readonly PlacedData[], stimulusId: string): SchedulerMessages {
    return this.frame('add-data', stimulusId, placed.map((item) => item.key), () => {
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
            // waiting -> memory tells the wanters, this client included.
            this.transition(ts, 'memory', { holders, nbytes: item.nbytes, type: item.type });
            break;
          }
          default:
            // Being computed or erred under the same key: keep the scheduler's version.
            for (const ws of holders) this.out.freeKey(ws, item.key);
        }
      }
    });
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
    return this.frame('held-keys', stimulusId, held.map((entry) => entry.key), () => {
      const ws = this.workers.get(worker);
      if (ws === undefined || ws.status === 'closed') return;
      const holderCs = this.ensureClient(holder);
      for (const { key, nbytes, type } of held) {
        let computing: WorkerRecord | undefined;
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
            // processing -> memory leaves that worker; one computing it elsewhere is told to drop it.
            if (ts.processingOn !== ws) computing = ts.processingOn;
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
        this.transition(ts, 'memory', { holders: ws, nbytes, type });
        if (computing !== undefined) this.out.freeKey(computing, key);
      }
    });
  }

  /* ================================================================ */
  /* Worker stimuli                                                     */
  /* ================================================================ */

  addWorker(info: WorkerRegistration & { keys?: readonly string[] }, stimulusId: string): SchedulerMessages {
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
    return this.frame('add-worker', stimulusId, info.keys, (out) => {
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
    });
  }

  /**
   * A worker left. Its processing tasks are rescheduled; unless the departure
   * was expected each counts a suspicious death, and a task with more than
   * `allowedFailures` errs with KilledWorker. Values only it held are
   * recomputed when they have a recipe and are needed, or forgotten
   * (scattered data: wanting clients get `lost-data`).
   */
  removeWorker(address: string, options: RemoveWorkerOptions, stimulusId: string): SchedulerMessages {
    return this.frame('remove-worker', stimulusId, undefined, () => {
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
              const error = new KilledWorker(ts.key, address, this.allowedFailures);
              ts.exception = serializeError(error);
              ts.exceptionBlame = ts;
              this.transition(ts, 'erred');
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
    });
  }

  taskFinished(worker: string, msg: Pick<TaskFinishedMsg, 'key' | 'runId' | 'nbytes' | 'type' | 'duration' | 'value'>, stimulusId: string): SchedulerMessages {
    return this.frame('task-finished', stimulusId, msg.key, () => {
      const ws = this.workers.get(worker);
      const ts = this.tasks.get(msg.key);
      if (ws !== undefined) {
        if (ts !== undefined && ts.state === 'processing' && ts.processingOn === ws && ts.runId === msg.runId) {
          const nbytes = typeof msg.nbytes === 'number' && msg.nbytes >= 0 ? msg.nbytes : 0;
          const duration = typeof msg.duration === 'number' ? msg.duration : undefined;
          const value = msg.value instanceof Uint8Array ? msg.value : undefined;
          this.transition(ts, 'memory', { holders: ws, nbytes, type: msg.type, duration, value });
        } else if (ts !== undefined && ts.state === 'memory') {
          // Computed twice (a race with a steal or a reschedule): keep the extra copy.
          this.addReplica(ts, ws);
        } else if (ts === undefined || ts.processingOn !== ws) {
          this.out.freeKey(ws, msg.key);
        }
      }
    });
  }

  /** A task raised. With retries left it runs again; otherwise it and everything waiting on it err. */
  taskErred(worker: string, msg: Pick<TaskErredFromWorkerMsg, 'key' | 'runId' | 'exception'>, stimulusId: string): SchedulerMessages {
    return this.frame('task-erred', stimulusId, msg.key, () => {
      const ws = this.workers.get(worker);
      const ts = this.tasks.get(msg.key);
      if (ws !== undefined && ts !== undefined && ts.state === 'processing' && ts.processingOn === ws && ts.runId === msg.runId) {
        if (ts.retries > 0) {
          ts.retries -= 1;
          this.recs.set(ts, 'waiting');
        } else {
          ts.exception = msg.exception ?? { name: 'Error', message: 'task failed without an exception' };
          ts.exceptionBlame = ts;
          ts.erredOn = ws;
          this.transition(ts, 'erred');
        }
      } else if (ws !== undefined && (ts === undefined || ts.processingOn !== ws)) {
        this.out.freeKey(ws, msg.key);
      }
    });
  }

  /** A task seceded from its thread (e.g. it waits on other tasks): its slot is free for others. */
  longRunning(worker: string, msg: Pick<LongRunningMsg, 'key' | 'runId'>, stimulusId: string): SchedulerMessages {
    return this.frame('long-running', stimulusId, msg.key, () => {
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
    });
  }

  /** The worker asks for the task to run elsewhere. */
  reschedule(worker: string, msg: Pick<RescheduleMsg, 'key'>, stimulusId: string): SchedulerMessages {
    return this.frame('reschedule', stimulusId, msg.key, () => {
      const ts = this.tasks.get(msg.key);
      const ws = this.workers.get(worker);
      if (ts !== undefined && ws !== undefined && ts.processingOn === ws) this.recs.set(ts, 'waiting');
    });
  }

  /**
   * `worker` could not get `key` from `msg.worker` (the holder it tried last).
   * That replica is dropped; if none is left the value is recomputed (or, for
   * scattered data, lost). If others remain, the asking worker's tasks that need
   * it are sent again with fresh locations.
   */
  missingData(worker: string, msg: Pick<MissingDataMsg, 'key' | 'worker'>, stimulusId: string): SchedulerMessages {
    return this.frame('missing-data', stimulusId, msg.key, () => {
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
    });
  }

  /** The worker dropped its copy of `key` on its own. */
  releaseWorkerData(worker: string, msg: Pick<ReleaseWorkerDataMsg, 'key'>, stimulusId: string): SchedulerMessages {
    return this.frame('release-worker-data', stimulusId, msg.key, () => {
      const ts = this.tasks.get(msg.key);
      const ws = this.workers.get(worker);
      if (ts !== undefined && ws !== undefined) {
        this.removeReplica(ts, ws);
        if (ts.state === 'memory' && ts.whoHas === undefined) this.recs.set(ts, ts.runSpec === undefined ? 'forgotten' : 'released');
      }
    });
  }

  /** The worker holds copies of `keys` (e.g. fetched dependencies). Unknown keys: it is told to free them. */
  addKeys(worker: string, msg: Pick<AddKeysMsg, 'keys'>, stimulusId: string): SchedulerMessages {
    return this.frame('add-keys', stimulusId, msg.keys, () => {
      const ws = this.workers.get(worker);
      if (ws !== undefined) {
        for (const key of msg.keys) {
          const ts = this.tasks.get(key);
          if (ts !== undefined && ts.state === 'memory') this.addReplica(ts, ws);
          else if (ts === undefined) this.out.freeKey(ws, key);
        }
      }
    });
  }

  /**
   * Drop `worker`'s copies of `keys` that some other worker also holds
   * (rebalance); it gets `remove-replicas` and answers `add-keys` for any it keeps.
   */
  dropReplicas(worker: string, keys: readonly string[], stimulusId: string): SchedulerMessages {
    return this.frame('drop-replicas', stimulusId, keys, (out) => {
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
    });
  }

  workerStatusChange(worker: string, status: WorkerStatus, stimulusId: string): SchedulerMessages {
    return this.frame('worker-status-change', stimulusId, undefined, () => {
      const ws = this.workers.get(worker);
      const known = status === 'running' || status === 'paused' || status === 'closing';
      if (ws !== undefined && known && ws.status !== status) {
        ws.status = status;
        this.checkIdleSaturated(ws);
        if (status === 'running') this.capacityAppeared(ws);
      }
    });
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
    return this.frame('balance', stimulusId, undefined, (out) => {
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
    });
  }

  /** The victim's answer: if it had not started the task, the task moves to the thief. */
  stealResponse(worker: string, msg: Pick<StealResponseMsg, 'key' | 'state'>, stimulusId: string): SchedulerMessages {
    return this.frame('steal-response', stimulusId, msg.key, () => {
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
    });
  }

  /* ================================================================ */
  /* Generic transitions (tests, tools)                                 */
  /* ================================================================ */

  /**
   * Apply recommendations `{ key: finish }` and everything they lead to.
   * Transitions that need a worker's report (to memory) cannot be recommended.
   */
  transitions(recommendations: Iterable<readonly [string, SchedulerTaskState]>, stimulusId: string): SchedulerMessages {
    return this.frame('transitions', stimulusId, undefined, () => {
      for (const [key, finish] of recommendations) {
        const ts = this.tasks.get(key);
        if (ts !== undefined) this.recs.set(ts, finish);
      }
    });
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
    if (ws !== undefined) recordWorkerMemory(ws, metrics);
  }

  workerSummaries(): Record<string, WorkerSummary> {
    return summarizeWorkers(this.running);
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
  /* Stimulus helpers                                                   */
  /* ================================================================ */

  protected cancelTask(ts: TaskRecord, cs: ClientRecord, force: boolean, notices: Map<ClientRecord, string[]>, visited: Set<TaskRecord>): void {
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

  /** `spec` as the task record keeps it: small argument bytes packed (the sender's object is not changed). */
  private keptRecipe(spec: RunSpec | undefined): RunSpec | undefined {
    const args = spec?.args;
    if (!(args instanceof Uint8Array)) return spec;
    const packed = this.recipeBytes.pack(args);
    return packed === args ? spec : { ...spec!, args: packed };
  }

  protected createTask(gt: GraphTask): TaskRecord | undefined {
    const key = gt.key;
    if (this.tasks.has(key)) return undefined; // repeated in the message: the first wins
    const ts = new TaskRecord(key, this.prefixes.get(key), this.keptRecipe(gt.runSpec), normalizeRestrictions(gt.restrictions));
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

  protected refuseGraph(cs: ClientRecord, tasks: readonly GraphTask[], keys: readonly string[], error: InvalidGraphError | LostDataError): void {
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
}

function pushTo<K>(map: Map<K, string[]>, k: K, key: string): void {
  const list = map.get(k);
  if (list === undefined) map.set(k, [key]);
  else list.push(key);
}
