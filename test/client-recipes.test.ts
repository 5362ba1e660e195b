/** The client's recipe book and the plan for submitting again to a scheduler that restarted. */
import t from 'tap';
import { planResubmission, RecipeBook } from '../dist/lib/client/recipe-book.js';
import { SLAB_MAX_ARGS_BYTES, SLAB_ROWS } from '../dist/lib/client/recipe-slabs.js';
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

t.test('plain recipes (no dependencies, small arguments) are packed in slabs and come back byte for byte', async (t) => {
  const fnA = { kind: 'source', source: '(x) => x + 1', name: 'a' } as const;
  const fnB = { kind: 'source', source: '(x) => x * 2', name: 'b' } as const;
  const plain = (key: string, fn: typeof fnA | typeof fnB, args: Uint8Array): GraphTask => ({ key, dependencies: [], runSpec: { fn, args } });
  const held = new Set<string>();
  const book = new RecipeBook((key) => held.has(key));
  const rows = SLAB_ROWS + 10;
  for (let i = 0; i < rows; i++) {
    held.add(`a${i}`);
    book.record(plain(`a${i}`, fnA, Uint8Array.of(i & 255, (i >> 8) & 255, 7)));
  }
  t.equal(book.slabCount, 2, `${rows} rows of one function fill two slabs of ${SLAB_ROWS}`);
  held.add('b0');
  book.record(plain('b0', fnB, Uint8Array.of(9)));
  t.equal(book.slabCount, 3, 'another function opens a slab of its own');
  const big = new Uint8Array(SLAB_MAX_ARGS_BYTES + 1).fill(5);
  held.add('big');
  book.record(plain('big', fnA, big));
  t.equal(book.slabCount, 3, 'arguments over the slab limit stay in a task of their own');
  t.same(book.get('big')?.runSpec?.args, big);

  const back = book.get(`a${SLAB_ROWS + 3}`)!;
  t.same(back.key, `a${SLAB_ROWS + 3}`);
  t.same(back.dependencies, []);
  t.equal(back.runSpec?.fn, fnA, 'the function ref is the one recorded');
  t.same([...back.runSpec!.args], [(SLAB_ROWS + 3) & 255, ((SLAB_ROWS + 3) >> 8) & 255, 7], 'the arguments come back byte for byte');
  t.same([...book.get('b0')!.runSpec!.args], [9]);
  const closure = book.closure(['a0', 'b0', 'nothing']);
  t.same(closure.tasks.map((task) => task.key).sort(), ['a0', 'b0']);
  t.same([...closure.recipeLess], ['nothing']);

  // Release the whole first slab: it goes; the open ones stay while rows live.
  const first = Array.from({ length: SLAB_ROWS }, (_, i) => `a${i}`);
  for (const key of first) held.delete(key);
  book.released(first);
  t.equal(book.slabCount, 2, 'a slab goes with its last row');
  t.notOk(book.has('a0'));
  t.ok(book.has(`a${SLAB_ROWS}`));
  // A row recorded again moves to a new slot; the old one is let go.
  book.record(plain(`a${SLAB_ROWS}`, fnA, Uint8Array.of(1, 2, 3)));
  t.same([...book.get(`a${SLAB_ROWS}`)!.runSpec!.args], [1, 2, 3], 'a recipe recorded again reads its new arguments');
  t.equal(book.size, 10 + 1 + 1);
  const rest = [...Array.from({ length: 10 }, (_, i) => `a${SLAB_ROWS + i}`), 'b0', 'big'];
  for (const key of rest) held.delete(key);
  book.released(rest);
  t.equal(book.size, 0);
  t.ok(book.slabCount <= 1, 'at most the open slab is left (empty, reused by the next row)');
  held.add('again');
  book.record(plain('again', fnB, Uint8Array.of(4)));
  t.same([...book.get('again')!.runSpec!.args], [4], 'a freed slab id is reused and reads right');
});

t.test('a plain recipe another kept recipe depends on stays until that one goes', async (t) => {
  const fn = { kind: 'source', source: '(x) => x', name: 'f' } as const;
  const held = new Set(['dep', 'top']);
  const book = new RecipeBook((key) => held.has(key));
  book.record({ key: 'dep', dependencies: [], runSpec: { fn, args: Uint8Array.of(1) } });
  book.record({ key: 'top', dependencies: ['dep'], runSpec: { fn, args: Uint8Array.of(2) } });
  held.delete('dep');
  book.released(['dep']);
  t.ok(book.has('dep'), 'top (held) still needs dep');
  held.delete('top');
  book.released(['top']);
  t.equal(book.size, 0, 'releasing top frees dep, slab row and all');
});
