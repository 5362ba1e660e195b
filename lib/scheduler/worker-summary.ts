/**
 * What the scheduler tells about its workers (client.schedulerInfo(), the
 * identity reply, retirement reports): one plain summary per running worker,
 * with the memory figures of its last heartbeat.
 */
import type { WorkerStatus } from '../protocol/messages.js';
import type { WorkerRecord } from './records.js';

export interface WorkerSummary {
  name: string;
  nthreads: number;
  resources: Record<string, number>;
  memoryLimit: number;
  pid: number;
  host: string;
  status: WorkerStatus;
  nanny?: string;
  /** Memory figures of a worker with a memory limit (its last heartbeat): managed, spilled... */
  memory?: { managedBytes: number; spilledBytes: number; spilledKeys: number; processBytes: number };
}

/** Keeps the memory figures of a heartbeat's metrics on the worker's record (anything malformed is ignored). */
export function recordWorkerMemory(ws: WorkerRecord, metrics: unknown): void {
  if (typeof metrics !== 'object' || metrics === null) return;
  const m = metrics as Record<string, unknown>;
  const figure = (name: string): number => (typeof m[name] === 'number' && Number.isFinite(m[name]) ? (m[name] as number) : 0);
  if (typeof m.spilledBytes !== 'number') return;
  ws.memory = {
    managedBytes: figure('managedBytes'),
    spilledBytes: figure('spilledBytes'),
    spilledKeys: figure('spilledKeys'),
    processBytes: figure('processBytes'),
  };
}

export function summarizeWorkers(running: readonly WorkerRecord[]): Record<string, WorkerSummary> {
  const out: Record<string, WorkerSummary> = {};
  for (const ws of running) {
    const summary: WorkerSummary = {
      name: ws.name,
      nthreads: ws.nthreads,
      resources: { ...ws.resources },
      memoryLimit: ws.memoryLimit,
      pid: ws.pid,
      host: ws.host,
      status: ws.status,
    };
    if (ws.nanny !== undefined) summary.nanny = ws.nanny;
    if (ws.memory !== undefined) summary.memory = { ...ws.memory };
    out[ws.address] = summary;
  }
  return out;
}
