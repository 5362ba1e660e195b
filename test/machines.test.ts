import t from 'tap';
import { setup, transition, type AnyStateMachine } from 'xstate';
import { InvalidTransitionError, type TransitionTable } from '../dist/machines/transition-table.js';
import { schedulerTaskMachine, schedulerTaskTable } from '../dist/machines/scheduler-task.js';
import { workerTaskMachine, workerTaskTable } from '../dist/machines/worker-task.js';
import { futureMachine, futureTable } from '../dist/machines/future.js';
import { workerProcessMachine } from '../dist/machines/worker-process.js';
import { nannyProcessMachine } from '../dist/machines/nanny-process.js';
import { lifecycleState, sendStrict, startLifecycle } from '../dist/machines/lifecycle.js';

type Edge = `${string}->${string}`;

/** dask `SchedulerState._TRANSITIONS_TABLE`, literally. */
const DASK_SCHEDULER_EDGES: Edge[] = [
  'released->waiting', 'released->forgotten', 'released->erred',
  'waiting->released', 'waiting->processing', 'waiting->no-worker', 'waiting->queued', 'waiting->memory',
  'queued->released', 'queued->processing', 'queued->erred',
  'no-worker->released', 'no-worker->processing', 'no-worker->erred',
  'processing->released', 'processing->memory', 'processing->erred',
  'memory->released', 'memory->erred', 'memory->forgotten',
  'erred->released',
];

/**
 * dask `WorkerState._TRANSITIONS_TABLE` (recommendation edges), literally,
 * except those into and out of `rescheduled`: no task outcome here leads there,
 * so the machine drops that state (DASK_WORKER_RESCHEDULED_EDGES).
 */
const DASK_WORKER_TABLE_EDGES: Edge[] = [
  'cancelled->error', 'cancelled->fetch', 'cancelled->long-running', 'cancelled->memory', 'cancelled->missing',
  'cancelled->released', 'cancelled->waiting',
  'resumed->error', 'resumed->fetch', 'resumed->long-running', 'resumed->memory', 'resumed->released',
  'constrained->executing', 'constrained->released',
  'error->released',
  'executing->error', 'executing->long-running', 'executing->memory', 'executing->released',
  'fetch->flight', 'fetch->missing', 'fetch->released',
  'flight->error', 'flight->fetch', 'flight->memory', 'flight->missing', 'flight->released',
  'long-running->error', 'long-running->memory', 'long-running->released',
  'memory->released',
  'missing->error', 'missing->fetch', 'missing->released', 'missing->waiting',
  'ready->executing', 'ready->released',
  'released->error', 'released->fetch', 'released->forgotten', 'released->memory', 'released->missing',
  'released->waiting',
  'waiting->constrained', 'waiting->ready', 'waiting->released',
];

/** Resting states dask's worker handlers assign directly (`ts.state = ...`). */
const DASK_WORKER_HANDLER_EDGES: Edge[] = [
  'executing->cancelled', 'long-running->cancelled', // _transition_executing_released
  'flight->cancelled', // _transition_flight_released
  'cancelled->resumed', // _transition_cancelled_fetch / _transition_cancelled_waiting
  'cancelled->executing', 'cancelled->flight', // cancellation forgotten
  'resumed->cancelled', // _transition_resumed_released
  'resumed->flight', // _transition_resumed_fetch, transfer still running
];

/** dask's edges of the `rescheduled` state, which this worker's machine leaves out. */
const DASK_WORKER_RESCHEDULED_EDGES: Edge[] = [
  'cancelled->rescheduled', 'resumed->rescheduled', 'executing->rescheduled', 'long-running->rescheduled',
  'rescheduled->released',
];

const FUTURE_EDGES: Edge[] = [
  'pending->finished', 'pending->error', 'pending->cancelled',
  'finished->lost', 'finished->cancelled',
  'lost->finished', 'lost->error', 'lost->cancelled',
  'error->pending', 'error->cancelled',
];

function tableEdges(table: TransitionTable<string>): Edge[] {
  return table.states.flatMap((from) => [...table.targets(from)].map((to): Edge => `${from}->${to}`)).sort();
}

