/**
 * A nanny's lifecycle (one real xstate actor per nanny; see lifecycle.ts).
 * The nanny owns one worker child process and restarts it on request, on
 * memory overrun (`terminate` fraction of the limit) or when it dies
 * unexpectedly (if `autoRestart`, the default).
 *
 *   starting --started--> running
 *   running --restart|memory-exceeded|worker-exited(autoRestart)--> restarting --started--> running
 *   running --worker-exited(!autoRestart)--> closing
 *   starting|running|restarting --close--> closing --closed--> closed
 *   starting|restarting --start-failed--> closing (error kept in context)
 *
 * A worker exit while restarting or closing is the expected one and is ignored.
 */
import { assign, setup } from 'xstate';

export type NannyProcessState = 'starting' | 'running' | 'restarting' | 'closing' | 'closed';

export type NannyProcessEvent =
  | { type: 'started' }
  | { type: 'start-failed'; error: unknown }
  | { type: 'restart'; reason?: string }
  | { type: 'memory-exceeded'; rss: number; limit: number }
  | { type: 'worker-exited'; code: number | null; signal: string | null }
  | { type: 'close'; reason?: string }
  | { type: 'closed' };

export interface NannyProcessInput {
  /** Restart the worker when it dies unexpectedly (default true). */
  autoRestart?: boolean;
}

export interface NannyProcessContext {
  autoRestart: boolean;
  /** Restarts begun since the nanny started. */
  restarts: number;
}

export const nannyProcessMachine = setup({
  types: {
    context: {} as NannyProcessContext,
    events: {} as NannyProcessEvent,
    input: {} as NannyProcessInput | undefined,
  },
  actions: {
    beginRestart: assign({ restarts: ({ context }) => context.restarts + 1 }),
  },
  guards: {
    autoRestart: ({ context }) => context.autoRestart,
  },
}).createMachine({
  id: 'nanny-process',
  initial: 'starting',
  context: ({ input }) => ({
    autoRestart: input?.autoRestart ?? true,
    restarts: 0,
  }),
  states: {
    starting: {
      on: {
        started: 'running',
        'start-failed': 'closing',
        close: 'closing',
      },
    },
    running: {
      on: {
        restart: { target: 'restarting', actions: 'beginRestart' },
        'memory-exceeded': { target: 'restarting', actions: 'beginRestart' },
        'worker-exited': [
          { guard: 'autoRestart', target: 'restarting', actions: 'beginRestart' },
          'closing',
        ],
        close: 'closing',
      },
    },
    restarting: {
      on: {
        started: 'running',
        'start-failed': 'closing',
        close: 'closing',
      },
    },
    closing: { on: { closed: 'closed' } },
    closed: { type: 'final' },
  },
});
