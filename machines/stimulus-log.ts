/**
 * The last N stimuli a pure state handled (dask's `stimulus_log`): what
 * arrived, its stimulus id, the keys it named and when. A ring buffer of
 * parallel arrays; a stimulus naming one key stores the string itself, one
 * naming several keeps a reference to the array it came with (no copy).
 *
 * `storyOf` merges it with the transition log into a key's story (dask's
 * `story(key)`): each stimulus that named the key, then the transitions it
 * caused, in the order they happened (each stimulus remembers how many
 * transitions had been logged before it, so the merge needs no clock).
 */
import type { StoryRecord } from '../lib/protocol/messages.js';
import type { TransitionLog } from './transition-log.js';
import { RingSlots } from './ring-slots.js';

export type StimulusKeys = string | readonly string[] | undefined;

export interface StimulusLogEntry {
  /** The stimulus: an op such as `task-finished`, or an internal event. */
  what: string;
  stimulusId: string;
  keys: StimulusKeys;
  /** The state's clock when it arrived, ms. */
  time: number;
  /** Transitions logged before it (TransitionLog.total at the time). */
  transitionsBefore: number;
}

export class StimulusLog {
  private readonly whats: string[];
  private readonly stimuli: string[];
  private readonly keys: StimulusKeys[];
  private readonly times: Float64Array;
  private readonly before: Float64Array;
  private readonly ring: RingSlots;

  constructor(readonly capacity = 10_000) {
    this.ring = new RingSlots(capacity, 'stimulus log');
    this.whats = new Array<string>(capacity).fill('');
    this.stimuli = new Array<string>(capacity).fill('');
    this.keys = new Array<StimulusKeys>(capacity).fill(undefined);
    this.times = new Float64Array(capacity);
    this.before = new Float64Array(capacity);
  }

  record(what: string, stimulusId: string, keys: StimulusKeys, time: number, transitionsBefore: number): void {
    const i = this.ring.claim();
    this.whats[i] = what;
    this.stimuli[i] = stimulusId;
    this.keys[i] = keys;
    this.times[i] = time;
    this.before[i] = transitionsBefore;
  }

  get size(): number {
    return this.ring.count;
  }

  /** Stimuli recorded since the state was made (not only those still kept). */
  get total(): number {
    return this.ring.total;
  }

  /** Kept stimuli (that named `key`, or all), oldest first. */
  entries(key?: string): StimulusLogEntry[] {
    const out: StimulusLogEntry[] = [];
    for (let n = 0; n < this.ring.count; n++) {
      const i = this.ring.slot(n);
      const keys = this.keys[i];
      if (key !== undefined && !(keys === key || (typeof keys === 'object' && keys.includes(key)))) continue;
      out.push({ what: this.whats[i]!, stimulusId: this.stimuli[i]!, keys, time: this.times[i]!, transitionsBefore: this.before[i]! });
    }
    return out;
  }
}

/**
 * The story of `key` as plain records, oldest first: each stimulus that named
 * it, then the transitions it caused. `where` names the side ('scheduler' or a
 * worker's address); `epoch` turns the state's clock into wall-clock ms.
 */
export function storyOf(key: string, stimuli: StimulusLog, transitions: TransitionLog, where: string, epoch: number): StoryRecord[] {
  const story: StoryRecord[] = [];
  const named = stimuli.entries(key);
  let i = 0;
  transitions.scan(key, (seq, t) => {
    while (i < named.length && named[i]!.transitionsBefore <= seq) story.push(stimulusRecord(key, named[i++]!, where, epoch));
    story.push({ key, where, stimulusId: t.stimulusId, ts: t.time + epoch, start: t.start, finish: t.finish });
  });
  while (i < named.length) story.push(stimulusRecord(key, named[i++]!, where, epoch));
  return story;
}

function stimulusRecord(key: string, s: StimulusLogEntry, where: string, epoch: number): StoryRecord {
  return { key, where, stimulusId: s.stimulusId, ts: s.time + epoch, stimulus: s.what };
}
