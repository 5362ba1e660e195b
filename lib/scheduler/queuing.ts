/**
 * Root-task queuing. A root-ish task (no dependencies, no restrictions) is sent
 * to a worker only while that worker has a free slot; otherwise it waits in the
 * scheduler's queue, ordered by priority, and each freed slot pulls the best
 * queued task. This keeps a large map from flooding the first worker and keeps
 * priorities meaningful across workers.
 *
 * Slots per worker = max(ceil(saturation × nthreads), ceil(nthreads × target / average duration)),
 * capped at `maxSlots`. The first term is dask's `worker-saturation` (1.1): long
 * tasks never pile up. The second keeps about `target` ms of work per thread
 * queued on the worker, so tiny tasks are not throttled by a scheduler round trip
 * each. A prefix whose duration is still unknown gets only the first term: the
 * first task to finish makes the average known, and the slots open at once.
 */
import { runsBefore, type TaskRecord } from './records.js';

export interface QueuingOptions {
  /** dask's `distributed.scheduler.worker-saturation`. */
  workerSaturation: number;
  /** ms of queued work per thread to aim for with short tasks. */
  targetQueuedMs: number;
  maxSlots: number;
}

export const DEFAULT_QUEUING: QueuingOptions = { workerSaturation: 1.1, targetQueuedMs: 2, maxSlots: 1000 };

/** Root-ish tasks a worker with `nthreads` may hold; `averageMs < 0` means unknown. */
export function rootishSlotLimit(nthreads: number, averageMs: number, options: QueuingOptions): number {
  const base = Math.max(1, Math.ceil(options.workerSaturation * nthreads));
  if (averageMs < 0) return base;
  const fast = averageMs === 0 ? options.maxSlots : Math.min(options.maxSlots, Math.ceil((nthreads * options.targetQueuedMs) / averageMs));
  return fast > base ? fast : base;
}

/** Slots per chunk of the sorted run (a power of two). */
const RUN_CHUNK_BITS = 12;
const RUN_CHUNK = 1 << RUN_CHUNK_BITS;
const RUN_CHUNK_MASK = RUN_CHUNK - 1;

/**
 * Tasks by priority (best first). Most tasks arrive already in priority order
 * (one submission after another), so the queue keeps a sorted run — pushes
 * that do not beat its tail are appended, and pops take its head, both O(1) —
 * and a binary heap for the rest. `TaskRecord.queueIndex` says where a task is
 * (>= 0: heap position; <= -2: run slot -(index + 2); -1: not queued), so
 * removal is O(1) from the run (a hole, skipped later) or O(log n) from the heap.
 *
 * The run is stored in chunks of RUN_CHUNK slots: a million queued tasks in
 * one array meant copying all of it whenever it grew (22 ms in one push at
 * ~700k) and again to drop the consumed front; chunks grow alone and a
 * consumed one is dropped whole.
 */
export class TaskQueue {
  private readonly heap: TaskRecord[] = [];
  private chunks: TaskRecord[][] = [];
  /** Slot numbers only grow: chunks[0][0] is slot `runBase`, the next push takes `runEnd`. */
  private runBase = 0;
  private runEnd = 0;
  /** First slot that may still be live. */
  private head = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  peek(): TaskRecord | undefined {
    const fromRun = this.runHead();
    const fromHeap = this.heap[0];
    if (fromRun === undefined) return fromHeap;
    if (fromHeap === undefined) return fromRun;
    return runsBefore(fromHeap, fromRun) ? fromHeap : fromRun;
  }

  has(ts: TaskRecord): boolean {
    const q = ts.queueIndex;
    if (q >= 0) return this.heap[q] === ts;
    if (q <= -2) return this.slot(-q - 2) === ts;
    return false;
  }

  push(ts: TaskRecord): void {
    if (this.runEnd === this.head || !runsBefore(ts, this.slot(this.runEnd - 1)!)) {
      const rel = this.runEnd - this.runBase;
      if ((rel & RUN_CHUNK_MASK) === 0) this.chunks.push([]);
      this.chunks[rel >> RUN_CHUNK_BITS]!.push(ts);
      ts.queueIndex = -(this.runEnd + 2);
      this.runEnd += 1;
    } else {
      ts.queueIndex = this.heap.length;
      this.heap.push(ts);
      this.up(ts.queueIndex);
    }
    this.count += 1;
  }

