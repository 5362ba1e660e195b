/**
 * Plans for `client.replicate` and `client.rebalance` (pure: they read the
 * SchedulerState and say which worker should copy which key from whom). The
 * scheduler carries them out with `acquire-replicas` (the recipient fetches
 * from the holder directly) and, for rebalance, `remove-replicas` on the sender.
 */
import { DistributedError } from '../errors.js';
import type { SchedulerState } from './state.js';
import type { TaskRecord, WorkerRecord } from './records.js';

/** One recipient's share of a plan: the keys to fetch and from whom. */
export interface Acquisition {
  worker: string;
  whoHas: Record<string, string[]>;
  nbytes: Record<string, number>;
}

export interface Move {
  key: string;
  from: string;
  to: string;
  nbytes: number;
}

function poolOf(state: SchedulerState, workers: readonly string[] | undefined): WorkerRecord[] {
  const pool = state.selectWorkers(workers).filter((ws) => ws.status !== 'closed');
  if (pool.length === 0) {
    throw new DistributedError(workers === undefined ? 'there are no workers' : `no worker matches ${workers.join(', ')}`);
  }
  return pool;
}

function inMemory(state: SchedulerState, key: string): TaskRecord {
  const ts = state.tasks.get(key);
  if (ts === undefined || ts.state !== 'memory') {
    throw new DistributedError(`${key} is not in memory on the cluster (state ${ts?.state ?? 'unknown'}); wait for it first`);
  }
  return ts;
}

function addTo(plan: Map<string, Acquisition>, to: string, key: string, from: readonly string[], nbytes: number): void {
  let entry = plan.get(to);
  if (entry === undefined) plan.set(to, (entry = { worker: to, whoHas: {}, nbytes: {} }));
  entry.whoHas[key] = [...from];
  entry.nbytes[key] = Math.max(0, nbytes);
}

/**
 * Copies so each key is on `n` workers of the pool (default: all of it);
 * new copies go to the workers holding the fewest bytes. Keys already on `n`
 * or more are left alone.
 */
export function planReplicate(state: SchedulerState, keys: readonly string[], options: { n?: number; workers?: readonly string[] }): Acquisition[] {
  const pool = poolOf(state, options.workers);
  const n = options.n === undefined ? pool.length : Math.min(options.n, pool.length);
  if (!(Number.isInteger(n) && n >= 1)) throw new DistributedError(`replicate: n must be a positive integer, got ${String(options.n)}`);
  const load = new Map(pool.map((ws) => [ws, ws.nbytes] as const));
  const plan = new Map<string, Acquisition>();
  for (const key of new Set(keys)) {
    const ts = inMemory(state, key);
    const holders = ts.holders();
    const inPool = pool.filter((ws) => holders.includes(ws));
    let need = n - inPool.length;
    if (need <= 0) continue;
    const candidates = pool.filter((ws) => !holders.includes(ws)).sort((a, b) => load.get(a)! - load.get(b)!);
    const from = holders.map((ws) => ws.address);
    for (const ws of candidates) {
      if (need-- <= 0) break;
      addTo(plan, ws.address, key, from, ts.nbytes);
      load.set(ws, load.get(ws)! + Math.max(0, ts.nbytes));
    }
  }
  return [...plan.values()];
}

/**
 * Moves that bring every worker of the pool near the mean of bytes held (of
 * `keys`, default every key in memory): from the fullest workers, largest keys
 * first, each to the emptiest worker that does not hold it, while that narrows the gap.
 */
export function planRebalance(state: SchedulerState, keys: readonly string[] | undefined, workers: readonly string[] | undefined): Move[] {
  const pool = poolOf(state, workers);
  const inPool = new Set(pool);
  const considered = keys === undefined ? [...state.tasks.values()].filter((ts) => ts.state === 'memory') : [...new Set(keys)].map((key) => inMemory(state, key));
  const held = new Map<WorkerRecord, TaskRecord[]>(pool.map((ws) => [ws, []]));
  const load = new Map<WorkerRecord, number>(pool.map((ws) => [ws, 0]));
  for (const ts of considered) {
    for (const ws of ts.holders()) {
      if (!inPool.has(ws)) continue;
      held.get(ws)!.push(ts);
      load.set(ws, load.get(ws)! + Math.max(0, ts.nbytes));
    }
  }
  let total = 0;
  for (const bytes of load.values()) total += bytes;
  const mean = total / pool.length;
  const moves: Move[] = [];
  const senders = pool.filter((ws) => load.get(ws)! > mean).sort((a, b) => load.get(b)! - load.get(a)!);
  for (const sender of senders) {
    const own = held.get(sender)!.sort((a, b) => b.nbytes - a.nbytes);
    for (const ts of own) {
      if (load.get(sender)! <= mean) break;
      const size = Math.max(0, ts.nbytes);
      const holders = ts.holders();
      let recipient: WorkerRecord | undefined;
      for (const ws of pool) {
        if (ws === sender || holders.includes(ws)) continue;
        if (recipient === undefined || load.get(ws)! < load.get(recipient)!) recipient = ws;
      }
      if (recipient === undefined) continue;
      // Only if the move narrows the gap between the two (never overshoot into a new imbalance).
      if (load.get(sender)! - load.get(recipient)! <= size) continue;
      moves.push({ key: ts.key, from: sender.address, to: recipient.address, nbytes: size });
      load.set(sender, load.get(sender)! - size);
      load.set(recipient, load.get(recipient)! + size);
    }
  }
  return moves;
}

/** Groups moves into one acquisition per recipient. */
export function acquisitionsOf(moves: readonly Move[]): Acquisition[] {
  const plan = new Map<string, Acquisition>();
  for (const move of moves) addTo(plan, move.to, move.key, [move.from], move.nbytes);
  return [...plan.values()];
}

/** True once every key of every acquisition is held by its recipient (or is gone from memory). */
export function acquired(state: SchedulerState, acquisitions: readonly Acquisition[]): boolean {
  for (const { worker, whoHas } of acquisitions) {
    for (const key of Object.keys(whoHas)) {
      const ts = state.tasks.get(key);
      if (ts === undefined || ts.state !== 'memory') continue;
      if (!ts.holders().some((ws) => ws.address === worker)) {
        if (!state.workers.has(worker)) continue;
        return false;
      }
    }
  }
  return true;
}
