/**
 * How much work a comm does in one turn of the event loop. A backlog (a
 * million `key-in-memory` reports for a client that was busy submitting, a
 * large update-graph) must not be encoded, decoded or handled in one go: that
 * would hold the process's event loop for seconds. Senders put at most
 * MAX_BATCH_MESSAGES messages in one wire message and encode for at most
 * SEND_BUDGET_MS before letting the loop turn; receivers hand messages to
 * their handler for at most DELIVER_BUDGET_MS, then pause reading and go on
 * at the next turn (order is kept: later messages queue behind).
 */
import { childLogger } from '../logging.js';

export const MAX_BATCH_MESSAGES = 1024;
export const SEND_BUDGET_MS = 8;
export const DELIVER_BUDGET_MS = 8;
/** The clock is read after every this many messages (a power of two, minus one, as a mask). */
export const CLOCK_EVERY_MASK = 15;

/**
 * One budget for the whole thread. In one process the client, the scheduler
 * and the worker hand each other messages from microtasks (direct-delivery.ts)
 * and a pool thread's answer starts the next round in the same turn: each
 * comm keeping to DELIVER_BUDGET_MS of its own still let a turn run for
 * 100 ms and more. So every budgeted step also asks `turnOver()`, which
 * counts from the first budgeted step of this turn (the clock stops at the
 * next check phase, setImmediate), and what must wait goes to `nextTurn`.
 */
export const TURN_BUDGET_MS = 8;

const log = childLogger('comm', { part: 'turn-budget' });

let turnStartedAt = -1;
let endArmed = false;

function endTurn(): void {
  turnStartedAt = -1;
  endArmed = false;
}

/** True once this turn's budgeted work, from every actor and comm of this thread, has taken TURN_BUDGET_MS. */
export function turnOver(): boolean {
  const now = performance.now();
  if (turnStartedAt < 0) {
    turnStartedAt = now;
    if (!endArmed) {
      endArmed = true;
      setImmediate(endTurn);
    }
    return false;
  }
  return now - turnStartedAt >= TURN_BUDGET_MS;
}

const waiting: (() => void)[] = [];
let waitingHead = 0;
let drainArmed = false;

/**
 * Runs `work` at a later turn, in the order given (one FIFO for the thread).
 * Each later turn runs at least one of them and then more while the turn's
 * budget lasts.
 */
export function nextTurn(work: () => void): void {
  waiting.push(work);
  if (!drainArmed) {
    drainArmed = true;
    setImmediate(drainWaiting);
  }
}

function drainWaiting(): void {
  drainArmed = false;
  turnOver(); // starts this turn's clock, if no one has yet
  do {
    const work = waiting[waitingHead]!;
    waiting[waitingHead++] = undefined as unknown as () => void;
    try {
      work();
    } catch (error) {
      // Work handed here handles its own errors; one that does not must not strand the rest.
      log.error({ err: error }, 'work deferred to a later turn threw');
    }
  } while (waitingHead < waiting.length && !turnOver());
  if (waitingHead < waiting.length) {
    drainArmed = true;
    setImmediate(drainWaiting);
    return;
  }
  waiting.length = 0;
  waitingHead = 0;
}
