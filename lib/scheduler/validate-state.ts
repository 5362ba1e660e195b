/**
 * The scheduler state's bookkeeping invariants (see transition-engine.ts),
 * checked in full: after every stimulus when `validate: true` (tests), or on
 * demand. O(tasks + workers); throws an Error naming the first broken one.
 */
import { contains, count, toArray } from './one-or-many.js';
import type { ResourceWaitQueues, TaskQueue } from './queuing.js';
import type { TaskRecord, WorkerRecord } from './records.js';

/** What the check reads of the scheduler state. */
export interface ValidatedState {
  readonly tasks: ReadonlyMap<string, TaskRecord>;
  readonly workers: ReadonlyMap<string, WorkerRecord>;
  readonly running: readonly WorkerRecord[];
  readonly idle: ReadonlySet<WorkerRecord>;
  readonly queued: TaskQueue;
  readonly unrunnable: ReadonlySet<TaskRecord>;
  readonly waitingForResources: ResourceWaitQueues;
  readonly totalNthreads: number;
}

export function validateSchedulerState(state: ValidatedState): void {
  const fail = (what: string): never => {
    throw new Error(`SchedulerState invariant broken: ${what}`);
  };
  const pending = new Set(['waiting', 'queued', 'no-worker', 'processing']);
  for (const [key, ts] of state.tasks) {
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
    if (ts.state === 'queued' && !state.queued.has(ts) && !state.waitingForResources.has(ts)) fail(`${key} queued but in no queue`);
    if (ts.state === 'no-worker' && !state.unrunnable.has(ts) && !state.waitingForResources.has(ts)) fail(`${key} no-worker but not unrunnable`);
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
  for (const ts of state.queued.values()) if (ts.state !== 'queued') fail(`${ts.key} in the queue while ${ts.state}`);
  for (const ts of state.unrunnable) if (ts.state !== 'no-worker') fail(`${ts.key} unrunnable while ${ts.state}`);
  for (const ts of state.waitingForResources.values()) if (ts.state !== 'queued' && ts.state !== 'no-worker') fail(`${ts.key} waits for resources while ${ts.state}`);
  let threads = 0;
  for (let i = 0; i < state.running.length; i++) {
    const ws = state.running[i]!;
    if (ws.index !== i) fail(`${ws.address} has index ${ws.index}, expected ${i}`);
    if (state.workers.get(ws.address) !== ws) fail(`${ws.address} not in workers`);
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
    if (state.idle.has(ws) !== shouldIdle) fail(`${ws.address} idle membership wrong`);
    if (ws.usedResources !== undefined && ws.resources !== undefined) {
      for (const [name, used] of Object.entries(ws.usedResources)) {
        if (used > ws.resources[name]! + 1e-9) fail(`${ws.address} oversubscribes ${name}: ${used} > ${ws.resources[name]}`);
      }
    }
  }
  if (threads !== state.totalNthreads) fail(`totalNthreads ${state.totalNthreads} != ${threads}`);
  if (state.running.length !== state.workers.size) fail('running list and workers map differ');
}
