/**
 * The scheduler's per-task lifecycle, with exactly the direct edges of dask's
 * `SchedulerState._TRANSITIONS_TABLE`. Each event is a recommendation named
 * after its target state, so `schedulerTaskTable.move(from, to)` is the hot
 * path and this machine is its single definition (and its picture).
 *
 * A recommendation with no direct edge and neither end `released` goes through
 * `released` (dask's `_transition`): see `TransitionTable.route`.
 */
import { setup } from 'xstate';
import { tableFromMachine } from './transition-table.js';

export type SchedulerTaskState =
  | 'released'
  | 'waiting'
  | 'no-worker'
  | 'queued'
  | 'processing'
  | 'memory'
  | 'erred'
  | 'forgotten';

export type SchedulerTaskEvent = { type: SchedulerTaskState };

export const schedulerTaskMachine = setup({
  types: { events: {} as SchedulerTaskEvent },
}).createMachine({
  id: 'scheduler-task',
  initial: 'released',
  states: {
    released: { on: { waiting: 'waiting', forgotten: 'forgotten', erred: 'erred' } },
    waiting: {
      on: {
        released: 'released',
        processing: 'processing',
        'no-worker': 'no-worker',
        queued: 'queued',
        // A dependency finished on a race with a scattered copy: dask keeps this edge.
        memory: 'memory',
      },
    },
    queued: { on: { released: 'released', processing: 'processing', erred: 'erred' } },
    'no-worker': { on: { released: 'released', processing: 'processing', erred: 'erred' } },
    processing: { on: { released: 'released', memory: 'memory', erred: 'erred' } },
    memory: { on: { released: 'released', erred: 'erred', forgotten: 'forgotten' } },
    erred: { on: { released: 'released' } },
    // A forgotten task's record is dropped; resubmitting the key makes a new record.
    forgotten: { type: 'final' },
  },
});

export const schedulerTaskTable = tableFromMachine<SchedulerTaskState>(schedulerTaskMachine);
