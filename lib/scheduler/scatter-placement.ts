/**
 * Where scattered values go: round-robin over worker threads (a worker with
 * two threads gets two values per round), continuing where the previous
 * scatter stopped; `broadcast` puts every value on every worker.
 */
import type { WorkerRecord } from './records.js';

export interface ScatterPlan {
  /** worker -> keys to send it */
  byWorker: Map<WorkerRecord, string[]>;
  /** cursor for the next scatter */
  nextCursor: number;
}

export function planScatter(keys: readonly string[], workers: readonly WorkerRecord[], broadcast: boolean, cursor: number): ScatterPlan {
  const byWorker = new Map<WorkerRecord, string[]>();
  if (workers.length === 0 || keys.length === 0) return { byWorker, nextCursor: cursor };
  if (broadcast) {
    for (const ws of workers) byWorker.set(ws, [...keys]);
    return { byWorker, nextCursor: cursor };
  }
  const slots: WorkerRecord[] = [];
  const most = Math.max(...workers.map((ws) => ws.nthreads));
  for (let round = 0; round < most; round++) for (const ws of workers) if (round < ws.nthreads) slots.push(ws);
  let i = cursor % slots.length;
  for (const key of keys) {
    const ws = slots[i]!;
    const list = byWorker.get(ws);
    if (list === undefined) byWorker.set(ws, [key]);
    else list.push(key);
    i = (i + 1) % slots.length;
  }
  return { byWorker, nextCursor: i };
}
