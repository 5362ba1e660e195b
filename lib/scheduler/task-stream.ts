/**
 * The task stream: what ran where and when, as the workers reported it with
 * each task-finished / task-erred (and each fetch, with add-keys). Kept in a
 * bounded ring on the scheduler; `index` counts every record ever added, so a
 * reader (the dashboard) asks for "everything since N" and gets only the new
 * ones. Recording is one object per report, nothing else.
 */
import type { StartStop, TaskStreamRecord } from '../protocol/messages.js';
import { parseDuration } from '../units.js';

export type { TaskStreamRecord };

export const DEFAULT_TASK_STREAM_LENGTH = 20_000;

export class TaskStream {
  private readonly ring: (TaskStreamRecord | undefined)[];
  /** Records added since the scheduler started (the next record's index). */
  index = 0;
  /** Totals since the scheduler started (the /metrics counters). */
  finished = 0;
  erred = 0;
  transfers = 0;
  transferBytes = 0;

  constructor(readonly capacity = DEFAULT_TASK_STREAM_LENGTH) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`task stream length must be a positive integer, got ${capacity}`);
    this.ring = new Array(capacity);
  }

  add(record: TaskStreamRecord): void {
    this.ring[this.index % this.capacity] = record;
    this.index++;
  }

  /** A finished or erred task as its worker reported it (a report without timing gets `now`, zero long). */
  task(worker: string, msg: { key: string; thread?: unknown; startstops?: unknown; nbytes?: unknown }, status: 'OK' | 'error', now: number): void {
    const startstops = validStartStops(msg.startstops) ?? [{ action: 'compute', start: now, stop: now }];
    const record: TaskStreamRecord = { key: msg.key, worker, thread: typeof msg.thread === 'number' ? msg.thread : 0, status, startstops };
    if (typeof msg.nbytes === 'number') record.nbytes = msg.nbytes;
    if (status === 'OK') this.finished++;
    else this.erred++;
    this.add(record);
  }

  /** A fetch of `keys` by `worker` (add-keys with its transfer timing). */
  transfer(worker: string, keys: readonly string[], transfer: unknown): void {
    const [phase] = validStartStops([transfer]) ?? [];
    if (phase === undefined || keys.length === 0) return;
    const nbytes = (transfer as { nbytes?: unknown }).nbytes;
    const record: TaskStreamRecord = { key: `transfer-${keys[0]}`, worker, thread: null, status: 'OK', startstops: [{ ...phase, action: 'transfer' }] };
    if (typeof nbytes === 'number') {
      record.nbytes = nbytes;
      this.transferBytes += nbytes;
    }
    this.transfers++;
    this.add(record);
  }

  /** Records with index >= `since` still in the ring, oldest first, and the index to ask from next time. */
  since(since: number): { records: TaskStreamRecord[]; next: number } {
    const first = Math.max(since, this.index - this.capacity, 0);
    const records: TaskStreamRecord[] = [];
    for (let i = first; i < this.index; i++) records.push(this.ring[i % this.capacity]!);
    return { records, next: this.index };
  }

  /**
   * Records whose last stop falls in [start, stop] (wall-clock ms since the
   * epoch). Either may be a duration string or ms count meaning "that long
   * before now" when given as a string ('60s'), as dask's get_task_stream.
   */
  select(options: { start?: number | string; stop?: number | string } = {}, now = Date.now()): TaskStreamRecord[] {
    const start = boundary(options.start, now, -Infinity);
    const stop = boundary(options.stop, now, Infinity);
    return this.since(0).records.filter((record) => {
      const last = lastStop(record);
      return last >= start && last <= stop;
    });
  }
}

function boundary(value: number | string | undefined | null, now: number, otherwise: number): number {
  if (value === undefined || value === null) return otherwise;
  if (typeof value === 'string') return now - parseDuration(value);
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`task stream start/stop must be ms since the epoch or a duration string, got ${String(value)}`);
  return value;
}

function lastStop(record: TaskStreamRecord): number {
  let last = -Infinity;
  for (const phase of record.startstops) if (phase.stop > last) last = phase.stop;
  return last;
}

const ACTIONS: ReadonlySet<string> = new Set(['compute', 'transfer', 'disk-read', 'disk-write']);

/** Workers are trusted for timing, not for shape: anything malformed is dropped. */
function validStartStops(value: unknown): StartStop[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const out: StartStop[] = [];
  for (const entry of value) {
    const { action, start, stop, source } = (entry ?? {}) as Partial<StartStop>;
    if (typeof action !== 'string' || !ACTIONS.has(action) || typeof start !== 'number' || typeof stop !== 'number' || !(stop >= start)) return undefined;
    const phase: StartStop = { action, start, stop };
    if (typeof source === 'string') phase.source = source;
    out.push(phase);
  }
  return out;
}
