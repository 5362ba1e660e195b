/**
 * The scheduler's data model: one record per task, worker and client, which
 * point at each other (one file, as they are one model).
 *
 * TaskRecord: the scheduler's view of one task. A plain record (one hidden class, no
 * per-record closures); sets are created on first use and dropped when they
 * empty, so a finished task holds little more than its key, its recipe and its
 * holders. `state` changes only in lib/scheduler/state.ts, through
 * `schedulerTaskTable.move`.
 */
import type { SchedulerTaskState } from '../../machines/scheduler-task.js';
import type { Restrictions, RunSpec, SerializedError, WorkerStatus } from '../protocol/messages.js';
import { toArray, type OneOrMany } from './one-or-many.js';
import type { TaskPrefix } from './task-prefix.js';
import { ShardedSet } from '../sharded-map.js';

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

/** What a worker registers with: the scheduler's view of its identity and size. */

export interface WorkerRegistration {
  address: string;
  name?: string;
  /** Defaults to the host part of the address (see hostOfAddress). */
  host?: string;
  nthreads: number;
  resources?: Record<string, number>;
  memoryLimit?: number;
  pid?: number;
  nanny?: string;
}

export class WorkerRecord {
  status: WorkerStatus = 'running';
  /** Tasks assigned and not yet reported back. */
  readonly processing = new Set<TaskRecord>();
  /** Keys whose value this worker holds. */
  readonly hasWhat: Set<TaskRecord> = new ShardedSet<TaskRecord>();
  /** Sum of expected durations of `processing`, ms (long-running tasks excluded). */
  occupancy = 0;
  /** Bytes of the values in `hasWhat`. */
  nbytes = 0;
  /** Processing tasks that seceded (long-running): they hold no thread slot. */
  longRunning = 0;
  /** Resources taken by processing tasks. Present only for workers advertising resources. */
  readonly usedResources: Record<string, number> | undefined;
  /** Processing tasks whose steal is in flight, by thief: kept off the victim's count while pending. */
  stealsOut = 0;
  stealsIn = 0;
  /** Position in the scheduler's worker list (round-robin cursor). */
  index = -1;

  readonly address: string;
  readonly name: string;
  readonly host: string;
  readonly nthreads: number;
  readonly resources: Readonly<Record<string, number>> | undefined;
  readonly memoryLimit: number;
  readonly pid: number;
  readonly nanny: string | undefined;
  /** Memory figures from the worker's last heartbeat (workers with a memory limit send them). */
  memory: { managedBytes: number; spilledBytes: number; spilledKeys: number; processBytes: number } | undefined;

  constructor(info: WorkerRegistration) {
    this.address = info.address;
    this.name = info.name ?? info.address;
    this.host = info.host ?? hostOfAddress(info.address);
    this.nthreads = Math.max(1, Math.floor(info.nthreads));
    const resources = info.resources !== undefined && Object.keys(info.resources).length > 0 ? { ...info.resources } : undefined;
    this.resources = resources;
    this.usedResources = resources === undefined ? undefined : Object.fromEntries(Object.keys(resources).map((r) => [r, 0]));
    this.memoryLimit = info.memoryLimit ?? 0;
    this.pid = info.pid ?? 0;
    this.nanny = info.nanny;
    this.memory = undefined;
  }

  /** Tasks holding a thread slot (long-running ones seceded from theirs). */
  get busy(): number {
    return this.processing.size - this.longRunning;
  }

  /** True when every required resource is free now. */
  hasFreeResources(required: Readonly<Record<string, number>>): boolean {
    const total = this.resources;
    const used = this.usedResources;
    if (total === undefined || used === undefined) return false;
    for (const name in required) {
      const have = total[name];
      if (have === undefined || have - (used[name] ?? 0) < required[name]!) return false;
    }
    return true;
  }

  /** True when the worker could ever run a task needing `required`. */
  advertises(required: Readonly<Record<string, number>>): boolean {
    const total = this.resources;
    if (total === undefined) return false;
    for (const name in required) {
      const have = total[name];
      if (have === undefined || have < required[name]!) return false;
    }
    return true;
  }

  takeResources(required: Readonly<Record<string, number>>): void {
    const used = this.usedResources!;
    for (const name in required) used[name] = (used[name] ?? 0) + required[name]!;
  }

  returnResources(required: Readonly<Record<string, number>>): void {
    const used = this.usedResources;
    if (used === undefined) return;
    for (const name in required) used[name] = Math.max(0, (used[name] ?? 0) - required[name]!);
  }
}

/**
 * `tcp://10.0.0.5:8786` -> `10.0.0.5`; `tcp://[::1]:80` -> `::1`. An in-process
 * (`inproc://`) worker shares the scheduler's machine: its host is `127.0.0.1`,
 * so a host restriction to the loopback address matches in-process workers.
 */
export function hostOfAddress(address: string): string {
  const sep = address.indexOf('://');
  const scheme = sep < 0 ? 'tcp' : address.slice(0, sep);
  const rest = sep < 0 ? address : address.slice(sep + 3);
  if (scheme === 'inproc') return '127.0.0.1';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    return end < 0 ? rest : rest.slice(1, end);
  }
  const colon = rest.lastIndexOf(':');
  const slash = rest.indexOf('/');
  const hostEnd = colon >= 0 ? colon : slash >= 0 ? slash : rest.length;
  return rest.slice(0, hostEnd);
}

/** A client (or a pseudo-client such as 'fire-and-forget' or 'published-<name>') and the keys it wants. */

export const FIRE_AND_FORGET = 'fire-and-forget';
export const PUBLISHED_PREFIX = 'published-';
/** Holds values workers brought back after a scheduler restart until a client claims them (or a grace period ends). */
export const HELD_OVER = 'held-over';
/** Coordination primitives hold the futures put into them under these names. */
const HOLDER_PREFIXES = [PUBLISHED_PREFIX, 'queue-', 'variable-'];

/** Pseudo-clients never connect; nothing is ever sent to them. */
export function isPseudoClient(id: string): boolean {
  return id === FIRE_AND_FORGET || id === HELD_OVER || HOLDER_PREFIXES.some((prefix) => id.startsWith(prefix));
}

export class ClientRecord {
  readonly wantsWhat: Set<TaskRecord> = new ShardedSet<TaskRecord>();
  constructor(readonly id: string, public name = id) {}

  get pseudo(): boolean {
    return isPseudoClient(this.id);
  }
}
