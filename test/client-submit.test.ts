import t from 'tap';
import { Client } from '../dist/index.js';
import type { Future } from '../dist/lib/client/future.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { CancelledError, InvalidGraphError, SerializationError, TimeoutError } from '../dist/lib/errors.js';

// One cluster for the file: 1 worker with 1 thread (errors must not block others).
const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
const client = await Client.connect(cluster);
t.teardown(async () => {
  await client.close();
  await cluster.close();
});

const inc = (x: number): number => x + 1;
const add = (x: number, y: number): number => x + y;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
function fail(message: string): never {
  class TaskFailure extends Error {
    override name = 'TaskFailure';
  }
  throw new TaskFailure(message);
}

t.test('submit returns at once; result() brings the value back', async (t) => {
  const future = client.submit(inc, 10);
  t.equal(future.status, 'pending');
  t.match(future.key, /^inc-[0-9a-f]{32}$/);
  t.equal(await future.result(), 11);
  t.equal(future.status, 'finished');
  t.equal(future.type, 'number');
  t.ok(future.done());
  t.equal(await future.result(), 11, 'again, from the cache');
});

t.test('futures as arguments, also inside arrays and objects', async (t) => {
  const a = client.submit(inc, 1);
  const b = client.submit(inc, a);
  const c = client.submit(add, a, b);
  const d = client.submit(sum, [a, b, c, 100]);
  const e = client.submit((o: { x: number; list: number[] }) => o.x * 10 + o.list.length, { x: a, list: [b, c] } as never);
  t.equal(await d.result(), 2 + 3 + 5 + 100);
  t.equal(await e.result(), 22);
  t.equal(await c.result(), 5);
});

t.test('async functions and natives run too', async (t) => {
  const slow = client.submit(async (x: number) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return x * 2;
  }, 21);
  t.equal(await slow.result(), 42);
  t.equal(await client.submit(Math.max, 3, 9, 4).result(), 9);
});

t.test('a future is not thenable', async (t) => {
  const future = client.submit(inc, 41);
  t.notOk('then' in future);
  const awaited = await (future as unknown as Promise<unknown>);
  t.equal(awaited, future, 'await gives the future itself');
  t.match(String(future), /^<Future: status: \w+, (type: number, )?key: inc-/);
});

t.test('a task exception is re-raised with its name, message and remote stack; the cluster keeps working', async (t) => {
  const bad = client.submit(fail, 'boom');
  const error = await bad.result().then(() => undefined, (e: unknown) => e as Error);
  t.ok(error instanceof Error);
  t.equal(error!.name, 'TaskFailure');
  t.equal(error!.message, 'boom');
  t.match(error!.stack, /TaskFailure: boom/);
  t.equal(bad.status, 'error');
  t.equal((await bad.exception())?.message, 'boom');
  t.match(await bad.traceback(), /TaskFailure: boom\n\s+at /);
  t.equal(await client.submit(inc, 1000).result(), 1001, 'still working');

  const dependent = client.submit(inc, bad as unknown as number);
  await t.rejects(dependent.result(), { name: 'TaskFailure', message: 'boom' }, 'a dependent fails with the same error');
  const later = client.submit(add, 1, bad as unknown as number);
  await t.rejects(later.result(), { name: 'TaskFailure', message: 'boom' }, 'also when submitted after the failure');
  t.equal(await client.submit(inc, 7).exception(), undefined);
});

t.test('errors do not block other tasks on one thread', async (t) => {
  const futures = [client.submit(fail, 'first'), client.submit(inc, 1), client.submit(fail, 'second'), client.submit(inc, 2)];
  t.same(await client.gather([futures[1], futures[3]]), [2, 3]);
  await t.rejects(client.gather(futures), { message: 'first' });
});

t.test('many result() calls at once: one failure does not spoil the others', async (t) => {
  const futures = Array.from({ length: 40 }, (_, i) => (i === 17 ? client.submit(fail, 'number 17') : client.submit(inc, 500 + i)));
  const settled = await Promise.allSettled(futures.map((future) => future.result()));
  t.equal(settled.filter((outcome) => outcome.status === 'fulfilled').length, 39);
  t.match(settled[17], { status: 'rejected', reason: { message: 'number 17' } });
  t.same(settled[3], { status: 'fulfilled', value: 504 });
});

t.test('map zips like Python map', async (t) => {
  const futures = client.map(add, [1, 2, 3, 4], new Set([10, 20, 30]));
  t.equal(futures.length, 3, 'stops at the shortest');
  t.same(await client.gather(futures), [11, 22, 33]);
  function* naturals(): Generator<number> {
    for (let i = 0; ; i++) yield i;
  }
  const zipped = client.map(add, naturals(), [100, 200]);
  t.same(await client.gather(zipped), [100, 201], 'an endless iterable is fine');
  t.throws(() => client.map(inc), TypeError);
  t.throws(() => client.map(inc, 5 as never), TypeError);
  const same = client.map(inc, [5, 5]);
  t.equal(same[0]!.key, same[1]!.key, 'equal pure calls share a key');
});

