/**
 * What the dashboard shows, read from the scheduler's state in one pass: the
 * workers, how many tasks are in each state, per task prefix (the function
 * name: `inc-<token>` -> `inc`) as dask's progress view groups them. Pure:
 * plain data in, plain data out, so the HTML and metrics views are tested
 * without a server.
 */
import type { SchedulerTaskState } from '../../machines/scheduler-task.js';
import type { SchedulerState } from './state.js';
import type { TaskRecord } from './records.js';
import type { RecoveryNote } from './recovery-notes.js';

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
  /** From the worker's last heartbeat (lib/worker/worker-metrics.ts); absent until one arrived. */
  metrics?: WorkerHeartbeatMetrics;
  /** Bytes the worker moved to disk (0 without a memory limit). */
  spilledBytes: number;
}

/** What workers report with heartbeats; the scheduler keeps the last one per worker. */
export interface WorkerHeartbeatMetrics {
  cpu: number;
  rss: number;
  managedBytes: number;
  busyThreads: number;
  transfersIn: number;
  transferBytesIn: number;
  transfersOut: number;
  transferBytesOut: number;
}

const METRIC_FIELDS: ReadonlyArray<keyof WorkerHeartbeatMetrics> = ['cpu', 'rss', 'managedBytes', 'busyThreads', 'transfersIn', 'transferBytesIn', 'transfersOut', 'transferBytesOut'];

/** The metrics of a heartbeat when every field is a finite number, else undefined (a bad peer changes nothing). */
export function heartbeatMetrics(value: unknown): WorkerHeartbeatMetrics | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const out = {} as WorkerHeartbeatMetrics;
  for (const field of METRIC_FIELDS) {
    const n = (value as Record<string, unknown>)[field];
    if (typeof n !== 'number' || !Number.isFinite(n)) return undefined;
    out[field] = n;
  }
  return out;
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
  /** The newest events of the 'recovery' topic (lib/scheduler/recovery-notes.ts), oldest first. */
  recovery?: RecoveryNote[];
}

export function emptyCounts(): StateCounts {
  return { released: 0, waiting: 0, 'no-worker': 0, queued: 0, processing: 0, memory: 0, erred: 0, forgotten: 0 };
}

export function dashboardSnapshot(
  state: SchedulerState,
  scheduler: { address: string; id: string; uptimeSeconds: number },
  metrics: ReadonlyMap<string, WorkerHeartbeatMetrics> = new Map(),
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
      ...(metrics.has(ws.address) ? { metrics: metrics.get(ws.address)! } : {}),
      spilledBytes: ws.memory?.spilledBytes ?? 0,
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

export interface GraphNode {
  key: string;
  prefix: string;
  state: SchedulerTaskState;
  /** Layout: x = the longest chain of dependencies below it; y = its row within that column. */
  x: number;
  y: number;
}

export type GraphSnapshot = { nodes: GraphNode[]; edges: Array<[number, number]> } | { tooLarge: number; max: number };

/** The task graph for the graph page, laid out in columns by depth; `tooLarge` past `max` tasks (as dask blanks it). */
export function graphSnapshot(state: SchedulerState, max: number): GraphSnapshot {
  if (state.tasks.size > max) return { tooLarge: state.tasks.size, max };
  const index = new Map<TaskRecord, number>();
  const nodes: GraphNode[] = [];
  const rows: number[] = [];
  const depthOf = (ts: TaskRecord): number => {
    const known = index.get(ts);
    if (known !== undefined) return nodes[known]!.x;
    // Iterative post-order: deep chains must not overflow the stack.
    const stack: TaskRecord[] = [ts];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (index.has(top)) {
        stack.pop();
        continue;
      }
      let ready = true;
      for (const dep of top.dependencies) {
        if (!index.has(dep) && state.tasks.get(dep.key) === dep) {
          stack.push(dep);
          ready = false;
        }
      }
      if (!ready) continue;
      stack.pop();
      let x = 0;
      for (const dep of top.dependencies) {
        const i = index.get(dep);
        if (i !== undefined) x = Math.max(x, nodes[i]!.x + 1);
      }
      const y = rows[x] ?? 0;
      rows[x] = y + 1;
      index.set(top, nodes.length);
      nodes.push({ key: top.key, prefix: top.prefix.name, state: top.state, x, y });
    }
    return nodes[index.get(ts)!]!.x;
  };
  for (const ts of state.tasks.values()) depthOf(ts);
  // Centre each column on the middle row, so a reduction's root sits level with its inputs.
  for (const node of nodes) node.y -= (rows[node.x]! - 1) / 2;
  const edges: Array<[number, number]> = [];
  for (const [ts, i] of index) for (const dep of ts.dependencies) {
    const j = index.get(dep);
    if (j !== undefined) edges.push([j, i]);
  }
  return { nodes, edges };
}

export interface WorkerInfoView {
  worker: WorkerView;
  processing: string[];
  /** Keys held (the first `limit`), with bytes. */
  keys: Array<{ key: string; nbytes: number }>;
  keysTotal: number;
  resources?: Record<string, number>;
  usedResources?: Record<string, number>;
}

/** One worker's page: its row, what it runs, what it holds. */
export function workerInfo(snapshot: DashboardSnapshot, state: SchedulerState, address: string, limit = 200): WorkerInfoView | undefined {
  const ws = state.workers.get(address);
  const worker = snapshot.workers.find((w) => w.address === address);
  if (ws === undefined || worker === undefined) return undefined;
  const keys: Array<{ key: string; nbytes: number }> = [];
  for (const ts of ws.hasWhat) {
    if (keys.length >= limit) break;
    keys.push({ key: ts.key, nbytes: ts.nbytes });
  }
  const view: WorkerInfoView = { worker, processing: [...ws.processing].slice(0, limit).map((ts) => ts.key), keys, keysTotal: ws.hasWhat.size };
  if (ws.resources !== undefined) view.resources = { ...ws.resources };
  if (ws.usedResources !== undefined) view.usedResources = { ...ws.usedResources };
  return view;
}
