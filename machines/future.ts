/**
 * A client-side Future's status. Events are named after their target state
 * (`futureTable.move(status, 'finished')` on `key-in-memory`).
 *
 * Edges and why:
 * - pending -> finished | error | cancelled: the task's outcome, or the user /
 *   a restart cancelled it.
 * - finished -> lost: the only replica died (`lost-data`). A computed value is
 *   recomputed by the scheduler, so lost -> finished | error follows; a scattered
 *   value has no recipe and stays lost until cancelled or released.
 * - finished | lost -> cancelled: cancel(), client.restart().
 * - error -> pending: client.retry(). error -> cancelled: cancel()/restart.
 * - No pending -> lost: lost-data only follows key-in-memory on the same
 *   ordered stream, so a pending future always passes through finished.
 * - cancelled is final. Submitting the same key again creates a new record that
 *   starts at pending; a cancelled record is never revived, so a late
 *   `key-in-memory` for an old run cannot resurrect it.
 */
import { setup } from 'xstate';
import { tableFromMachine } from './transition-table.js';

export type FutureStatus = 'pending' | 'finished' | 'error' | 'cancelled' | 'lost';

export type FutureEvent = { type: FutureStatus };

export const futureMachine = setup({
  types: { events: {} as FutureEvent },
}).createMachine({
  id: 'future',
  initial: 'pending',
  states: {
    pending: { on: { finished: 'finished', error: 'error', cancelled: 'cancelled' } },
    finished: { on: { lost: 'lost', cancelled: 'cancelled' } },
    lost: { on: { finished: 'finished', error: 'error', cancelled: 'cancelled' } },
    error: { on: { pending: 'pending', cancelled: 'cancelled' } },
    cancelled: { type: 'final' },
  },
});

export const futureTable = tableFromMachine<FutureStatus>(futureMachine);