/** Every event type named anywhere in the machine definition, plus every state name. */
function eventNames(machine: AnyStateMachine): string[] {
  const names = new Set(Object.keys(machine.root.states));
  for (const node of Object.values(machine.root.states)) {
    for (const event of Object.keys(node.config.on ?? {})) names.add(event);
  }
  return [...names];
}

function xstateNext(machine: AnyStateMachine, state: string, event: string): string {
  const snapshot = machine.resolveState({ value: state, context: machine.config.context ?? {} });
  const [next] = transition(machine, snapshot, { type: event });
  return String(next.value);
}

const taskMachines: [string, AnyStateMachine, TransitionTable<string>, Edge[]][] = [
  ['scheduler-task', schedulerTaskMachine, schedulerTaskTable, DASK_SCHEDULER_EDGES],
  ['worker-task', workerTaskMachine, workerTaskTable, [...DASK_WORKER_TABLE_EDGES, ...DASK_WORKER_HANDLER_EDGES]],
  ['future', futureMachine, futureTable, FUTURE_EDGES],
];

for (const [name, machine, table, expected] of taskMachines) {
  t.test(`${name}: table edges are exactly the expected list`, async (t) => {
    t.same(tableEdges(table), [...expected].sort());
    t.equal(new Set(expected).size, expected.length, 'no duplicates in the expected list');
  });

  t.test(`${name}: xstate and the table agree for every state and event`, async (t) => {
    const events = eventNames(machine);
    let checked = 0;
    for (const state of table.states) {
      for (const event of events) {
        const next = xstateNext(machine, state, event);
        if (table.can(state, event)) {
          t.equal(next, event, `${state} --${event}--> ${event}`);
          t.equal(table.move(state, event, 'k'), event);
        } else {
          t.equal(next, state, `${state} ignores ${event}`);
          t.throws(() => table.move(state, event, 'k'), InvalidTransitionError);
        }
        checked++;
      }
    }
    t.equal(checked, table.states.length * events.length);
  });
}

t.test('worker table contains every edge of dask\'s table', async (t) => {
  const missing = DASK_WORKER_TABLE_EDGES.filter((e) => {
    const [from, to] = e.split('->') as [string, string];
    return !workerTaskTable.can(from as never, to as never);
  });
  t.same(missing, []);
  t.notOk(workerTaskTable.states.includes('rescheduled' as never), 'the state nothing enters is gone');
  const kept = DASK_WORKER_RESCHEDULED_EDGES.filter((e) => {
    const [from, to] = e.split('->') as [string, string];
    return workerTaskTable.can(from as never, to as never);
  });
  t.same(kept, [], 'and so are its edges');
});

t.test('route follows dask: direct edge, else through released', async (t) => {
  t.same(schedulerTaskTable.route('waiting', 'processing', 'released'), ['processing']);
  // processing -> waiting has no direct edge: processing -> released -> waiting.
  t.same(schedulerTaskTable.route('processing', 'waiting', 'released'), ['released', 'waiting']);
  // erred -> memory: erred -> released is legal but released -> memory is not.
  t.throws(() => schedulerTaskTable.route('erred', 'memory', 'released', 'x'), InvalidTransitionError);
  t.same(workerTaskTable.route('memory', 'fetch', 'released'), ['released', 'fetch']);
  t.throws(() => workerTaskTable.route('forgotten', 'waiting', 'released'), InvalidTransitionError);
});

t.test('error message names machine, edge and key', async (t) => {
  const err = t.throws(() => futureTable.move('cancelled', 'finished', 'inc-1')) as InvalidTransitionError;
  t.equal(err.name, 'InvalidTransitionError');
  t.match(err.message, /future: no transition cancelled -> finished for inc-1/);
});

