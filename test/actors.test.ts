// Actors on a real in-process cluster: state, ordering, attributes, handles
// in tasks and other clients, freeing, and losing the holding worker.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Client, LocalCluster, Variable, ActorWorkerLostError, actorHandle, type Actor } from '../dist/index.js';
import { actorProxy } from '../dist/lib/client/actor.js';
import { ActorRef } from '../dist/lib/protocol/actor-ref.js';
import { decodeValue, encodeValue } from '../dist/lib/protocol/values.js';
import { methodNames } from '../dist/lib/worker/actor-host.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
const client = await Client.connect(cluster);
t.teardown(async () => {
  await client.close();
  await cluster.close();
});

class Counter {
  n: number;
  constructor(start = 0) {
    this.n = start;
  }
  increment(by = 1): number {
    this.n += by;
    return this.n;
  }
  async slowIncrement(ms: number): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.n += 1;
    return this.n;
  }
  fail(): never {
    throw new RangeError('counter refused');
  }
}

async function eventually(check: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

t.test('state persists across calls; attributes are awaitable; errors propagate', async (t) => {
  const counter: Actor<Counter> = await client.with({ actor: true }).submit(Counter, 10).result();
  t.equal(await counter.increment(), 11);
  t.equal(await counter.increment(5), 16);
  t.equal(await counter.n, 16, 'attribute read');
  t.equal(await counter.slowIncrement(5), 17, 'async methods work');
  await t.rejects(counter.fail(), { name: 'RangeError', message: 'counter refused' });
  t.match(String(counter), /^<Actor: Counter, key=Counter-[0-9a-f]{32}/);
  t.equal(actorHandle(counter)?.className, 'Counter');
  t.ok(cluster.workers.some((worker) => worker.address === actorHandle(counter)?.address), 'held by one of the workers');
  t.throws(() => {
    (counter as unknown as { n: number }).n = 3;
  }, TypeError);
});

t.test('50 concurrent calls run one at a time in arrival order', async (t) => {
  const counter = await client.with({ actor: true }).submit(Counter).result();
  const results = await Promise.all(Array.from({ length: 50 }, () => counter.increment()));
  t.same(results, Array.from({ length: 50 }, (_, i) => i + 1));
});

t.test('an actor handle works inside a task and in another client', async (t) => {
  const counter = await client.with({ actor: true }).submit(Counter).result();
  const useIt = async (c: { increment(by: number): Promise<number> }): Promise<number> => {
    await c.increment(1);
    return c.increment(100);
  };
  t.equal(await client.submit(useIt, counter).result({ timeout: 10000 }), 101, 'proxy passed as a task argument');
  const future = client.with({ actor: true }).submit(Counter, 5);
  const viaFuture = async (c: { increment(by: number): Promise<number> }): Promise<number> => c.increment(1);
  t.equal(await client.submit(viaFuture, future).result({ timeout: 10000 }), 6, 'the actor future as a dependency');
  const other = await Client.connect(cluster);
  t.teardown(() => other.close());
  await new Variable('actor-handle', { client }).set(counter);
  const there = (await new Variable('actor-handle', { client: other }).get()) as Actor<Counter>;
  t.equal(await there.increment(1), 102, 'the same instance, reached from another client');
});

t.test('dropping every reference frees the instance on its worker', async (t) => {
  let future: ReturnType<typeof submitCounter> | undefined = submitCounter();
  let counter: Actor<Counter> | undefined = await future.result();
  t.equal(await counter.increment(), 1);
  const ref = actorHandle(counter)!;
  const holder = cluster.workers.find((worker) => worker.address === ref.address)!;
  t.ok(holder.state.data.has(ref.key));
  future.release();
  future = undefined;
  t.equal(await counter.increment(), 2, 'the proxy alone keeps the instance alive');
  counter = undefined;
  const freed = await eventually(() => {
    gc();
    return !holder.state.data.has(ref.key);
  });
  t.ok(freed, 'the worker dropped it once nothing referred to it');
  await t.rejects(actorProxy<Counter>(ref).increment(), ActorWorkerLostError, 'calls on a stale handle reject clearly');
});

function submitCounter() {
  return client.with({ actor: true }).submit(Counter);
}

t.test('calls after the holding worker closes reject with ActorWorkerLostError', async (t) => {
  const small = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  const smallClient = await Client.connect(small);
  t.teardown(async () => {
    await smallClient.close();
    await small.close();
  });
  const counter = await smallClient.with({ actor: true }).submit(Counter).result();
  t.equal(await counter.increment(), 1);
  const holder = small.workers.find((worker) => worker.address === actorHandle(counter)!.address)!;
  await holder.close();
  await t.rejects(counter.increment(), { name: 'ActorWorkerLostError', message: /worker holding actor .* was lost/ });
  await t.rejects(Promise.resolve(counter.n), ActorWorkerLostError);
});

t.test('actor handles encode and decode as values; method names come from the class chain', async (t) => {
  class Base {
    base(): number {
      return 1;
    }
  }
  class Derived extends Base {
    field = (): number => 2;
    own(): number {
      return 3;
    }
  }
  t.same(methodNames(new Derived()).sort(), ['base', 'field', 'own']);
  const ref = new ActorRef('k-1', 'inproc://nowhere/1', 'Derived', ['own']);
  const decoded = decodeValue(encodeValue({ handle: ref })) as { handle: unknown };
  t.same(actorHandle(decoded.handle), ref, 'decodes as a proxy over the same handle');
  t.equal((decoded.handle as { then?: unknown }).then, undefined, 'a proxy is not thenable');
  t.ok('own' in (decoded.handle as object));
  t.same(actorHandle(decodeValue(encodeValue(decoded.handle))), ref, 'a proxy encodes as its handle');
  await t.rejects((decoded.handle as Actor<Derived>).own(), ActorWorkerLostError, 'an unreachable worker is a lost worker');
  t.throws(() => decodeValue(encodeValue(new ActorRef('k', 'a', 'C', ['m'])).map((b, i) => (i === 3 ? 0xc0 : b))));
});

t.test('an actor class that fails to construct errs its future', async (t) => {
  class Broken {
    constructor() {
      throw new Error('no way');
    }
  }
  await t.rejects(client.with({ actor: true }).submit(Broken).result(), { message: 'no way' });
});
