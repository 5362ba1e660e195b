import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { BatchPort, compactBatch, serveBatches, transferListOf, TRANSFER_MIN_BYTES } from '../dist/lib/worker/batch-port.js';
import type { TaskOutcome, TaskToRun } from '../dist/lib/worker/execute.js';
import { ThreadPool } from '../dist/lib/worker/pool.js';
import { toFunctionRef } from '../dist/lib/task-function.js';
import { encodeValue, decodeValue } from '../dist/lib/protocol/values.js';
import { CommClosedError } from '../dist/lib/errors.js';

function task(key: string, fn: Function, args: unknown[] = []): TaskToRun {
  return { key, runSpec: { fn: toFunctionRef(fn), args: encodeValue(args) }, deps: {} };
}

function valueOf(outcome: TaskOutcome): unknown {
  if (!outcome.ok) throw new Error(`task ${outcome.key} failed: ${outcome.error.message}`);
  return decodeValue(outcome.value);
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function channel(t: Tap.Test) {
  const { port1, port2 } = new MessageChannel();
  serveBatches(port2);
  const port = new BatchPort(port1, 0);
  t.teardown(() => { port1.close(); port2.close(); });
  return { port, threadSide: port2 };
}

t.test('batches run on the serving end; a slow batch does not hold up a quick one', async (t) => {
  const { port } = channel(t);
  const slow = port.run([task('slow', () => new Promise((resolve) => setTimeout(() => resolve('slow'), 100)))]);
  const quick = port.run([task('a', (x: number) => x + 1, [1]), task('b', () => { throw new TypeError('no'); })]);
  t.equal(port.inFlight, 2);
  const order: string[] = [];
  const [slowOutcomes, quickOutcomes] = await Promise.all([
    slow.then((o) => { order.push('slow'); return o; }),
    quick.then((o) => { order.push('quick'); return o; }),
  ]);
  t.same(order, ['quick', 'slow']);
  t.equal(valueOf(quickOutcomes[0]!), 2);
  t.match(quickOutcomes[1], { ok: false, error: { name: 'TypeError', message: 'no' } });
  t.equal(valueOf(slowOutcomes[0]!), 'slow');
  t.equal(port.inFlight, 0);
});

t.test('fail() rejects the batches out and every later one', async (t) => {
  const { port } = channel(t);
  const out = port.run([task('never', () => new Promise(() => undefined))]);
  port.fail(new Error('thread died'));
  await t.rejects(out, { message: 'thread died' });
  await t.rejects(port.run([task('later', () => 1)]), { message: 'thread died' });
  t.equal(port.usable, false);
});

t.test('a closed port refuses new batches and fails the ones out after a grace period', async (t) => {
  const { port, threadSide } = channel(t);
  const out = port.run([task('never', () => new Promise(() => undefined))]);
  threadSide.close();
  await until(() => !port.usable, 2000, 'the port notices the close');
  await t.rejects(port.run([task('later', () => 1)]), CommClosedError);
  await t.rejects(out, CommClosedError);
});

t.test('transferListOf transfers large results, each from a buffer of its own, once', async (t) => {
  const slab = new Uint8Array(TRANSFER_MIN_BYTES * 3);
  const shared = new Uint8Array(new SharedArrayBuffer(TRANSFER_MIN_BYTES));
  const own = new Uint8Array(TRANSFER_MIN_BYTES);
  const smallSlab = new Uint8Array(64);
  const small = new Uint8Array(4);
  const outcomes: TaskOutcome[] = [
    { key: 'slice', ok: true, value: slab.subarray(8, 8 + TRANSFER_MIN_BYTES), type: 'x', nbytes: TRANSFER_MIN_BYTES, duration: 0 },
    { key: 'own', ok: true, value: own, type: 'x', nbytes: TRANSFER_MIN_BYTES, duration: 0 },
    { key: 'again', ok: true, value: own, type: 'x', nbytes: TRANSFER_MIN_BYTES, duration: 0 },
    { key: 'shared', ok: true, value: shared, type: 'x', nbytes: TRANSFER_MIN_BYTES, duration: 0 },
    { key: 'err', ok: false, error: { name: 'Error', message: 'x' } as never, duration: 0 },
    { key: 'small', ok: true, value: small, type: 'x', nbytes: 4, duration: 0 },
    { key: 'small-slice', ok: true, value: smallSlab.subarray(8, 16), type: 'x', nbytes: 8, duration: 0 },
  ];
  const buffers = transferListOf(outcomes);
  t.equal(buffers.length, 3);
  t.not((outcomes[0] as { value: Uint8Array }).value.buffer, slab.buffer, 'a view into a slab is copied');
  t.equal(buffers[1], own.buffer, 'an owned buffer travels as is');
  t.not((outcomes[2] as { value: Uint8Array }).value.buffer, own.buffer, 'the same buffer twice is copied once');
  t.equal((outcomes[3] as { value: Uint8Array }).value, shared, 'shared memory needs no transfer');
  t.notOk(buffers.includes(small.buffer), 'a small result is cloned, not transferred');
  t.equal((outcomes[5] as { value: Uint8Array }).value, small, 'a small owned result is left as it is');
  const smallCopy = (outcomes[6] as { value: Uint8Array }).value;
  t.equal(smallCopy.buffer.byteLength, 8, 'a small view gets a buffer of its own (a clone would copy the whole slab)');
});

t.test('ThreadPool: threads open batch ports; a dying thread fails its batch and is replaced', async (t) => {
  const pool = new ThreadPool(2, { entry: new URL('../dist/actors/worker-thread.js', import.meta.url).href });
  t.teardown(() => pool.destroy());
  // Sent before the threads are up: travels through piscina.
  t.equal(valueOf((await pool.run([task('early', (x: number) => x * 2, [21])]))[0]!), 42);
  await until(() => pool.batchPorts === 2, 10_000, 'both threads opened their ports');
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.run([task(`t${i}`, (x: number) => x + 1, [i])])));
  t.same(results.map((outcomes) => valueOf(outcomes[0]!)), [1, 2, 3, 4, 5, 6, 7, 8]);
  await t.rejects(pool.run([task('exit', () => process.exit(7))]), { name: 'ThreadExitedError', message: /exited with code: 7/ });
  await until(() => pool.batchPorts === 2 && pool.threadCount === 2, 10_000, 'the replacement thread opened its port');
  t.equal(valueOf((await pool.run([task('after', () => 'alive')]))[0]!), 'alive');
  const running = pool.run([task('hang', () => new Promise(() => undefined))]);
  running.catch(() => undefined);
  await pool.destroy();
  await t.rejects(running, 'destroying the pool rejects a running batch');
});

