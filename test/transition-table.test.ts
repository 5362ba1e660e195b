import t from 'tap';
import { setup } from 'xstate';
import { tableFromMachine, InvalidTransitionError } from '../dist/machines/transition-table.js';

const traffic = setup({}).createMachine({
  id: 'light',
  initial: 'red',
  states: {
    red: { on: { green: 'green' } },
    green: { on: { yellow: 'yellow' } },
    yellow: { on: { red: 'red' } },
  },
});

t.test('derives edges named after their targets', async (t) => {
  const table = tableFromMachine<'red' | 'green' | 'yellow'>(traffic);
  t.same([...table.targets('red')], ['green']);
  t.equal(table.move('red', 'green'), 'green');
  t.equal(table.can('green', 'red'), false);
  t.throws(() => table.move('green', 'red', 'k1'), InvalidTransitionError);
});

t.test('rejects an event that does not name its target', async (t) => {
  const bad = setup({}).createMachine({
    id: 'bad',
    initial: 'a',
    states: { a: { on: { go: 'b' } }, b: {} },
  });
  t.throws(() => tableFromMachine(bad), /must lead to the state of the same name/);
});

t.test('dispatch: every edge names its handler, one for one with the machine', async (t) => {
  const table = tableFromMachine<'red' | 'green' | 'yellow'>(traffic);
  const ran: string[] = [];
  const dispatch = table.dispatch<() => void>({
    red: { green: () => ran.push('go') },
    green: { yellow: () => ran.push('slow') },
    yellow: { red: () => ran.push('stop') },
  });
  dispatch.handler('red', 'green')!();
  dispatch.handler('yellow', 'red')!();
  t.same(ran, ['go', 'stop']);
  t.equal(dispatch.handler('green', 'red'), undefined, 'no edge, no handler');
  t.same(dispatch.edges().map((e) => `${e.from}->${e.to}`), ['red->green', 'green->yellow', 'yellow->red']);
  const noop = (): void => undefined;
  t.throws(() => table.dispatch({ red: { green: noop }, green: { yellow: noop } }), /yellow -> red has no handler/);
  t.throws(() => table.dispatch({ red: { green: noop, yellow: noop }, green: { yellow: noop }, yellow: { red: noop } }), /red -> yellow, which the machine does not have/);
  t.throws(() => table.dispatch({ red: { green: noop }, green: { yellow: noop }, yellow: { red: noop }, blue: {} } as never), /a state blue the machine does not have/);
});

t.test('the scheduler and worker states dispatch every edge of their task machines', async (t) => {
  const { schedulerTaskTable } = await import('../dist/machines/scheduler-task.js');
  const { workerTaskTable } = await import('../dist/machines/worker-task.js');
  const { SchedulerState } = await import('../dist/lib/scheduler/state.js');
  const { WorkerState } = await import('../dist/lib/worker/worker-state.js');
  const edgesOf = (table: { states: readonly string[]; targets(s: string): ReadonlySet<string> }) =>
    table.states.flatMap((from) => [...table.targets(from)].map((to) => `${from}->${to}`)).sort();
  for (const [name, dispatch, table] of [
    ['scheduler', SchedulerState.edges, schedulerTaskTable],
    ['worker', WorkerState.edges, workerTaskTable],
  ] as const) {
    const handled = dispatch.edges().map((e) => `${e.from}->${e.to}`).sort();
    t.same(handled, edgesOf(table as never), `${name}: one handler per machine edge`);
    t.ok(dispatch.edges().every((e) => typeof e.handler === 'function'), `${name}: every handler is a function`);
  }
});
