import t from 'tap';
import { Writable } from 'node:stream';
import { Client, Event } from '../dist/index.js';
import { asCompleted } from '../dist/lib/client/as-completed.js';
import type { Future } from '../dist/lib/client/future.js';
import { progress } from '../dist/lib/client/progress.js';
import { wait } from '../dist/lib/client/wait.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { TimeoutError } from '../dist/lib/errors.js';

const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2 });
const client = await Client.connect(cluster);
t.teardown(async () => {
  await client.close();
  await cluster.close();
});

const sleepy = async (ms: number): Promise<number> => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
};
const inc = (x: number): number => x + 1;
// Finishes only once the cluster-wide Event `gate` is set: completion order is
// decided by the test, not by timers racing a loaded machine.
const gated = async (gate: string, value: number): Promise<number> => {
  const dts = await import('distributed-ts');
  await new dts.Event(gate).wait();
  return value;
};
const open = (gate: string): Promise<void> => new Event(gate, { client }).set();

t.test('wait: all, first completed, timeout', async (t) => {
  const fast = client.submit(sleepy, 10);
  const slow = client.submit(gated, 'wait-slow', 400);
  const first = await wait([fast, slow], { returnWhen: 'FIRST_COMPLETED' });
  t.ok(first.done.has(fast));
  t.ok(first.notDone.has(slow));
  await t.rejects(wait([slow], { timeout: '20ms' }), TimeoutError);
  await open('wait-slow');
  const all = await wait([fast, slow]);
  t.equal(all.done.size, 2);
  t.equal(all.notDone.size, 0);
  const failing = client.submit((): never => {
    throw new Error('x');
  });
  const withError = await wait(failing);
  t.ok(withError.done.has(failing), 'an erred future counts as done');
  await t.rejects(wait([fast], { returnWhen: 'SOMETIMES' as never }), TypeError);
});

t.test('asCompleted yields in completion order and accepts additions while iterating', async (t) => {
  const futures = [client.submit(gated, 'order-150', 150), client.submit(sleepy, 20)];
  const seen: number[] = [];
  const sequence = asCompleted(futures);
  t.equal(sequence.count(), 2);
  let added = false;
  for await (const future of sequence) {
    const value = await future.result();
    seen.push(value);
    if (!added) {
      added = true;
      sequence.add(client.submit(gated, 'order-60', 60));
      sequence.add(futures[1]!);
    } else if (seen.length === 2) {
      await open('order-60');
    } else if (value === 60) {
      await open('order-150');
    }
  }
  t.same(seen, [20, 20, 60, 150], 'a future added twice comes twice');
  t.ok(sequence.isEmpty());
});

t.test('asCompleted with results, errors and batches', async (t) => {
  const good = client.submit(sleepy, 5);
  const pairs: Array<[Future<number>, number]> = [];
  for await (const pair of asCompleted([good], { withResults: true })) pairs.push(pair);
  t.same(pairs.map(([, value]) => value), [5]);
  t.equal(pairs[0]![0], good);

  const bad = client.submit((): number => {
    throw new Error('bad apple');
  });
  await t.rejects(
    (async () => {
      for await (const pair of asCompleted([bad], { withResults: true })) void pair;
    })(),
    { message: 'bad apple' },
  );
  const tolerant: unknown[] = [];
  for await (const [, value] of asCompleted([bad], { withResults: true, raiseErrors: false })) tolerant.push(value);
  t.match(tolerant[0], { message: 'bad apple' });

  const many = client.map(inc, [1, 2, 3, 4, 5, 6]);
  await wait(many);
  const batches: number[] = [];
  for await (const batch of asCompleted(many).batches()) batches.push(batch.length);
  t.same(batches, [6], 'already finished futures come in one batch');
});

t.test('progress draws a bar and resolves when everything is done', async (t) => {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    { isTTY: true },
  );
  const futures = client.map(sleepy, [50, 120, 200]);
  await progress(futures, { stream, width: 10 });
  t.ok(futures.every((future) => future.done()));
  const output = chunks.join('');
  t.match(output, /\r\[##########\] \| 100% Completed \| 3\/3 \| \d+\.\ds\n$/);
  t.ok(chunks.length >= 2, 'redrawn as it goes');

  const plain: string[] = [];
  const file = new Writable({
    write(chunk: Buffer, _encoding, done) {
      plain.push(chunk.toString());
      done();
    },
  });
  await progress(client.map(sleepy, [30, 31]), { stream: file });
  t.notOk(plain.join('').includes('\r'), 'no carriage returns off a terminal');
  t.match(plain[plain.length - 1], /100% Completed/);
});

t.test('addDoneCallback runs once the future is done', async (t) => {
  const future = client.submit(sleepy, 30);
  const calls: string[] = [];
  await new Promise<void>((resolve) => {
    future.addDoneCallback((f) => {
      calls.push(f.status);
      resolve();
    });
  });
  t.same(calls, ['finished']);
  let synchronous = true;
  const later = new Promise<boolean>((resolve) => future.addDoneCallback(() => resolve(synchronous)));
  synchronous = false;
  t.equal(await later, false, 'also for a future that is already done, asynchronously');
});
