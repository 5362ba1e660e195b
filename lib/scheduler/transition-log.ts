/**
 * The last N transitions, for debugging and tests: a ring buffer kept as
 * parallel arrays so recording one costs no allocation.
 */
import type { SchedulerTaskState } from '../../machines/scheduler-task.js';

/** `finish` is `processing` with `start` `processing` for a task moved by work stealing. */
export interface TransitionLogEntry {
  key: string;
  start: SchedulerTaskState;
  finish: SchedulerTaskState;
  stimulusId: string;
  /** The scheduler clock when the stimulus arrived, ms. */
  time: number;
}

export class TransitionLog {
  private readonly keys: string[];
  private readonly starts: SchedulerTaskState[];
  private readonly finishes: SchedulerTaskState[];
  private readonly stimuli: string[];
  private readonly times: Float64Array;
  private next = 0;
  private count = 0;
  /** Transitions recorded since the scheduler started (not only those still kept). */
  total = 0;

  constructor(readonly capacity = 10_000) {
    if (!(capacity >= 1)) throw new RangeError(`transition log capacity must be >= 1, got ${capacity}`);
    this.keys = new Array<string>(capacity).fill('');
    this.starts = new Array<SchedulerTaskState>(capacity).fill('released');
    this.finishes = new Array<SchedulerTaskState>(capacity).fill('released');
    this.stimuli = new Array<string>(capacity).fill('');
    this.times = new Float64Array(capacity);
  }

  record(key: string, start: SchedulerTaskState, finish: SchedulerTaskState, stimulusId: string, time: number): void {
    const i = this.next;
    this.keys[i] = key;
    this.starts[i] = start;
    this.finishes[i] = finish;
    this.stimuli[i] = stimulusId;
    this.times[i] = time;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
    if (this.count < this.capacity) this.count += 1;
    this.total += 1;
  }

  get size(): number {
    return this.count;
  }

  /** Kept entries, oldest first. */
  entries(): TransitionLogEntry[] {
    const out: TransitionLogEntry[] = [];
    const first = this.count < this.capacity ? 0 : this.next;
    for (let n = 0; n < this.count; n++) {
      const i = (first + n) % this.capacity;
      out.push({ key: this.keys[i]!, start: this.starts[i]!, finish: this.finishes[i]!, stimulusId: this.stimuli[i]!, time: this.times[i]! });
    }
    return out;
  }

  /** Kept entries of one key, oldest first (dask's `story`). */
  story(key: string): TransitionLogEntry[] {
    return this.entries().filter((e) => e.key === key);
  }
}
