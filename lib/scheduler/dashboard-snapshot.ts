/**
 * What the dashboard shows, read from the scheduler's state in one pass: the
 * workers, how many tasks are in each state, per task prefix (the function
 * name: `inc-<token>` -> `inc`) as dask's progress view groups them. Pure:
 * plain data in, plain data out, so the HTML and metrics views are tested
 * without a server.
 */
import type { SchedulerTaskState } from '../../machines/scheduler-task.js';
import type { SchedulerState } from './state.js';

export const TASK_STATES: readonly SchedulerTaskState[] = ['released', 'waiting', 'no-worker', 'queued', 'processing', 'memory', 'erred', 'forgotten'];

export type StateCounts = Record<SchedulerTaskState, number>;

export interface WorkerView {
  address: string;
  name: string;
  nthreads: number;
  status: string;
  /** Tasks assigned and not yet reported back. */
  processing: number;
  /** Keys held, and their bytes. */
  keys: number;
  nbytes: number;
  memoryLimit: number;
  pid: number;
}

export interface PrefixView {
  name: string;
  counts: StateCounts;
  /** Average reported run time, ms (-1 until one has finished). */
  durationMs: number;
}

export interface DashboardSnapshot {
  scheduler: { address: string; id: string; uptimeSeconds: number };
  /** Connected clients (not the scheduler's own holders such as fire-and-forget or datasets). */
  clients: number;
  workers: WorkerView[];
  tasks: { total: number; counts: StateCounts };
  prefixes: PrefixView[];
}

export function emptyCounts(): StateCounts {
  return { released: 0, waiting: 0, 'no-worker': 0, queued: 0, processing: 0, memory: 0, erred: 0, forgotten: 0 };
}

export function dashboardSnapshot(
  state: SchedulerState,
  scheduler: { address: string; id: string; uptimeSeconds: number },
): DashboardSnapshot {
  const counts = emptyCounts();
  const prefixes = new Map<string, PrefixView>();
  for (const ts of state.tasks.values()) {
    counts[ts.state] += 1;
    const prefix = ts.prefix;
    let view = prefixes.get(prefix.name);
    if (view === undefined) prefixes.set(prefix.name, (view = { name: prefix.name, counts: emptyCounts(), durationMs: prefix.durationAverage }));
    view.counts[ts.state] += 1;
  }
  const workers: WorkerView[] = [];
  for (const ws of state.workers.values()) {
    workers.push({
      address: ws.address,
      name: ws.name,
      nthreads: ws.nthreads,
      status: ws.status,
      processing: ws.processing.size,
      keys: ws.hasWhat.size,
      nbytes: ws.nbytes,
      memoryLimit: ws.memoryLimit,
      pid: ws.pid,
    });
  }
  workers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.address < b.address ? -1 : 1));
  let clients = 0;
  for (const cs of state.clients.values()) if (!cs.pseudo) clients++;
  return {
    scheduler,
    clients,
    workers,
    tasks: { total: state.tasks.size, counts },
    prefixes: [...prefixes.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
  };
}
