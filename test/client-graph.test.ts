import t from 'tap';
import { compileGraph, flattenKeys, mapKeys } from '../dist/lib/client/graph.js';
import { InvalidGraphError } from '../dist/lib/errors.js';
import { decodeValue, DependencyRef } from '../dist/lib/protocol/values.js';

const inc = new Function('return function inc(x) { return x + 1; }')() as (x: number) => number;
const add = new Function('return function add(x, y) { return x + y; }')() as (x: number, y: number) => number;

t.test('a graph becomes tasks in dependency order, keyed <graph key>-<hash>', async (t) => {
  const graph = { x: 1, y: [inc, 'x'], z: [add, 'x', 'y'], unused: [inc, 100] };
  const { tasks, keys } = compileGraph(graph, ['z']);
  t.same(tasks.map((task) => task.key.replace(/-[0-9a-f]{32}$/, '')), ['x', 'y', 'z'], 'culled to what z needs');
  t.notOk(keys.has('unused'));
  const z = tasks[2]!;
  t.same(z.dependencies, [keys.get('x'), keys.get('y')]);
  const args = decodeValue<unknown[]>(z.runSpec!.args);
  t.ok(args[0] instanceof DependencyRef && args[0].key === keys.get('x'));
  t.same(compileGraph(graph, ['z']).keys, keys, 'the same graph gives the same keys');
  const changed = compileGraph({ ...graph, x: 2 }, ['z']).keys;
  t.not(changed.get('z'), keys.get('z'), 'different work, different key, even with the same name');
});

t.test('strings that are not keys stay strings; nested keys and inline tasks are found', async (t) => {
  const graph = {
    a: 1,
    b: [inc, 'a'],
    list: [[(xs: unknown[]) => xs, ['a', 'b', 'not-a-key']][0], ['a', 'b', 'not-a-key']],
    inline: [add, [inc, 'a'], 10],
    alias: 'b',
  };
  const compiled = compileGraph(graph, ['list', 'inline', 'alias']);
  const byName = new Map(compiled.tasks.map((task) => [task.key.replace(/-[0-9a-f]{32}$/, ''), task]));
  const list = byName.get('list')!;
  t.same(list.dependencies, [compiled.keys.get('a'), compiled.keys.get('b')]);
  const listArgs = decodeValue<unknown[][]>(list.runSpec!.args);
  t.equal(listArgs[0]![2], 'not-a-key');
  t.ok(byName.has('inline-inline0'), 'the inline task is a task of its own');
  t.same(byName.get('inline-inline0')!.dependencies, [compiled.keys.get('a')]);
  t.same(byName.get('inline')!.dependencies, [byName.get('inline-inline0')!.key]);
  t.same(byName.get('alias')!.dependencies, [compiled.keys.get('b')], 'an alias depends on its target');
  const order = compiled.tasks.map((task) => task.key);
  for (const task of compiled.tasks) {
    for (const dependency of task.dependencies) t.ok(order.indexOf(dependency) < order.indexOf(task.key), `${dependency} before ${task.key}`);
  }
});

t.test('cycles and unknown output keys are InvalidGraphErrors', async (t) => {
  const cyclic = { a: [inc, 'b'], b: [inc, 'c'], c: [inc, 'a'] };
  t.throws(() => compileGraph(cyclic, ['a']), InvalidGraphError);
  t.throws(() => compileGraph(cyclic, ['a']), /cycle: a -> b -> c -> a/);
  t.throws(() => compileGraph({ a: 'a' }, ['a']), InvalidGraphError, 'an alias of itself');
  t.throws(() => compileGraph({ a: 1 }, ['b']), /key "b" is not in the graph/);
  t.throws(() => compileGraph([] as unknown as Record<string, unknown>, []), InvalidGraphError);
  t.throws(() => flattenKeys(3 as unknown as string), InvalidGraphError);
});

t.test('a long chain compiles without deep recursion', async (t) => {
  const graph: Record<string, unknown> = { k0: 0 };
  for (let i = 1; i <= 20_000; i++) graph[`k${i}`] = [inc, `k${i - 1}`];
  const { tasks } = compileGraph(graph, ['k20000']);
  t.equal(tasks.length, 20_001);
});

t.test('key specs flatten and map back to the same shape', async (t) => {
  const spec = ['a', ['b', ['c']], 'a'];
  t.same(flattenKeys(spec), ['a', 'b', 'c', 'a']);
  t.same(mapKeys(spec, (key) => key.toUpperCase()), ['A', ['B', ['C']], 'A']);
  t.equal(mapKeys('x', () => 1), 1);
});
