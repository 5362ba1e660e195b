/**
 * Where a task should run (dask's `decide_worker` and `worker_objective`).
 *
 * Candidates are the running workers holding a dependency, narrowed to the
 * workers the task's restrictions allow; if none holds one, every allowed
 * worker. Among candidates the winner minimizes
 *   (occupancy / nthreads + bytes of dependencies it lacks / bandwidth, bytes it stores)
 * i.e. the expected start time, counting transfers, with ties going to the
 * emptier worker. Resources are hard limits: only workers with the resources
 * free right now qualify, so they are never oversubscribed.
 */
import { contains } from './one-or-many.js';
import type { TaskRecord, WorkerRecord } from './records.js';

/** No running worker satisfies the restrictions: the task goes `no-worker` until one joins. */
export const NO_VALID_WORKER = 0;
/** Some worker could run it, but not with its resources free now: the task waits for resources. */
export const RESOURCES_BUSY = 1;
export type Decision = WorkerRecord | typeof NO_VALID_WORKER | typeof RESOURCES_BUSY;

export interface WorkerDirectory {
  /** Running workers in join order. */
  readonly running: readonly WorkerRecord[];
  readonly byAddress: ReadonlyMap<string, WorkerRecord>;
  readonly byName: ReadonlyMap<string, WorkerRecord>;
  readonly byHost: ReadonlyMap<string, ReadonlySet<WorkerRecord>>;
  /** bytes per ms */
  readonly bandwidth: number;
}

/** True when `ws` matches a `workers` restriction entry (address, name or host). */
export function matchesWorkerRestriction(ws: WorkerRecord, allowed: readonly string[]): boolean {
  for (const w of allowed) if (w === ws.address || w === ws.name || w === ws.host) return true;
  return false;
}

/** True when the restrictions allow `ws` at all (ignoring whether its resources are free now). */
export function allowedOn(ts: TaskRecord, ws: WorkerRecord): boolean {
  const r = ts.restrictions;
  if (r === undefined) return true;
  if (r.resources !== undefined && !ws.advertises(r.resources)) return false;
  if (r.workers !== undefined && r.allowOtherWorkers !== true && !matchesWorkerRestriction(ws, r.workers)) return false;
  return true;
}

/**
 * The running workers the restrictions allow, or undefined when the task is unrestricted.
 * A `workers` restriction naming no running worker falls back to every worker when
 * `allowOtherWorkers` is set; resources are never relaxed.
 */
export function validWorkers(ts: TaskRecord, dir: WorkerDirectory): Set<WorkerRecord> | undefined {
  const r = ts.restrictions;
  if (r === undefined) return undefined;
  let pool: Iterable<WorkerRecord> = dir.running;
  if (r.workers !== undefined) {
    const named = new Set<WorkerRecord>();
    for (const w of r.workers) {
      const a = dir.byAddress.get(w);
      if (a !== undefined && a.status === 'running') named.add(a);
      const n = dir.byName.get(w);
      if (n !== undefined && n.status === 'running') named.add(n);
      const h = dir.byHost.get(w);
      if (h !== undefined) for (const ws of h) if (ws.status === 'running') named.add(ws);
    }
    if (named.size > 0 || r.allowOtherWorkers !== true) {
      if (r.resources === undefined) return named;
      pool = named;
    }
  }
  const out = new Set<WorkerRecord>();
  for (const ws of pool) if (r.resources === undefined || ws.advertises(r.resources)) out.add(ws);
  return out;
}

/** Bytes of `ts`'s dependencies that `ws` would have to fetch. */
export function bytesToFetch(ts: TaskRecord, ws: WorkerRecord): number {
  let bytes = 0;
  for (const dep of ts.dependencies) {
    if (!contains(dep.whoHas, ws)) bytes += dep.nbytes > 0 ? dep.nbytes : 0;
  }
  return bytes;
}

/** Expected ms until `ts` could start on `ws`. */
export function expectedStart(ts: TaskRecord, ws: WorkerRecord, bandwidth: number): number {
  return ws.occupancy / ws.nthreads + bytesToFetch(ts, ws) / bandwidth;
}

function better(ts: TaskRecord, ws: WorkerRecord, best: WorkerRecord | undefined, bestStart: number, bandwidth: number): number {
  const start = expectedStart(ts, ws, bandwidth);
  if (best === undefined || start < bestStart || (start === bestStart && ws.nbytes < best.nbytes)) return start;
  return -1;
}

export function decideWorker(ts: TaskRecord, dir: WorkerDirectory): Decision {
  const valid = validWorkers(ts, dir);
  if (valid !== undefined && valid.size === 0) return NO_VALID_WORKER;
  const required = ts.restrictions?.resources;
  if (required !== undefined) {
    for (const ws of valid!) if (!ws.hasFreeResources(required)) valid!.delete(ws);
    if (valid!.size === 0) return RESOURCES_BUSY;
  }
  let best: WorkerRecord | undefined;
  let bestStart = Infinity;
  // Holders of dependencies first: usually a handful, and where the bytes are.
  for (const dep of ts.dependencies) {
    const holders = dep.whoHas;
    if (holders === undefined) continue;
    if (holders instanceof Set) {
      for (const ws of holders) {
        if (ws.status !== 'running' || (valid !== undefined && !valid.has(ws))) continue;
        const start = better(ts, ws, best, bestStart, dir.bandwidth);
        if (start >= 0) { best = ws; bestStart = start; }
      }
    } else if (holders.status === 'running' && (valid === undefined || valid.has(holders))) {
      const start = better(ts, holders, best, bestStart, dir.bandwidth);
      if (start >= 0) { best = holders; bestStart = start; }
    }
  }
  if (best !== undefined) return best;
  const pool: Iterable<WorkerRecord> = valid ?? dir.running;
  for (const ws of pool) {
    if (ws.status !== 'running') continue;
    const start = better(ts, ws, best, bestStart, dir.bandwidth);
    if (start >= 0) { best = ws; bestStart = start; }
  }
  return best ?? NO_VALID_WORKER;
}
