/**
 * A worker's own lifecycle (one real xstate actor per worker; see
 * lifecycle.ts `startLifecycle`). The worker shell sends events as things
 * happen; the snapshot is what `worker-status-change` reports to the scheduler.
 *
 *   starting --started--> running <--pause/unpause--> paused
 *   running|paused --retire--> closing-gracefully --retire-cancelled--> running
 *   starting|running|paused|closing-gracefully --close--> closing --closed--> closed
 *   starting --start-failed--> closing
 *
 * `closing-gracefully` is dask's retire_workers state: no new tasks, data is
 * being handed to peers; if that fails the worker goes back to `running`.
 */
import { setup } from 'xstate';

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

export const workerProcessMachine = setup({
  types: { events: {} as WorkerProcessEvent },
}).createMachine({
  id: 'worker-process',
  initial: 'starting',
  states: {
    starting: { on: { started: 'running', 'start-failed': 'closing', close: 'closing' } },
    running: { on: { pause: 'paused', retire: 'closing-gracefully', close: 'closing' } },
    paused: { on: { unpause: 'running', retire: 'closing-gracefully', close: 'closing' } },
    'closing-gracefully': { on: { 'retire-cancelled': 'running', close: 'closing' } },
    closing: { on: { closed: 'closed' } },
    closed: { type: 'final' },
  },
});
