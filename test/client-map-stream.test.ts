import t from 'tap';
import { setImmediate as turn } from 'node:timers/promises';
import { Client } from '../dist/lib/client/client.js';
import type { Future } from '../dist/lib/client/future.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { READ_AHEAD_HIGH_WATER, ReadAhead } from '../dist/lib/client/read-ahead.js';

const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 4 });
const client = await Client.connect(cluster);
// Start the pool's threads before anything observes overlap.
await client.gather(client.map((x: number) => x, [1, 2, 3, 4, 5, 6, 7, 8]));
t.teardown(async () => {
  await client.close();
  await cluster.close();
});

/** A task that sleeps and reports when it ran (wall-clock milliseconds, same clock in every thread). */
async function span(i: number, ms: number): Promise<[number, number, number]> {
  const start = Date.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return [i, start, Date.now()];
}

async function* arriving<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) {
    await turn();
    yield item;
  }
}

/** How many of the spans overlap another one. */
function overlapping(spans: ReadonlyArray<[number, number, number]>): number {
  return spans.filter(([i, start, end]) => spans.some(([j, s, e]) => j !== i && s < end && start < e)).length;
}

t.test('gather over map of a stream: the tasks run side by side', async (t) => {
  const spans: Array<[number, number, number]> = [];
  const source = arriving([0, 1, 2, 3, 4, 5, 6, 7]);
  const ms = Array.from({ length: 8 }, () => 200);
  for await (const value of client.gather(client.map(span, source, ms))) spans.push(value as [number, number, number]);
  t.same(spans.map(([i]) => i), [0, 1, 2, 3, 4, 5, 6, 7], 'in order');
  // One at a time, none would overlap; side by side, at least one pair does however busy the machine is.
  t.ok(overlapping(spans) >= 2, `tasks overlapped (${overlapping(spans)} of 8 ran beside another)`);
});

t.test('a consumer that awaits each result before taking the next still gets overlap', async (t) => {
  const spans: Array<[number, number, number]> = [];
  for await (const future of client.map(span, arriving([10, 11, 12, 13]), [200, 200, 200, 200])) {
    spans.push(await future.result());
  }
  t.same(spans.map(([i]) => i), [10, 11, 12, 13]);
  t.ok(overlapping(spans) >= 2, `tasks overlapped (${overlapping(spans)} of 4 ran beside another)`);
});

t.test('back-pressure: a consumer that takes nothing stops the reading', async (t) => {
  let read = 0;
  let closed = false;
  let reached: () => void;
  const full = new Promise<void>((resolve) => (reached = resolve));
  async function* endless(): AsyncGenerator<number> {
    try {
      for (let i = 0; ; i++) {
        read++;
        if (read === READ_AHEAD_HIGH_WATER + 1) reached();
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  const inc = (x: number): number => x + 1;
  const futures = client.map(inc, endless())[Symbol.asyncIterator]();
  const first = await futures.next();
  t.equal(await (first.value as Future<number>).result(), 1);
  await full;
  for (let i = 0; i < 50; i++) await turn();
  t.equal(read, READ_AHEAD_HIGH_WATER + 1, 'one taken plus the high-water mark waiting, and no more');
  const second = await futures.next();
  t.equal(await (second.value as Future<number>).result(), 2);
  for (let i = 0; i < 50; i++) await turn();
  t.equal(read, READ_AHEAD_HIGH_WATER + 2, 'taking one lets one more be read');
  await futures.return!();
  t.ok(closed, 'ending early closes the source');
});

t.test('an error from the source comes after the futures made before it', async (t) => {
  async function* failing(): AsyncGenerator<number> {
    yield 1;
    yield 2;
    throw new Error('the source broke');
  }
  const seen: number[] = [];
  await t.rejects(
    (async () => {
      for await (const value of client.gather(client.map((x: number) => x * 10, failing()))) seen.push(value as number);
    })(),
    /the source broke/,
  );
  t.same(seen, [10, 20]);
});

t.test('ReadAhead on its own: outputs in order, several next() calls at once, untaken outputs discarded', async (t) => {
  const discarded: number[][] = [];
  async function* five(): AsyncGenerator<number> {
    for (let i = 0; i < 5; i++) yield i;
  }
  const ahead = new ReadAhead(five(), (x: number) => x * 2, { highWater: 2, discard: (items) => discarded.push(items) });
  const [a, b] = await Promise.all([ahead.next(), ahead.next()]);
  t.same([a.value, b.value], [0, 2]);
  for (let i = 0; i < 10; i++) await turn();
  t.equal(ahead.read, 4, 'two taken, two waiting');
  t.equal(ahead.waiting, 2);
  await ahead.return();
  t.same(discarded, [[4, 6]]);
  t.same(await ahead.next(), { value: undefined, done: true });

  const all: number[] = [];
  for await (const x of new ReadAhead(five(), (x: number) => x + 100, { highWater: 1 })) all.push(x);
  t.same(all, [100, 101, 102, 103, 104]);
});
