/**
 * The worker's per-task lifecycle: dask's `WorkerState._TRANSITIONS_TABLE`
 * (recommendation edges, marked "table" below) plus the resting states dask's
 * handlers assign directly (marked "handler"). Without the handler edges a
 * record could never enter `cancelled`/`resumed`:
 * - executing|long-running|flight --released--> cancelled: a running thread or
 *   transfer cannot be aborted, so the release is remembered until it ends.
 * - cancelled --fetch|waiting--> resumed: asked for the opposite of what is in
 *   progress (compute vs fetch).
 * - cancelled --waiting--> executing, cancelled|resumed --fetch--> flight: asked
 *   again for what is in progress; the cancellation is forgotten.
 * - resumed --released--> cancelled.
 * dask's `rescheduled` state is left out: no task outcome here leads to it
 * (a task that must run elsewhere is released by the scheduler instead).
 * Events are named after their target state. WorkerState runs every move
 * through `workerTaskTable.dispatch(...)`, the handler of each edge.
 */
import { setup } from 'xstate';
import { tableFromMachine } from './transition-table.js';

export type WorkerTaskState =
  | 'released'
  | 'waiting'
  | 'ready'
  | 'constrained'
  | 'executing'
  | 'long-running'
  | 'fetch'
  | 'flight'
  | 'missing'
  | 'memory'
  | 'error'
  | 'cancelled'
  | 'resumed'
  | 'forgotten';

export type WorkerTaskEvent = { type: WorkerTaskState };

export const workerTaskMachine = setup({
  types: { events: {} as WorkerTaskEvent },
}).createMachine({
  id: 'worker-task',
  initial: 'released',
  states: {
    released: {
      on: {
        error: 'error',
        fetch: 'fetch',
        forgotten: 'forgotten',
        memory: 'memory',
        missing: 'missing',
        waiting: 'waiting',
      },
    },
    waiting: { on: { constrained: 'constrained', ready: 'ready', released: 'released' } },
    ready: { on: { executing: 'executing', released: 'released' } },
    constrained: { on: { executing: 'executing', released: 'released' } },
    executing: {
      on: {
        error: 'error',
        'long-running': 'long-running',
        memory: 'memory',
        released: 'released',
        cancelled: 'cancelled', // handler
      },
    },
    'long-running': {
      on: {
        error: 'error',
        memory: 'memory',
        released: 'released',
        cancelled: 'cancelled', // handler
      },
    },
    fetch: { on: { flight: 'flight', missing: 'missing', released: 'released' } },
    flight: {
      on: {
        error: 'error',
        fetch: 'fetch',
        memory: 'memory',
        missing: 'missing',
        released: 'released',
        cancelled: 'cancelled', // handler
      },
    },
    missing: { on: { error: 'error', fetch: 'fetch', released: 'released', waiting: 'waiting' } },
    memory: { on: { released: 'released' } },
    error: { on: { released: 'released' } },
    cancelled: {
      on: {
        error: 'error',
        fetch: 'fetch',
        'long-running': 'long-running',
        memory: 'memory',
        missing: 'missing',
        released: 'released',
        waiting: 'waiting',
        resumed: 'resumed', // handler
        executing: 'executing', // handler
        flight: 'flight', // handler
      },
    },
    resumed: {
      on: {
        error: 'error',
        fetch: 'fetch',
        'long-running': 'long-running',
        memory: 'memory',
        released: 'released',
        cancelled: 'cancelled', // handler
        flight: 'flight', // handler
      },
    },
    forgotten: { type: 'final' },
  },
});

export const workerTaskTable = tableFromMachine<WorkerTaskState>(workerTaskMachine);
