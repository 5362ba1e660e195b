/** The client's recipe book and the plan for submitting again to a scheduler that restarted. */
import t from 'tap';
import { planResubmission, RecipeBook } from '../dist/lib/client/recipe-book.js';
import type { GraphTask } from '../dist/lib/protocol/messages.js';

const task = (key: string, dependencies: string[] = []): GraphTask =>
  ({ key, dependencies, runSpec: { fn: { kind: 'source', source: '() => 1' }, args: new Uint8Array() } }) as unknown as GraphTask;

t.test('recipes needed by held keys survive a sweep; the rest go', async (t) => {
  const book = new RecipeBook();
  const held = new Set(['c']);
  for (const tk of [task('a'), task('b', ['a']), task('c', ['b']), task('z')]) book.record(tk, () => held);
  book.record({ key: 'ref', dependencies: [] } as GraphTask, () => held);
  t.notOk(book.has('ref'), 'a task without a runSpec is only a reference, not a recipe');
  book.sweep(held);
  t.same(['a', 'b', 'c', 'z'].map((k) => book.has(k)), [true, true, true, false], 'c needs b needs a; nothing needs z');
});

t.test('a sweep triggered by recording keeps what the roots need', async (t) => {
  const book = new RecipeBook();
  const held = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    held.add(`k${i}`);
    book.record(task(`k${i}`), () => held);
  }
  for (let i = 0; i < 2000; i++) held.delete(`k${i}`);
  book.record(task('last'), () => [...held, 'last']);
  book.sweep([...held, 'last']);
  t.equal(book.size, 1001, 'only the held keys keep their recipes');
});

t.test('the plan: available keys need nothing, missing recipe-less keys make their dependents lost', async (t) => {
  const book = new RecipeBook();
  const roots = ['d', 'e', 'f'];
  // d <- c <- {b, a}; a is in memory again; e needs s (scattered, lost); f needs t (scattered, back)
  for (const tk of [task('a'), task('b'), task('c', ['a', 'b']), task('d', ['c']), task('e', ['s']), task('f', ['t'])]) book.record(tk, () => roots);
  const available = new Set(['a', 't']);
  const plan = planResubmission(roots, book, (key) => available.has(key));
  t.same(plan.keys.sort(), ['d', 'f']);
  t.same(plan.tasks.map((tk) => tk.key).sort(), ['b', 'c', 'd', 'f'], 'a is not submitted again: a worker brought it back');
  t.same([...plan.lost], [['e', 's']], 'e needs s, which nobody has and nothing can recompute');
});

t.test('deep chains are planned without recursion', async (t) => {
  const book = new RecipeBook();
  const depth = 50_000;
  const roots = [`c${depth - 1}`];
  // As a client building the chain: it holds every link while submitting the next.
  const held = new Set<string>();
  for (let i = 0; i < depth; i++) {
    held.add(`c${i}`);
    book.record(task(`c${i}`, i === 0 ? [] : [`c${i - 1}`]), () => held);
  }
  const plan = planResubmission(roots, book, () => false);
  t.equal(plan.tasks.length, depth);
  t.same(plan.keys, roots);
});
