/**
 * The last N transitions of a lifecycle table's records (scheduler or worker
 * tasks), for `story(key)`, debugging and tests: a ring buffer kept as
 * parallel arrays so recording one costs no allocation.
 */
import { RingSlots } from './ring-slots.js';

/** On the scheduler, `start` and `finish` are both `processing` for a task moved by work stealing. */
export interface TransitionLogEntry<S extends string = string> {
  key: string;
  start: S;
  finish: S;
  stimulusId: string;
  /** The state's clock when the stimulus arrived, ms. */
  time: number;
}

export class TransitionLog<S extends string = string> {
  private readonly keys: string[];
  private readonly starts: S[];
  private readonly finishes: S[];
  private readonly stimuli: string[];
  private readonly times: Float64Array;
  private readonly ring: RingSlots;

  constructor(readonly capacity = 10_000) {
    this.ring = new RingSlots(capacity, 'transition log');
    this.keys = new Array<string>(capacity).fill('');
    this.starts = new Array<S>(capacity).fill('' as S);
    this.finishes = new Array<S>(capacity).fill('' as S);
    this.stimuli = new Array<string>(capacity).fill('');
    this.times = new Float64Array(capacity);
  }

  record(key: string, start: S, finish: S, stimulusId: string, time: number): void {
    const i = this.ring.claim();
    this.keys[i] = key;
    this.starts[i] = start;
    this.finishes[i] = finish;
    this.stimuli[i] = stimulusId;
    this.times[i] = time;
  }

  get size(): number {
    return this.ring.count;
  }

  /** Transitions recorded since the state was made (not only those still kept). */
  get total(): number {
    return this.ring.total;
  }

  /** Kept entries, oldest first. */
  entries(): TransitionLogEntry<S>[] {
    const out: TransitionLogEntry<S>[] = [];
    this.scan(undefined, (_seq, entry) => out.push(entry));
    return out;
  }

  /** Kept entries of one key, oldest first (dask's `story`). */
  story(key: string): TransitionLogEntry<S>[] {
    const out: TransitionLogEntry<S>[] = [];
    this.scan(key, (_seq, entry) => out.push(entry));
    return out;
  }

  /**
   * Visits kept entries (of `key`, or all), oldest first, with each one's
   * sequence number: how many transitions were recorded before it.
   */
  scan(key: string | undefined, visit: (seq: number, entry: TransitionLogEntry<S>) => void): void {
    const { count, total } = this.ring;
    const firstSeq = total - count;
    for (let n = 0; n < count; n++) {
      const i = this.ring.slot(n);
      if (key !== undefined && this.keys[i] !== key) continue;
      visit(firstSeq + n, { key: this.keys[i]!, start: this.starts[i]!, finish: this.finishes[i]!, stimulusId: this.stimuli[i]!, time: this.times[i]! });
    }
  }
}