t.test('worker-process actor: start, pause, unpause, retire, close', async (t) => {
  const seen: string[] = [];
  const actor = startLifecycle(workerProcessMachine, {
    onTransition: (snapshot, previous) => seen.push(`${previous}->${String(snapshot.value)}`),
  });
  t.equal(lifecycleState(actor), 'starting');
  t.equal(actor.getSnapshot().can({ type: 'pause' }), false, 'cannot pause while starting');
  actor.send({ type: 'started' });
  t.equal(actor.getSnapshot().value, 'running');

  sendStrict(actor, { type: 'pause', reason: 'memory' });
  t.equal(actor.getSnapshot().value, 'paused');
  t.equal(actor.getSnapshot().can({ type: 'pause' }), false);
  t.throws(() => sendStrict(actor, { type: 'pause' }), InvalidTransitionError, 'illegal event refused');
  t.equal(actor.getSnapshot().value, 'paused', 'state unchanged after refusal');

  sendStrict(actor, { type: 'unpause' });
  sendStrict(actor, { type: 'retire' });
  t.equal(actor.getSnapshot().value, 'closing-gracefully');
  sendStrict(actor, { type: 'retire-cancelled' });
  t.equal(actor.getSnapshot().value, 'running');

  sendStrict(actor, { type: 'close', reason: 'scheduler-close' });
  t.equal(actor.getSnapshot().value, 'closing');
  t.equal(actor.getSnapshot().can({ type: 'started' }), false);
  sendStrict(actor, { type: 'closed' });
  t.equal(actor.getSnapshot().value, 'closed');
  t.equal(actor.getSnapshot().status, 'done');
  t.same(seen, [
    'starting->running',
    'running->paused',
    'paused->running',
    'running->closing-gracefully',
    'closing-gracefully->running',
    'running->closing',
    'closing->closed',
  ]);
});

t.test('worker-process: a failed start goes to closing', async (t) => {
  const actor = startLifecycle(workerProcessMachine);
  sendStrict(actor, { type: 'start-failed', error: new Error('scheduler unreachable') });
  t.equal(actor.getSnapshot().value, 'closing');
  t.same(actor.getSnapshot().context, {}, 'no context: nothing read it');
});

t.test('nanny-process actor: restarts, then closes when autoRestart is off', async (t) => {
  const actor = startLifecycle(nannyProcessMachine, { input: { autoRestart: false } });
  sendStrict(actor, { type: 'started' });
  sendStrict(actor, { type: 'memory-exceeded', rss: 900, limit: 800 });
  t.equal(actor.getSnapshot().value, 'restarting');
  t.equal(actor.getSnapshot().context.restarts, 1);
  t.same(Object.keys(actor.getSnapshot().context).sort(), ['autoRestart', 'restarts'], 'only the context the nanny and its guard read');
  // The old process's exit during a restart is expected: not accepted as an event.
  t.equal(actor.getSnapshot().can({ type: 'worker-exited', code: null, signal: 'SIGTERM' }), false);
  sendStrict(actor, { type: 'started' });
  sendStrict(actor, { type: 'restart', reason: 'client.restart' });
  sendStrict(actor, { type: 'started' });
  t.equal(actor.getSnapshot().context.restarts, 2);
  sendStrict(actor, { type: 'worker-exited', code: 1, signal: null });
  t.equal(actor.getSnapshot().value, 'closing', 'no auto restart');
  sendStrict(actor, { type: 'closed' });
  t.equal(actor.getSnapshot().status, 'done');
});

t.test('nanny-process: an unexpected worker death restarts by default', async (t) => {
  const actor = startLifecycle(nannyProcessMachine);
  sendStrict(actor, { type: 'started' });
  sendStrict(actor, { type: 'worker-exited', code: null, signal: 'SIGKILL' });
  t.equal(actor.getSnapshot().value, 'restarting');
  t.equal(actor.getSnapshot().context.restarts, 1);
});

t.test('startLifecycle routes action errors to onError instead of crashing', async (t) => {
  const failing = setup({
    actions: {
      explode: () => {
        throw new Error('boom');
      },
    },
  }).createMachine({ id: 'failing', initial: 'a', states: { a: { on: { go: { target: 'b', actions: 'explode' } } }, b: {} } });
  const errors: unknown[] = [];
  const actor = startLifecycle(failing, { onError: (e) => errors.push(e) });
  actor.send({ type: 'go' });
  // reportUnhandledError would rethrow on a later tick; give it one.
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(errors.length, 1);
  t.match(String(errors[0]), /boom/);
  t.equal(actor.getSnapshot().status, 'error');
});
