/**
 * Which queued messages a sender encodes into one wire message. A count alone
 * does not bound the work: one client `update-graph` carries up to 1,024
 * tasks, so the update-graphs of a long `client.map` queued while the socket
 * drained made one encode of tens of thousands of tasks that held the loop
 * for 100-300 ms (a million-task map over TCP, profiled).
 *
 * So each message has a weight, 1 plus the length of each array among its
 * fields (a key report weighs 1, an update-graph of 1,024 tasks and keys
 * ~2,049), and a batch stops at a weight budget. The budget learns from each
 * encode it is told about, to fit BATCH_TARGET_MS: it shrinks at once when an
 * encode ran over and doubles after a full batch that took under a quarter of
 * it. A batch always takes at least one message, and never more than
 * MAX_BATCH_MESSAGES. Pure (the caller's clock), tested without timing.
 */
import { MAX_BATCH_MESSAGES } from './turn-budget.js';

/** What one encode should take at most: well inside a turn's budget, so a turn does not overrun by a whole batch. */
export const BATCH_TARGET_MS = 2;
/** The weight budget to start with (a full batch of small messages). */
export const INITIAL_BATCH_WEIGHT = MAX_BATCH_MESSAGES;
/** The largest the weight budget grows. */
export const MAX_BATCH_WEIGHT = 64 * MAX_BATCH_MESSAGES;

/** 1, plus the length of every array among `msg`'s own fields (not deeper: a cheap estimate of encoding work). */
export function messageWeight(msg: object): number {
  let weight = 1;
  for (const name in msg) {
    const value = (msg as Record<string, unknown>)[name];
    if (Array.isArray(value)) weight += value.length;
  }
  return weight;
}

export class BatchSizer {
  /** Weight the next batch may carry. */
  budget: number;
  /** The last batch taken: its weight, and whether the budget (not the queue's end) cut it. */
  private lastWeight = 0;
  private lastCut = false;

  constructor(
    private readonly maxMessages = MAX_BATCH_MESSAGES,
    private readonly targetMs = BATCH_TARGET_MS,
    initialBudget = INITIAL_BATCH_WEIGHT,
  ) {
    this.budget = initialBudget;
  }

  /** How many of `queue[from..]` go in the next batch (at least one, when any is left). */
  take(queue: readonly object[], from: number): number {
    const end = Math.min(queue.length, from + this.maxMessages);
    let weight = 0;
    let i = from;
    while (i < end) {
      const next = messageWeight(queue[i]!);
      if (i > from && weight + next > this.budget) break;
      weight += next;
      i++;
    }
    this.lastWeight = weight;
    this.lastCut = i < end;
    return i - from;
  }

  /** The batch just taken was encoded in `ms`: sizes the next budget. */
  record(ms: number): void {
    const weight = this.lastWeight;
    if (weight <= 0 || !(ms >= 0)) return;
    if (ms > this.targetMs) {
      // Over: as much as fits the target at this batch's cost per unit (at least one message's worth).
      this.budget = Math.max(1, Math.min(this.budget, Math.floor((weight * this.targetMs) / ms)));
    } else if (this.lastCut && ms * 4 <= this.targetMs) {
      // A batch cut short that took well under the target: messages got cheaper, take more.
      this.budget = Math.min(MAX_BATCH_WEIGHT, this.budget * 2);
    }
  }

}
