import t from 'tap';
import {
  remote,
  isRemoteFunction,
  functionName,
  toFunctionRef,
  loadFunction,
  loadedFunction,
} from '../dist/lib/task-function.js';
import { SerializationError } from '../dist/lib/errors.js';
import * as pkg from '../dist/index.js';

const fixtureUrl = new URL('./fixtures/remote-functions.mjs', import.meta.url).href;

async function roundTrip(fn: Function): Promise<(...args: unknown[]) => unknown> {
  // JSON round trip: the ref is plain data, as it travels.
  const ref = JSON.parse(JSON.stringify(toFunctionRef(fn)));
  return loadFunction(ref);
}

t.test('plain, arrow, async and generator functions travel as source', async (t) => {
  function add(a: number, b: number) {
    return a + b;
  }
  t.same(toFunctionRef(add), { kind: 'source', source: add.toString(), name: 'add' });
  t.equal((await roundTrip(add))(2, 3), 5);
  t.equal((await roundTrip((x: number) => x * 2))(21), 42);
  t.equal((await roundTrip(async (x: number) => x + 1))(1) instanceof Promise, true);
  t.equal(await (await roundTrip(async (x: number) => x + 1))(1), 2);
  t.equal(await (await roundTrip(async function named(x: number) { return x - 1; }))(1), 0);
  function* counter(n: number) {
    for (let i = 0; i < n; i++) yield i;
  }
  const gen = (await roundTrip(counter))(3) as Iterable<number>;
  t.same([...gen], [0, 1, 2]);
});

t.test('classes travel as source (actors)', async (t) => {
  class Counter {
    n = 0;
    increment(by = 1) {
      this.n += by;
      return this.n;
    }
  }
  const Loaded = (await roundTrip(Counter)) as unknown as new () => Counter;
  const c = new Loaded();
  c.increment(2);
  t.equal(c.increment(), 3);
  t.equal(toFunctionRef(Counter).name, 'Counter');
});

t.test('method shorthand is wrapped so its source still evaluates', async (t) => {
  const obj = {
    double(x: number) {
      return x * 2;
    },
    async *[Symbol.iterator]() {
      yield 1;
    },
  };
  const ref = toFunctionRef(obj.double);
  t.equal(ref.kind, 'source');
  t.equal(ref.name, 'double');
  t.equal((await roundTrip(obj.double))(4), 8);
  const iter = (await roundTrip(obj[Symbol.iterator]))() as AsyncIterator<number>;
  t.same(await iter.next(), { value: 1, done: false });
});

t.test('native functions travel by global path, shortest first', async (t) => {
  t.same(toFunctionRef(Math.max), { kind: 'global', path: 'Math.max', name: 'max' });
  t.same(toFunctionRef(parseInt), { kind: 'global', path: 'parseInt', name: 'parseInt' });
  t.same(toFunctionRef(JSON.stringify), { kind: 'global', path: 'JSON.stringify', name: 'stringify' });
  t.equal((await roundTrip(Math.max))(1, 7, 3), 7);
  t.equal((await roundTrip(JSON.stringify))({ a: 1 }), '{"a":1}');
  // A static method that needs its container as `this`.
  const resolved = await (await roundTrip(Promise.resolve))(5);
  t.equal(resolved, 5);
  // Platform functions written in JavaScript are sent by path too, not by (unusable) source.
  t.equal(toFunctionRef(setTimeout).kind, 'global');
});

