/**
 * A worker's own lifecycle (one real xstate actor per worker; see
 * lifecycle.ts `startLifecycle`). The worker shell sends events as things
 * happen; the snapshot is what `worker-status-change` reports to the scheduler.
 *
 *   starting --started--> running <--pause/unpause--> paused
 *   running|paused --retire--> closing-gracefully --retire-cancelled--> running
 *   starting|running|paused|closing-gracefully --close--> closing --closed--> closed
 *   starting --start-failed--> closing (error kept in context)
 *
 * `closing-gracefully` is dask's retire_workers state: no new tasks, data is
 * being handed to peers; if that fails the worker goes back to `running`.
 */
import { assign, setup } from 'xstate';

export type WorkerProcessState = 'starting' | 'running' | 'paused' | 'closing-gracefully' | 'closing' | 'closed';

export type WorkerProcessEvent =
  | { type: 'started' }
  | { type: 'start-failed'; error: unknown }
  | { type: 'pause'; reason?: string }
  | { type: 'unpause' }
  | { type: 'retire' }
  | { type: 'retire-cancelled' }
  | { type: 'close'; reason?: string }
  | { type: 'closed' };

export interface WorkerProcessContext {
  /** Why the worker is closing (`close.reason`, or 'start-failed'). */
  closeReason: string | undefined;
  /** The error that made start fail. */
  error: unknown;
  /** How many times the worker paused (memory pressure), for diagnostics. */
  pauses: number;
}

export const workerProcessMachine = setup({
  types: { context: {} as WorkerProcessContext, events: {} as WorkerProcessEvent },
  actions: {
    rememberClose: assign({
      closeReason: ({ event }) => (event.type === 'close' ? (event.reason ?? 'close') : undefined),
    }),
    rememberStartFailure: assign({
      closeReason: 'start-failed',
      error: ({ event }) => (event.type === 'start-failed' ? event.error : undefined),
    }),
    countPause: assign({ pauses: ({ context }) => context.pauses + 1 }),
  },
}).createMachine({
  id: 'worker-process',
  initial: 'starting',
  context: { closeReason: undefined, error: undefined, pauses: 0 },
  states: {
    starting: {
      on: {
        started: 'running',
        'start-failed': { target: 'closing', actions: 'rememberStartFailure' },
        close: { target: 'closing', actions: 'rememberClose' },
      },
    },
    running: {
      on: {
        pause: { target: 'paused', actions: 'countPause' },
        retire: 'closing-gracefully',
        close: { target: 'closing', actions: 'rememberClose' },
      },
    },
    paused: {
      on: {
        unpause: 'running',
        retire: 'closing-gracefully',
        close: { target: 'closing', actions: 'rememberClose' },
      },
    },
    'closing-gracefully': {
      on: {
        'retire-cancelled': 'running',
        close: { target: 'closing', actions: 'rememberClose' },
      },
    },
    closing: { on: { closed: 'closed' } },
    closed: { type: 'final' },
  },
});
