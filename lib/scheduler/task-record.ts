/**
 * The scheduler's view of one task. A plain record (one hidden class, no
 * per-record closures); sets are created on first use and dropped when they
 * empty, so a finished task holds little more than its key, its recipe and its
 * holders. `state` changes only in lib/scheduler/state.ts, through
 * `schedulerTaskTable.move`.
 */
import type { SchedulerTaskState } from '../../machines/scheduler-task.js';
import type { Restrictions, RunSpec, SerializedError } from '../protocol/messages.js';
import type { ClientRecord } from './client-record.js';
import { toArray, type OneOrMany } from './one-or-many.js';
import type { TaskPrefix } from './task-prefix.js';
import type { WorkerRecord } from './worker-record.js';

/** Shared by every task without dependencies. Never mutated. */
export const NO_TASKS: readonly TaskRecord[] = Object.freeze([]) as readonly TaskRecord[];

export class TaskRecord {
  state: SchedulerTaskState = 'released';
  /** Tasks whose values this task reads (ordered as the client listed them). */
  dependencies: readonly TaskRecord[] = NO_TASKS;
  /** Every known task that reads this one. */
  dependents: Set<TaskRecord> | undefined = undefined;
  /** While waiting: dependencies not yet in memory. */
  waitingOn: Set<TaskRecord> | undefined = undefined;
  /** Dependents that still need this task's value (waiting, queued, no-worker or processing). */
  waiters: Set<TaskRecord> | undefined = undefined;
  /** Workers holding the value (inline when one: see one-or-many.ts). */
  whoHas: OneOrMany<WorkerRecord> = undefined;
  /** Clients (and pseudo-clients) holding futures for this key (inline when one). */
  whoWants: OneOrMany<ClientRecord> = undefined;
  /** Bytes of the value's Blob; -1 while unknown. */
  nbytes = -1;
  type: string | undefined = undefined;
  retries = 0;
  /** Priority, compared as [-userPriority, generation, order] (smaller runs first). */
  userPriority = 0;
  generation = 0;
  order = 0;
  /** Workers that died while this task was processing on them. */
  suspicious = 0;
  exception: SerializedError | undefined = undefined;
  /** The task whose exception this task carries (itself when it failed on a worker). */
  exceptionBlame: TaskRecord | undefined = undefined;
  /** The worker that reported the error, told to forget it when the error is released. */
  erredOn: WorkerRecord | undefined = undefined;
  processingOn: WorkerRecord | undefined = undefined;
  /** Identifies the current assignment; results from an older one are ignored. */
  runId = -1;
  /** Duration counted in the worker's occupancy while processing, ms. */
  expectedDuration = 0;
  longRunning = false;
  /** Position in the scheduler's queue while queued; -1 otherwise. */
  queueIndex = -1;
  /** A dependency was forgotten: this task can never be computed again. */
  hasLostDependencies = false;
  /** Report the next time this task reaches memory, erred or forgotten (SchedulerState.watch). */
  watched = false;

  constructor(
    readonly key: string,
    readonly prefix: TaskPrefix,
    /** Opaque to the scheduler; absent for scattered data. */
    public runSpec: RunSpec | undefined,
    public restrictions: Restrictions | undefined,
  ) {}

  /** No dependencies and no restrictions: may be held back on the scheduler while workers are saturated. */
  get rootish(): boolean {
    return this.dependencies.length === 0 && this.restrictions === undefined;
  }

  /** A copy of the holders. */
  holders(): WorkerRecord[] {
    return toArray(this.whoHas);
  }

  /** A copy of the wanters. */
  wanters(): ClientRecord[] {
    return toArray(this.whoWants);
  }

  get priority(): [number, number, number] {
    return [-this.userPriority, this.generation, this.order];
  }
}

/** True when `a` should run before `b`. */
export function runsBefore(a: TaskRecord, b: TaskRecord): boolean {
  if (a.userPriority !== b.userPriority) return a.userPriority > b.userPriority;
  if (a.generation !== b.generation) return a.generation < b.generation;
  return a.order < b.order;
}

/** `undefined` for restrictions that restrict nothing, so `rootish` stays a cheap check. */
export function normalizeRestrictions(r: Restrictions | undefined): Restrictions | undefined {
  if (r === undefined || r === null) return undefined;
  const workers = Array.isArray(r.workers) && r.workers.length > 0 ? r.workers : undefined;
  let resources: Record<string, number> | undefined;
  if (r.resources !== undefined && r.resources !== null) {
    for (const [name, amount] of Object.entries(r.resources)) {
      if (typeof amount === 'number' && amount > 0) (resources ??= {})[name] = amount;
    }
  }
  if (workers === undefined && resources === undefined) return undefined;
  const out: Restrictions = {};
  if (workers !== undefined) out.workers = workers;
  if (r.allowOtherWorkers === true) out.allowOtherWorkers = true;
  if (resources !== undefined) out.resources = resources;
  return out;
}