t.test('small arguments and dependency values that are views into a larger buffer travel in buffers of their own size', async (t) => {
  const { port, threadSide } = channel(t);
  // As the wire decoder leaves them: views into one pooled slab.
  const slab = new Uint8Array(8192);
  const args = encodeValue([20, 22]);
  slab.set(args, 100);
  const dep = encodeValue(7);
  slab.set(dep, 300);
  const viewed: TaskToRun = {
    key: 'sum',
    runSpec: { fn: toFunctionRef((a: number, b: number) => a + b), args: slab.subarray(100, 100 + args.byteLength) },
    deps: { d: slab.subarray(300, 300 + dep.byteLength) },
  };
  const seen: number[] = [];
  threadSide.on('message', (request: { batch: TaskToRun[] }) => {
    seen.push(request.batch[0]!.runSpec.args.buffer.byteLength, request.batch[0]!.deps.d!.buffer.byteLength);
  });
  const outcomes = await port.run([viewed]);
  t.equal(valueOf(outcomes[0]!), 42, 'the task still computes from the copied bytes');
  t.same(seen, [args.byteLength, dep.byteLength], 'the thread received buffers of the values\' own size, not the 8 KiB slab');
  t.equal(viewed.runSpec.args.buffer.byteLength, 8192, "the caller's task is left as it was");

  const own = task('own', (x: number) => x, [1]);
  const shared = new Uint8Array(new SharedArrayBuffer(4096), 0, 4);
  const large = slab.subarray(0, TRANSFER_MIN_BYTES > 8192 ? 4096 : 8192);
  const batch = [own, { key: 's', runSpec: { fn: own.runSpec.fn, args: shared }, deps: { big: large } }];
  t.equal(compactBatch([own]).length, 1);
  t.equal(compactBatch([own])[0], own, 'a task already in buffers of its own is posted as it is');
  const compacted = compactBatch(batch);
  t.equal(compacted[1]!.runSpec.args, shared, 'shared memory is not copied');
  t.equal(compacted[1]!.deps.big, large, 'a view covering most of its buffer is not copied');
});