t.test('map keys: a prefix, or one key per item', async (t) => {
  const prefixed = client.with({ key: 'square' }).map((x: number) => x * x, [2, 3]);
  t.match(prefixed[0]!.key, /^square-[0-9a-f]{32}$/);
  t.same(await client.gather(prefixed), [4, 9]);
  const named = client.with({ key: ['first-key', 'second-key'] }).map(inc, [1, 2]);
  t.same(named.map((future) => future.key), ['first-key', 'second-key']);
  t.same(await client.gather(named), [2, 3]);
  t.throws(() => client.with({ key: ['only-one'] }).map(inc, [1, 2]), /1 keys/);
  const exact = client.with({ key: 'exact-key' }).submit(inc, 5);
  t.equal(exact.key, 'exact-key');
  t.equal(await exact.result(), 6);
});

t.test('retries re-run a failing task', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const folder = mkdtempSync(join(tmpdir(), 'retries-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const failTwice = async (path: string): Promise<number> => {
    const fs = await import('node:fs/promises');
    await fs.appendFile(path, 'x');
    const attempts = (await fs.readFile(path, 'utf8')).length;
    if (attempts < 3) throw new Error(`attempt ${attempts} failed`);
    return attempts;
  };
  t.equal(await client.with({ retries: 2 }).submit(failTwice, join(folder, 'a')).result(), 3, 'third time lucky');
  await t.rejects(client.with({ retries: 1 }).submit(failTwice, join(folder, 'b')).result(), { message: 'attempt 2 failed' }, 'the last error when retries run out');
  await t.rejects(client.submit(failTwice, join(folder, 'c')).result(), { message: 'attempt 1 failed' });
});

t.test('map over an async iterable gives an async iterable of futures', async (t) => {
  async function* source(): AsyncGenerator<number> {
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      yield i;
    }
  }
  const futures = client.map(inc, source());
  const results: number[] = [];
  for await (const future of client.gather(futures)) results.push(future);
  t.same(results, [1, 2, 3, 4]);
});

t.test('gather keeps the shape and can skip failures', async (t) => {
  const [a, b] = client.map(inc, [1, 2]) as [Future<number>, Future<number>];
  const bad = client.submit(fail, 'skipped');
  t.same(await client.gather({ x: a, nested: [b, [a, 'plain']], n: 5 }), { x: 2, nested: [3, [2, 'plain']], n: 5 });
  t.same(await client.gather([a, bad, b], { errors: 'skip' }), [2, 3]);
  t.same(await client.gather({ a, bad }, { errors: 'skip' }), { a: 2 });
  t.equal(await client.gather(bad, { errors: 'skip' }), undefined);
  await t.rejects(client.gather([a, bad]), { message: 'skipped' });
  await t.rejects(client.gather([a], { errors: 'nope' as never }), TypeError);
});

t.test('cancel makes futures cancelled; submitting on them fails', async (t) => {
  const blocker = client.with({ pure: false }).submit(async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return 1;
  });
  const victim = client.submit(inc, blocker);
  await victim.cancel();
  t.ok(victim.cancelled());
  t.equal(victim.status, 'cancelled');
  await t.rejects(victim.result(), CancelledError);
  t.throws(() => client.submit(inc, victim), CancelledError);
  t.equal(await blocker.result(), 1, 'what it depended on is untouched');

  const x = client.with({ pure: false }).submit(async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return 2;
  });
  const dependent = client.submit(inc, x);
  const waiting = dependent.result();
  await client.cancel([x]);
  await t.rejects(waiting, CancelledError, 'a waiting dependent fails with CancelledError');
});

t.test('result() and wait timeouts', async (t) => {
  const slow = client.with({ pure: false }).submit(async () => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    return 'late';
  });
  await t.rejects(slow.result({ timeout: '30ms' }), TimeoutError);
  t.equal(await slow.result({ timeout: 5000 }), 'late');
});

t.test('bad input is refused at submit with clear errors', async (t) => {
  t.throws(() => client.submit(inc, (() => 1) as never), SerializationError);
  t.throws(() => client.submit(inc, { callback: () => 1 } as never), /cannot send the arguments of inc: .*callback \(function\)/);
  t.throws(() => client.submit(Math.max.bind(Math), 1), /remote\(import\.meta\.url/);
  t.throws(() => client.with({ allowOtherWorkers: true }), TypeError);
  t.throws(() => client.with({ key: ['a'] }).submit(inc, 1), TypeError);
  const released = client.submit(inc, 123);
  released.release();
  t.throws(() => client.submit(inc, released), InvalidGraphError, 'a released future is no argument');
});

t.test('get runs graphs; a cycle is refused before anything is sent', async (t) => {
  const graph = { x: 1, y: [inc, 'x'], z: [add, 'x', 'y'], w: [sum, ['x', 'y', 'z']] };
  t.equal(await client.get(graph, 'z'), 3);
  t.same(await client.get(graph, ['w', ['x', 'y']]), [6, [1, 2]]);
  await t.rejects(client.get({ a: [inc, 'b'], b: [inc, 'a'] }, 'a'), InvalidGraphError);
  await t.rejects(client.get(graph, 'missing'), InvalidGraphError);
  const fromFuture = client.submit(inc, 99);
  t.equal(await client.get({ p: [add, fromFuture, 1] }, 'p'), 101, 'futures inside a graph');
});
