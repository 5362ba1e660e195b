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
export const MAX_BATCH_MESSAGES = 1024;
export const SEND_BUDGET_MS = 8;
export const DELIVER_BUDGET_MS = 8;
/** The clock is read after every this many messages (a power of two, minus one, as a mask). */
export const CLOCK_EVERY_MASK = 15;
