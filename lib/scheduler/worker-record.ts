/** The scheduler's view of one worker. */
import type { WorkerStatus } from '../protocol/messages.js';
import type { TaskRecord } from './task-record.js';

export interface WorkerInfo {
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
  readonly hasWhat = new Set<TaskRecord>();
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

  constructor(info: WorkerInfo) {
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
