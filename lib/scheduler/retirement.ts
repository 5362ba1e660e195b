/**
 * Graceful retirement, the pure part (dask's `RetireWorker` policy and
 * `workers_to_close`): which keys a retiring worker holds that no staying
 * worker has, where each should go, and which workers a scale-down should
 * pick. The scheduler's retirement extension carries a plan out with
 * `acquire-replicas` and closes the worker once nothing unique is left on it.
 */
import type { Acquisition } from './data-movement.js';
import type { SchedulerState } from './state.js';
import type { WorkerRecord } from './records.js';

export interface RetirementPlan {
  /** Copies to make, one entry per recipient. */
  acquisitions: Acquisition[];
  /** Retiring workers holding a key no staying worker could take (there is none): they cannot retire. */
  stranded: string[];
  /** Retiring workers hosting an actor instance: it lives in that process and cannot move (as in dask). */
  hostsActors: string[];
}

/** True for a worker that may receive data and keep it: registered, running and not itself retiring. */
function stays(ws: WorkerRecord, retiring: ReadonlySet<string>): boolean {
  return ws.status === 'running' && !retiring.has(ws.address);
}

/**
 * For every key in memory on a retiring worker with no copy on a staying
 * worker: one copy to the staying worker holding the fewest bytes (counting
 * the copies planned so far). Keys already safe elsewhere need nothing; they
 * are simply forgotten on the retiring worker when it leaves.
 */
export function planRetirement(state: SchedulerState, retiring: ReadonlySet<string>): RetirementPlan {
  const recipients = state.running.filter((ws) => stays(ws, retiring));
  const load = new Map<WorkerRecord, number>(recipients.map((ws) => [ws, ws.nbytes]));
  const plan = new Map<string, Acquisition>();
  const planned = new Set<string>();
  const stranded: string[] = [];
  const hostsActors: string[] = [];
  for (const address of retiring) {
    const ws = state.workers.get(address);
    if (ws === undefined) continue;
    let strandedHere = false;
    for (const ts of ws.hasWhat) {
      if (ts.state !== 'memory' || planned.has(ts.key)) continue;
      if (ts.runSpec?.actor === true) {
        hostsActors.push(address);
        strandedHere = false;
        break;
      }
      const holders = ts.holders();
      if (holders.some((holder) => stays(holder, retiring))) continue;
      let best: WorkerRecord | undefined;
      for (const candidate of recipients) {
        if (holders.includes(candidate)) continue;
        if (best === undefined || load.get(candidate)! < load.get(best)!) best = candidate;
      }
      if (best === undefined) {
        strandedHere = true;
        continue;
      }
      planned.add(ts.key);
      const size = Math.max(0, ts.nbytes);
      load.set(best, load.get(best)! + size);
      let entry = plan.get(best.address);
      if (entry === undefined) plan.set(best.address, (entry = { worker: best.address, whoHas: {}, nbytes: {} }));
      entry.whoHas[ts.key] = holders.map((holder) => holder.address);
      entry.nbytes[ts.key] = size;
    }
    if (strandedHere) stranded.push(address);
  }
  return { acquisitions: [...plan.values()], stranded, hostsActors };
}

/** True once a retiring worker runs nothing and holds nothing that only retiring workers have. */
export function readyToLeave(state: SchedulerState, address: string, retiring: ReadonlySet<string>): boolean {
  const ws = state.workers.get(address);
  if (ws === undefined) return true;
  if (ws.processing.size > 0) return false;
  for (const ts of ws.hasWhat) {
    if (ts.state !== 'memory') continue;
    if (!ts.holders().some((holder) => stays(holder, retiring))) return false;
  }
  return true;
}

export interface WorkersToCloseOptions {
  /** How many to pick at most. */
  n: number;
  /** Keep at least this many running workers (default 0). */
  minimum?: number;
  /** Never pick these (e.g. already retiring). */
  exclude?: ReadonlySet<string>;
}

/**
 * Workers a scale-down should retire: running ones with no task assigned,
 * holding the fewest bytes first (their data is the cheapest to move), never
 * bringing the running count below `minimum`.
 */
export function workersToClose(state: SchedulerState, options: WorkersToCloseOptions): string[] {
  const exclude = options.exclude ?? new Set<string>();
  const running = state.running.filter((ws) => ws.status === 'running' && !exclude.has(ws.address));
  const room = Math.max(0, Math.min(options.n, running.length - Math.max(0, options.minimum ?? 0)));
  return running
    .filter((ws) => ws.processing.size === 0)
    .sort((a, b) => a.nbytes - b.nbytes)
    .slice(0, room)
    .map((ws) => ws.address);
}
