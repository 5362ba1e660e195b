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