  pop(): TaskRecord | undefined {
    const top = this.peek();
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(ts: TaskRecord): boolean {
    const q = ts.queueIndex;
    if (q >= 0) {
      if (this.heap[q] !== ts) return false;
      const last = this.heap.pop()!;
      if (last !== ts) {
        this.heap[q] = last;
        last.queueIndex = q;
        this.down(q);
        this.up(last.queueIndex);
      }
    } else if (q <= -2) {
      if (this.slot(-q - 2) !== ts) return false;
      // Leave a hole: the run stays sorted, and runHead() skips it.
    } else {
      return false;
    }
    ts.queueIndex = -1;
    this.count -= 1;
    return true;
  }

  /** Queued tasks in no particular order. */
  values(): TaskRecord[] {
    const out: TaskRecord[] = [...this.heap];
    for (let s = this.head; s < this.runEnd; s++) {
      const ts = this.slot(s)!;
      if (ts.queueIndex === -(s + 2)) out.push(ts);
    }
    return out;
  }

  /** What run slot `s` holds (a hole still holds its old task); undefined outside the run. */
  private slot(s: number): TaskRecord | undefined {
    const rel = s - this.runBase;
    if (rel < 0 || s >= this.runEnd) return undefined;
    return this.chunks[rel >> RUN_CHUNK_BITS]![rel & RUN_CHUNK_MASK];
  }

  /** The first live task of the run, skipping holes (removed or popped slots). */
  private runHead(): TaskRecord | undefined {
    while (this.head < this.runEnd) {
      // A chunk wholly consumed is dropped, so it does not hold records.
      while (this.head - this.runBase >= RUN_CHUNK) {
        this.chunks.shift();
        this.runBase += RUN_CHUNK;
      }
      const ts = this.slot(this.head)!;
      if (ts.queueIndex === -(this.head + 2)) return ts;
      this.head += 1;
    }
    if (this.chunks.length > 0) {
      this.chunks = [];
      this.runBase = this.runEnd;
    }
    return undefined;
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!runsBefore(item, p)) break;
      heap[i] = p;
      p.queueIndex = i;
      i = parent;
    }
    heap[i] = item;
    item.queueIndex = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && runsBefore(heap[right]!, heap[left]!) ? right : left;
      const c = heap[child]!;
      if (!runsBefore(c, item)) break;
      heap[i] = c;
      c.queueIndex = i;
      i = child;
    }
    heap[i] = item;
    item.queueIndex = i;
  }
}

/**
 * Tasks waiting for resources to free up, one priority queue per distinct set
 * of restrictions. When resources free, each group is tried from its best task
 * until one does not fit: a pass costs O(groups + tasks placed), not O(waiting).
 */
export class ResourceWaitQueues {
  private readonly groups = new Map<string, TaskQueue>();
  private readonly groupOf = new Map<TaskRecord, TaskQueue>();

  get size(): number {
    return this.groupOf.size;
  }

  has(ts: TaskRecord): boolean {
    return this.groupOf.has(ts);
  }

  add(ts: TaskRecord): void {
    if (this.groupOf.has(ts)) return;
    const signature = restrictionSignature(ts);
    let queue = this.groups.get(signature);
    if (queue === undefined) this.groups.set(signature, (queue = new TaskQueue()));
    queue.push(ts);
    this.groupOf.set(ts, queue);
  }

  delete(ts: TaskRecord): boolean {
    const queue = this.groupOf.get(ts);
    if (queue === undefined) return false;
    queue.remove(ts);
    this.groupOf.delete(ts);
    return true;
  }

  values(): IterableIterator<TaskRecord> {
    return this.groupOf.keys();
  }

  /** For each group, hands `place` the best task while it accepts (returns true). */
  drain(place: (ts: TaskRecord) => boolean): void {
    for (const [signature, queue] of this.groups) {
      while (queue.size > 0) {
        const head = queue.peek()!;
        if (!place(head)) break;
        queue.pop();
        this.groupOf.delete(head);
      }
      if (queue.size === 0) this.groups.delete(signature);
    }
  }
}

function restrictionSignature(ts: TaskRecord): string {
  const r = ts.restrictions;
  if (r === undefined) return '';
  const resources = r.resources === undefined ? [] : Object.keys(r.resources).sort().map((k) => [k, r.resources![k]]);
  return JSON.stringify([r.workers ?? null, r.allowOtherWorkers === true, resources]);
}
