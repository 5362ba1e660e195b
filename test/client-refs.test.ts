import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Client } from '../dist/index.js';
import { fireAndForget } from '../dist/lib/client/fire-and-forget.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { CommClosedError } from '../dist/lib/errors.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2 });
const client = await Client.connect(cluster);
const folder = mkdtempSync(join(tmpdir(), 'client-refs-'));
t.teardown(async () => {
  await client.close();
  await cluster.close();
  rmSync(folder, { recursive: true, force: true });
});

const inc = (x: number): number => x + 1;

/** Polls `check` every 10 ms until it is true; false if it never is within `ms`. */
async function eventually(check: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

async function held(key: string): Promise<boolean> {
  const whoHas = await client.whoHas();
  return (whoHas[key]?.length ?? 0) > 0;
}

t.test('same pure call, same key, one computation; data lives until both futures are released', async (t) => {
  const a = client.submit(inc, 100);
  const b = client.submit(inc, 100);
  t.equal(a.key, b.key);
  t.equal(await a.result(), 101);
  t.equal(await b.result(), 101);
  t.ok(await held(a.key), 'in memory on a worker');
  a.release();
  a.release();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(await held(a.key), 'still held while b lives');
  b[Symbol.dispose]();
  t.ok(await eventually(async () => !(await held(a.key))), 'released once the last future is gone');
  t.ok(a.released);
});

t.test('a map whose rows repeat each other or a held key shares their records', async (t) => {
  const single = client.submit(inc, 7);
  const futures = client.map(inc, [7, 8, 8, 9]);
  t.equal(futures[0]!.key, single.key, 'a row already held');
  t.equal(futures[1]!.key, futures[2]!.key, 'two equal rows');
  t.not(futures[1]!.key, futures[3]!.key);
  t.same(await client.gather(futures), [8, 9, 9, 10]);
  t.equal(await single.result(), 8);
  single.release();
  futures[1]!.release();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(await held(single.key), 'still held by the map row');
  t.ok(await held(futures[2]!.key), 'still held by the other equal row');
  for (const future of futures) future.release();
  t.ok(await eventually(async () => !(await held(single.key)) && !(await held(futures[2]!.key))), 'released with the last future of each key');
});

t.test('a released key is computed again when submitted again', async (t) => {
  const marker = join(folder, 'runs.txt');
  const count = async (path: string): Promise<number> => {
    const fs = await import('node:fs/promises');
    await fs.appendFile(path, 'x');
    return (await fs.readFile(path, 'utf8')).length;
  };
  const first = client.submit(count, marker);
  t.equal(await first.result(), 1);
  const key = first.key;
  first.release();
  t.ok(await eventually(async () => !(await held(key))), 'forgotten');
  const second = client.submit(count, marker);
  t.equal(second.key, key);
  t.equal(await second.result(), 2, 'ran again');
  second.release();
});

t.test('a future reclaimed by the garbage collector releases its key', async (t) => {
  let key = '';
  await (async () => {
    const future = client.submit(inc, 5000);
    key = future.key;
    t.equal(await future.result(), 5001);
  })();
  t.ok(await held(key));
  const released = await eventually(async () => {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    return !(await held(key));
  });
  t.ok(released, 'released after gc');
});

t.test('a long map dropped without release: every key is released once its futures are collected', async (t) => {
  const n = 3 * 4096 + 100; // the collected queue's chunks are 4,096 records
  let keys: string[] = [];
  await (async () => {
    const futures = client.map(inc, Array.from({ length: n }, (_, i) => 900_000 + i));
    t.equal((await client.gather(futures)).length, n);
    keys = futures.map((future) => future.key);
  })();
  const stillHeld = async (): Promise<number> => {
    const whoHas = await client.whoHas();
    return keys.filter((key) => (whoHas[key]?.length ?? 0) > 0).length;
  };
  t.equal(await stillHeld(), n, 'all held while the futures may live');
  const released = await eventually(async () => {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    return (await stillHeld()) === 0;
  }, 20_000);
  t.ok(released, `released after collection (${await stillHeld()} of ${n} still held)`);
});

/** Runs full collections until `ref` is emptied, then lets finalization callbacks run; false if it never empties. */
async function collectedAway(ref: WeakRef<object>): Promise<boolean> {
  const gone = await eventually(async () => {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    return ref.deref() === undefined;
  });
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return gone;
}

t.test('a future released by hand and then reclaimed does not release what its sibling still holds', async (t) => {
  const b = client.submit(inc, 7000);
  let ref: WeakRef<object> | undefined;
  await (async () => {
    const a = client.submit(inc, 7000);
    t.equal(a.key, b.key);
    t.equal(await a.result(), 7001);
    a.release();
    ref = new WeakRef(a);
  })();
  t.ok(await collectedAway(ref!), 'the released future was reclaimed');
  t.ok(await held(b.key), 'the key is still held: the released future counted once, at release()');
  t.equal(await b.result(), 7001);
  b.release();
  t.ok(await eventually(async () => !(await held(b.key))), 'released with its last future');
});

t.test('a sibling reclaimed while a future released by hand is still referenced releases the key', async (t) => {
  const kept = client.submit(inc, 8000);
  const key = kept.key;
  t.equal(await kept.result(), 8001);
  let ref: WeakRef<object> | undefined;
  await (async () => {
    const sibling = client.submit(inc, 8000);
    t.equal(await sibling.result(), 8001);
    ref = new WeakRef(sibling);
  })();
  kept.release();
  t.ok(await held(key), 'the sibling still holds the key');
  t.ok(await collectedAway(ref!), 'the sibling was reclaimed');
  t.ok(await eventually(async () => !(await held(key))), 'its reclamation released the key, though the released future is still referenced');
  t.ok(kept.released);
});

t.test('fireAndForget runs tasks nobody holds a future for', async (t) => {
  const path = join(folder, 'fired.txt');
  const write = async (p: string): Promise<string> => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fs = await import('node:fs/promises');
    await fs.writeFile(p, 'done');
    return p;
  };
  const future = client.submit(write, path);
  const key = future.key;
  fireAndForget(future);
  future.release();
  t.ok(await eventually(() => existsSync(path)), 'the side effect happened');
  t.ok(await eventually(async () => !(await held(key))), 'and the scheduler forgot the result afterwards');
});

t.test('retry runs an erred task again', async (t) => {
  const marker = join(folder, 'flaky.txt');
  const flaky = async (path: string): Promise<string> => {
    const fs = await import('node:fs');
    if (!fs.existsSync(path)) {
      fs.writeFileSync(path, 'tried');
      throw new Error('first attempt fails');
    }
    return 'second attempt works';
  };
  const future = client.submit(flaky, marker);
  await t.rejects(future.result(), { message: 'first attempt fails' });
  const dependent = client.submit((s: string) => s.toUpperCase(), future);
  await t.rejects(dependent.result(), { message: 'first attempt fails' });
  await client.retry([dependent]);
  t.equal(await dependent.result(), 'SECOND ATTEMPT WORKS');
  t.equal(await future.result(), 'second attempt works');
});

t.test('closing a client fails what is still waiting, and it can no longer submit', async (t) => {
  const other = await Client.connect(cluster.schedulerAddress);
  const slow = other.with({ pure: false }).submit(async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    return 1;
  });
  const waiting = t.rejects(slow.result(), CommClosedError);
  await other.close();
  await waiting;
  t.equal(other.status, 'closed');
  t.throws(() => other.submit(inc, 1), CommClosedError);
  await other.close();
  t.equal(await client.submit(inc, 1).result(), 2, 'the first client is unaffected');
});