t.test('refused functions explain remote() and uploadFile', async (t) => {
  function f(this: unknown, x: number) {
    return x;
  }
  const bound = f.bind(null);
  t.throws(() => toFunctionRef(bound), SerializationError);
  t.throws(() => toFunctionRef(bound), /bound function .*remote\(import\.meta\.url, 'exportName'\).*client\.uploadFile/);
  const nativeMethod = Array.prototype.map;
  t.throws(() => toFunctionRef(nativeMethod), /native function "map".*remote\(import\.meta\.url/);
  t.throws(() => toFunctionRef(42 as unknown as Function), /expected a function/);
  t.throws(() => remote('', 'x'), SerializationError);
  t.throws(() => remote(fixtureUrl, ''), SerializationError);
});

t.test('remote functions load by module URL', async (t) => {
  const triple = remote(fixtureUrl, 'triple');
  t.equal(isRemoteFunction(triple), true);
  t.equal(isRemoteFunction({ url: 'x', exportName: 'y' }), false);
  t.equal(isRemoteFunction(null), false);
  t.equal(functionName(triple), 'triple');
  const ref = toFunctionRef(triple);
  t.same(ref, { kind: 'module', url: fixtureUrl, exportName: 'triple', name: 'triple' });
  t.equal(loadedFunction(ref), undefined);
  const fn = await loadFunction(ref);
  t.equal(fn(5), 15);
  t.equal(loadedFunction(ref), fn, 'cached after the first load');
  t.equal(await loadFunction(ref), fn);
  t.equal(await (await loadFunction(toFunctionRef(remote(fixtureUrl, 'delayedSquare'))))(4), 16);
  await t.rejects(loadFunction(toFunctionRef(remote(fixtureUrl, 'missing'))), /has no export named "missing"/);
  await t.rejects(loadFunction(toFunctionRef(remote(fixtureUrl, 'notAFunction'))), /is number, not a function/);
  await t.rejects(loadFunction(toFunctionRef(remote('file:///nonexistent/module.mjs', 'f'))), /Cannot find module|ERR_MODULE_NOT_FOUND/);
});

t.test('loading failures are clear', async (t) => {
  await t.rejects(loadFunction({ kind: 'global', path: 'Math.nothing', name: 'x' }), /globalThis\.Math\.nothing is not a function/);
  await t.rejects(loadFunction({ kind: 'source', source: '42', name: 'x' }), /evaluated to number, not a function/);
  await t.rejects(loadFunction({ kind: 'source', source: 'function (', name: 'x' }), SyntaxError);
  await t.rejects(loadFunction({ kind: 'weird' } as never), /unknown function reference/);
});

t.test('free variables are not captured: ReferenceError when the task runs', async (t) => {
  const captured = 10;
  const usesFree = (x: number) => x + captured;
  const fn = await roundTrip(usesFree);
  t.throws(() => fn(1), ReferenceError);
  t.throws(() => fn(1), /captured is not defined/);
});

t.test('a function may call itself by the name it was defined under', async (t) => {
  const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));
  t.equal((await roundTrip(factorial))(5), 120, 'an arrow function assigned to a const');
  const fib = async (n: number): Promise<number> => (n < 2 ? n : (await fib(n - 1)) + (await fib(n - 2)));
  t.equal(await (await roundTrip(fib))(10), 55, 'an async arrow function');
  function countdown(n: number): number[] {
    return n === 0 ? [0] : [n, ...countdown(n - 1)];
  }
  t.same((await roundTrip(countdown))(3), [3, 2, 1, 0], 'a function declaration (its own name binding)');
  const obj = { default(x: number) { return x + 1; } };
  t.equal((await roundTrip(obj.default))(1), 2, 'a reserved word as name: no self-binding, still loads');
});

t.test("import('distributed-ts') inside a shipped function resolves this package", async (t) => {
  const fn = await roundTrip(async () => Object.keys(await import('distributed-ts' as string)).sort());
  t.same(await fn(), Object.keys(pkg).sort());
  t.ok(Object.keys(pkg).length > 0, 'the package exports something to compare');
});

t.test('functionName', async (t) => {
  t.equal(functionName(function inc() {}), 'inc');
  t.equal(functionName((() => () => 1)()), 'lambda');
  t.equal(functionName(42), 'lambda');
  const named = (x: number) => x;
  t.equal(functionName(named), 'named');
});

t.test('refs are cached per function', async (t) => {
  const f = (x: number) => x;
  t.equal(toFunctionRef(f), toFunctionRef(f));
});
