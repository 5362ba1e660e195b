/** The client's recipe book and the plan for submitting again to a scheduler that restarted. */
import t from 'tap';
import { planResubmission, RecipeBook } from '../dist/lib/client/recipe-book.js';
import type { GraphTask } from '../dist/lib/protocol/messages.js';

const task = (key: string, dependencies: string[] = []): GraphTask =>
  ({ key, dependencies, runSpec: { fn: { kind: 'source', source: '() => 1' }, args: new Uint8Array() } }) as unknown as GraphTask;

t.test('a recipe stays while its key is held or a kept recipe needs it; releasing drops the rest', async (t) => {
  const held = new Set(['c', 'z']);
  const book = new RecipeBook((key) => held.has(key));
  for (const tk of [task('a'), task('b', ['a']), task('c', ['b']), task('z')]) book.record(tk);
  book.record({ key: 'ref', dependencies: [] } as GraphTask);
  t.notOk(book.has('ref'), 'a task without a runSpec is only a reference, not a recipe');
  book.released(['b']);
  t.ok(book.has('b'), 'b is not held, but c (held) needs it');
  held.delete('z');
  book.released(['z']);
  t.same(['a', 'b', 'c', 'z'].map((k) => book.has(k)), [true, true, true, false], 'nothing needs z once released');
  held.delete('c');
  book.released(['c']);
  t.equal(book.size, 0, 'releasing c frees b, which frees a');
});

t.test('a dependency shared by two kept recipes stays until both are released', async (t) => {
  const held = new Set(['x', 'y']);
  const book = new RecipeBook((key) => held.has(key));
  for (const tk of [task('shared'), task('x', ['shared', 'shared']), task('y', ['shared'])]) book.record(tk);
  held.delete('x');
  book.released(['x']);
  t.same([book.has('x'), book.has('shared')], [false, true], 'y still needs shared (x named it twice)');
  // y recorded again (a resubmission) with no dependencies: shared loses its last dependent.
  book.record(task('y'));
  t.notOk(book.has('shared'), 'a re-recorded recipe lets go of its old dependencies');
});

t.test('recording and releasing many keys keeps exactly the held ones, without a sweep', async (t) => {
  const held = new Set<string>();
  const book = new RecipeBook((key) => held.has(key));
  for (let i = 0; i < 3000; i++) {
    held.add(`k${i}`);
    book.record(task(`k${i}`));
  }
  for (let i = 0; i < 2000; i++) held.delete(`k${i}`);
  book.released(Array.from({ length: 2000 }, (_, i) => `k${i}`));
  t.equal(book.size, 1000, 'only the held keys keep their recipes');
  t.ok(book.has('k2999') && !book.has('k0'));
});

t.test('the plan: available keys need nothing, missing recipe-less keys make their dependents lost', async (t) => {
  const roots = ['d', 'e', 'f'];
  const book = new RecipeBook((key) => roots.includes(key));
  // d <- c <- {b, a}; a is in memory again; e needs s (scattered, lost); f needs t (scattered, back)
  for (const tk of [task('a'), task('b'), task('c', ['a', 'b']), task('d', ['c']), task('e', ['s']), task('f', ['t'])]) book.record(tk);
  const available = new Set(['a', 't']);
  const plan = planResubmission(roots, book, (key) => available.has(key));
  t.same(plan.keys.sort(), ['d', 'f']);
  t.same(plan.tasks.map((tk) => tk.key).sort(), ['b', 'c', 'd', 'f'], 'a is not submitted again: a worker brought it back');
  t.same([...plan.lost], [['e', 's']], 'e needs s, which nobody has and nothing can recompute');
});

t.test('deep chains are planned without recursion', async (t) => {
  const book = new RecipeBook(() => true);
  const depth = 50_000;
  const roots = [`c${depth - 1}`];
  // As a client building the chain: it holds every link while submitting the next.
  const held = new Set<string>();
  for (let i = 0; i < depth; i++) {
    held.add(`c${i}`);
    book.record(task(`c${i}`, i === 0 ? [] : [`c${i - 1}`]));
  }
  const plan = planResubmission(roots, book, () => false);
  t.equal(plan.tasks.length, depth);
  t.same(plan.keys, roots);
});
