/**
 * Work stealing, decided without I/O. When a worker is idle (fewer tasks than
 * threads) and another holds more tasks than threads, tasks that have not
 * started on the busy worker (the victim) are offered to the idle one (the
 * thief). The scheduler then asks the victim with `steal-request`; only the
 * victim knows whether the task already started, so the move happens when its
 * `steal-response` says the task was still queued there.
 *
 * A task is worth moving when it would start sooner on the thief, counting the
 * transfer of dependencies the thief lacks:
 *   thief start + transfer  <  victim start (its occupancy per thread, minus this task)
 * Long-running tasks, tasks already being stolen, and tasks the thief may not
 * run (restrictions, resources not free) stay.
 */
import { allowedOn, bytesToFetch } from './decide-worker.js';
import type { TaskRecord, WorkerRecord } from './records.js';

export interface StealPlan {
  task: TaskRecord;
  victim: WorkerRecord;
  thief: WorkerRecord;
}

export interface StealContext {
  /** Candidate thieves: workers with fewer tasks than threads. */
  readonly idle: Iterable<WorkerRecord>;
  /** Candidate victims: workers with more tasks than threads. */
  readonly saturated: Iterable<WorkerRecord>;
  /** Tasks with a steal request in flight. */
  readonly stealing: ReadonlyMap<TaskRecord, unknown>;
  /** bytes per ms */
  readonly bandwidth: number;
  /** Tasks looked at per victim beyond its thread count (bounds the cost of one pass). */
  readonly scanLimit?: number;
}

interface Thief {
  ws: WorkerRecord;
  room: number;
  /** planned occupancy per thread, ms */
  load: number;
}

export function planSteals(ctx: StealContext): StealPlan[] {
  const thieves: Thief[] = [];
  for (const ws of ctx.idle) {
    if (ws.status !== 'running') continue;
    const room = ws.nthreads - ws.busy - ws.stealsIn;
    if (room > 0) thieves.push({ ws, room, load: ws.occupancy / ws.nthreads });
  }
  if (thieves.length === 0) return [];
  const victims = [...ctx.saturated]
    .filter((ws) => ws.busy - ws.stealsOut > ws.nthreads)
    .sort((a, b) => b.occupancy / b.nthreads - a.occupancy / a.nthreads);
  const plans: StealPlan[] = [];
  const scanLimit = ctx.scanLimit ?? 200;
  for (const victim of victims) {
    let surplus = victim.busy - victim.stealsOut - victim.nthreads;
    let victimLoad = victim.occupancy / victim.nthreads;
    let seen = 0;
    for (const ts of victim.processing) {
      if (surplus <= 0 || thieves.length === 0) break;
      // The oldest assignments are the likeliest to be executing already.
      if (seen++ < victim.nthreads) continue;
      if (seen > victim.nthreads + scanLimit) break;
      if (ts.longRunning || ctx.stealing.has(ts)) continue;
      const duration = ts.expectedDuration;
      let chosen = -1;
      let chosenCost = Infinity;
      for (let i = 0; i < thieves.length; i++) {
        const thief = thieves[i]!;
        if (!allowedOn(ts, thief.ws)) continue;
        const resources = ts.restrictions?.resources;
        if (resources !== undefined && !thief.ws.hasFreeResources(resources)) continue;
        const cost = thief.load + bytesToFetch(ts, thief.ws) / ctx.bandwidth;
        if (cost < chosenCost) { chosen = i; chosenCost = cost; }
      }
      if (chosen < 0 || !(chosenCost < victimLoad - duration)) continue;
      const thief = thieves[chosen]!;
      plans.push({ task: ts, victim, thief: thief.ws });
      surplus -= 1;
      victimLoad -= duration / victim.nthreads;
      thief.load += duration / thief.ws.nthreads;
      thief.room -= 1;
      if (thief.room === 0) thieves.splice(chosen, 1);
    }
  }
  return plans;
}
